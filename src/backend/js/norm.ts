// BatchNorm, GroupNorm, LayerNorm and L2Norm in plain TypeScript: the reference the native
// kernels are tested against. Same layouts and conventions as liven-core's norm.rs: statistics
// in float64 from shifted sums (one read), mean and biased variance stored as float32,
// invstd = 1 / sqrt(var + eps); backward adds into the parameter gradients.

const f32 = Math.fround;

function invstd(v: number, eps: number): number {
  return f32(1 / Math.sqrt(v + eps));
}

/** Mean and biased variance of x[start + k·stride + i] for k < count, i < len, shifted by the first value. */
function moments(x: Float32Array, start: number, len: number, stride: number, count: number): [number, number] {
  const shift = x[start]!;
  let s = 0;
  let q = 0;
  for (let k = 0; k < count; k++) {
    const base = start + k * stride;
    for (let i = base; i < base + len; i++) {
      const d = x[i]! - shift;
      s += d;
      q += d * d;
    }
  }
  const n = len * count;
  const m = s / n;
  return [f32(shift + m), f32(Math.max(q / n - m * m, 0))];
}

export function batchNormForwardTrain(x: Float32Array, weight: Float32Array, bias: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, inner: number, eps: number): void {
  const channels = weight.length;
  const outer = x.length / (channels * inner);
  for (let c = 0; c < channels; c++) {
    const [m, v] = moments(x, c * inner, inner, channels * inner, outer);
    mean[c] = m;
    variance[c] = v;
  }
  batchNormForwardEval(x, weight, bias, mean, variance, y, inner, eps);
}

export function batchNormForwardEval(x: Float32Array, weight: Float32Array, bias: Float32Array, mean: Float32Array, variance: Float32Array, y: Float32Array, inner: number, eps: number): void {
  const channels = weight.length;
  for (let start = 0, plane = 0; start < x.length; start += inner, plane++) {
    const c = plane % channels;
    const m = mean[c]!;
    const scale = f32(invstd(variance[c]!, eps) * weight[c]!);
    const b = bias[c]!;
    for (let i = start; i < start + inner; i++) y[i] = (x[i]! - m) * scale + b;
  }
}

export function batchNormBackward(x: Float32Array, dy: Float32Array, weight: Float32Array, mean: Float32Array, variance: Float32Array, dx: Float32Array, dweight: Float32Array, dbias: Float32Array, inner: number, eps: number, training: boolean): void {
  const channels = weight.length;
  const count = x.length / channels;
  const sums = new Float64Array(2 * channels);
  for (let start = 0, plane = 0; start < x.length; start += inner, plane++) {
    const c = plane % channels;
    const m = mean[c]!;
    let s = 0;
    let q = 0;
    for (let i = start; i < start + inner; i++) {
      s += dy[i]!;
      q += dy[i]! * (x[i]! - m);
    }
    sums[c]! += s;
    sums[channels + c]! += q;
  }
  const coef = new Float64Array(3 * channels);
  for (let c = 0; c < channels; c++) {
    const istd = invstd(variance[c]!, eps);
    const p = f32(istd * weight[c]!);
    coef[3 * c] = p;
    if (training) {
      coef[3 * c + 1] = f32(-p * istd * istd * sums[channels + c]! / count);
      coef[3 * c + 2] = f32(-p * sums[c]! / count);
    }
    dweight[c]! += sums[channels + c]! * istd;
    dbias[c]! += sums[c]!;
  }
  for (let start = 0, plane = 0; start < x.length; start += inner, plane++) {
    const c = plane % channels;
    const m = mean[c]!;
    const p = coef[3 * c]!;
    const q = coef[3 * c + 1]!;
    const r = coef[3 * c + 2]!;
    // In eval dx does not depend on x: (x - m)·0 would make an infinite x's gradient NaN.
    if (training) for (let i = start; i < start + inner; i++) dx[i] = dy[i]! * p + (x[i]! - m) * q + r;
    else for (let i = start; i < start + inner; i++) dx[i] = dy[i]! * p;
  }
}

export function groupNormForward(x: Float32Array, weight: Float32Array, bias: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, groups: number, inner: number, eps: number): void {
  const channels = weight.length;
  const perGroup = channels / groups;
  const rowLen = perGroup * inner;
  for (let row = 0; row * rowLen < x.length; row++) {
    const base = row * rowLen;
    const [m, v] = moments(x, base, rowLen, 0, 1);
    mean[row] = m;
    variance[row] = v;
    const istd = invstd(v, eps);
    for (let j = 0; j < perGroup; j++) {
      const c = (row % groups) * perGroup + j;
      const scale = f32(istd * weight[c]!);
      const b = bias[c]!;
      for (let i = base + j * inner; i < base + (j + 1) * inner; i++) y[i] = (x[i]! - m) * scale + b;
    }
  }
}

export function groupNormBackward(x: Float32Array, dy: Float32Array, weight: Float32Array, mean: Float32Array, variance: Float32Array, dx: Float32Array, dweight: Float32Array, dbias: Float32Array, groups: number, inner: number, eps: number): void {
  const channels = weight.length;
  const perGroup = channels / groups;
  const rowLen = perGroup * inner;
  const dw = new Float64Array(channels);
  const db = new Float64Array(channels);
  for (let row = 0; row * rowLen < x.length; row++) {
    const base = row * rowLen;
    const m = mean[row]!;
    const istd = invstd(variance[row]!, eps);
    const c0 = (row % groups) * perGroup;
    let ds = 0;
    let dsum = 0;
    for (let j = 0; j < perGroup; j++) {
      let s = 0;
      let q = 0;
      for (let i = base + j * inner; i < base + (j + 1) * inner; i++) {
        s += dy[i]!;
        q += dy[i]! * (x[i]! - m);
      }
      ds += weight[c0 + j]! * q;
      dsum += weight[c0 + j]! * s;
      dw[c0 + j]! += q * istd;
      db[c0 + j]! += s;
    }
    // dx = σ⁻¹ w dy - σ⁻¹ mean(w dy) - (x - μ) σ⁻³ mean(w dy (x - μ)).
    const q = f32((-istd * istd * istd * ds) / rowLen);
    const r = f32((-istd * dsum) / rowLen);
    for (let j = 0; j < perGroup; j++) {
      const p = f32(istd * weight[c0 + j]!);
      for (let i = base + j * inner; i < base + (j + 1) * inner; i++) dx[i] = dy[i]! * p + (x[i]! - m) * q + r;
    }
  }
  for (let c = 0; c < channels; c++) {
    dweight[c]! += dw[c]!;
    dbias[c]! += db[c]!;
  }
}

export function layerNormForward(x: Float32Array, weight: Float32Array, bias: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, eps: number): void {
  const d = weight.length;
  for (let row = 0; row * d < x.length; row++) {
    const base = row * d;
    const [m, v] = moments(x, base, d, 0, 1);
    mean[row] = m;
    variance[row] = v;
    const istd = invstd(v, eps);
    for (let i = 0; i < d; i++) y[base + i] = (x[base + i]! - m) * istd * weight[i]! + bias[i]!;
  }
}

export function layerNormBackward(x: Float32Array, dy: Float32Array, weight: Float32Array, mean: Float32Array, variance: Float32Array, dx: Float32Array, dweight: Float32Array, dbias: Float32Array, eps: number): void {
  const d = weight.length;
  const dw = new Float64Array(d);
  const db = new Float64Array(d);
  for (let row = 0; row * d < x.length; row++) {
    const base = row * d;
    const m = mean[row]!;
    const istd = invstd(variance[row]!, eps);
    let s = 0;
    let q = 0;
    for (let i = 0; i < d; i++) {
      const g = dy[base + i]!;
      const xm = x[base + i]! - m;
      s += g * weight[i]!;
      q += g * weight[i]! * xm;
      dw[i]! += g * xm * istd;
      db[i]! += g;
    }
    const a = s / d;
    const b = (istd * istd * q) / d;
    for (let i = 0; i < d; i++) dx[base + i] = (dy[base + i]! * weight[i]! - a - (x[base + i]! - m) * b) * istd;
  }
  for (let i = 0; i < d; i++) {
    dweight[i]! += dw[i]!;
    dbias[i]! += db[i]!;
  }
}

export function l2NormForward(x: Float32Array, weight: Float32Array, y: Float32Array, norm: Float32Array, inner: number, eps: number): void {
  const d = weight.length;
  const epsF = f32(eps);
  for (let o = 0; o * d * inner < x.length; o++) {
    for (let i = 0; i < inner; i++) {
      let sq = 0;
      for (let k = 0; k < d; k++) sq += x[(o * d + k) * inner + i]! ** 2;
      const n = f32(Math.sqrt(sq));
      norm[o * inner + i] = n;
      const inv = 1 / Math.max(n, epsF);
      for (let k = 0; k < d; k++) {
        const j = (o * d + k) * inner + i;
        y[j] = x[j]! * inv * weight[k]!;
      }
    }
  }
}

export function l2NormBackward(x: Float32Array, dy: Float32Array, weight: Float32Array, norm: Float32Array, dx: Float32Array, dweight: Float32Array, inner: number, eps: number): void {
  const d = weight.length;
  const epsF = f32(eps);
  const dw = new Float64Array(d);
  for (let o = 0; o * d * inner < x.length; o++) {
    for (let i = 0; i < inner; i++) {
      const n = norm[o * inner + i]!;
      const inv = 1 / Math.max(n, epsF);
      let s = 0;
      for (let k = 0; k < d; k++) {
        const j = (o * d + k) * inner + i;
        s += weight[k]! * dy[j]! * x[j]!;
        dw[k]! += dy[j]! * x[j]! * inv;
      }
      // d(x/‖x‖) = (dy - x̂ (x̂ · dy)) / ‖x‖; no gradient through the norm where eps clamps it.
      const c = n >= epsF && n > 0 ? s / (n * n * n) : 0;
      for (let k = 0; k < d; k++) {
        const j = (o * d + k) * inner + i;
        dx[j] = weight[k]! * dy[j]! * inv - x[j]! * c;
      }
    }
  }
  for (let k = 0; k < d; k++) dweight[k]! += dw[k]!;
}
