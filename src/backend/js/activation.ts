// ReLU, LeakyReLU and PReLU in plain TypeScript: the reference the native kernels are tested
// against, and the fallback when the addon cannot load. Same conventions as liven-core's
// activation.rs (PyTorch's: the ReLU gradient at 0 is 0, PReLU's slope applies where x <= 0).

export function reluForward(x: Float32Array, y: Float32Array): void {
  // (v + |v|) / 2 is exactly max(0, v) for finite v, and has no branch on the sign: V8
  // compiles Math.max and `? :` to branches, which mispredict on pre-activations of random
  // sign (4x slower, measured). It gives NaN for -Infinity (and NaN for NaN, as PyTorch does);
  // that rare case takes the well-predicted second branch.
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const r = (v + Math.abs(v)) * 0.5;
    y[i] = r === r || v !== v ? r : 0;
  }
}

export function reluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) dx[i] = x[i]! <= 0 ? 0 : dy[i]!;
}

export function leakyReluForward(x: Float32Array, y: Float32Array, negativeSlope: number): void {
  const slope = Math.fround(negativeSlope);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = v > 0 ? v : v * slope;
  }
}

export function leakyReluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, negativeSlope: number): void {
  const slope = Math.fround(negativeSlope);
  for (let i = 0; i < x.length; i++) dx[i] = x[i]! > 0 ? dy[i]! : dy[i]! * slope;
}

/** Calls `f(slope, start, end)` for each run of elements that share one slope. */
function forEachSlopeRun(length: number, weight: Float32Array, inner: number, f: (slope: number, channel: number, start: number, end: number) => void): void {
  if (weight.length === 1) {
    f(weight[0]!, 0, 0, length);
    return;
  }
  for (let start = 0, plane = 0; start < length; start += inner, plane++) {
    const c = plane % weight.length;
    f(weight[c]!, c, start, start + inner);
  }
}

export function preluForward(x: Float32Array, weight: Float32Array, y: Float32Array, inner: number): void {
  forEachSlopeRun(x.length, weight, inner, (slope, _c, start, end) => {
    for (let i = start; i < end; i++) {
      const v = x[i]!;
      y[i] = v > 0 ? v : v * slope;
    }
  });
}

export function preluBackward(x: Float32Array, weight: Float32Array, dy: Float32Array, dx: Float32Array, dweight: Float32Array, inner: number): void {
  const sums = new Float64Array(weight.length);
  forEachSlopeRun(x.length, weight, inner, (slope, c, start, end) => {
    let sum = 0;
    for (let i = start; i < end; i++) {
      const v = x[i]!;
      const g = dy[i]!;
      if (v > 0) {
        dx[i] = g;
      } else {
        dx[i] = g * slope;
        sum += v * g;
      }
    }
    sums[c]! += sum;
  });
  for (let c = 0; c < weight.length; c++) dweight[c]! += sums[c]!;
}

export function copy(x: Float32Array, y: Float32Array): void {
  y.set(x);
}

// The smooth and bounded activations. Computed in float64 with Math's functions and rounded
// once on the store, so these are the accurate side of the native-vs-JS comparisons; the
// conventions at the kinks, ±∞ and NaN are liven-core's (PyTorch's), see smooth.rs there.

/** Shared by ELU (alpha, 1, 1), CELU (alpha, 1, 1/alpha) and SELU (α, λ, 1). */
export function eluForward(x: Float32Array, y: Float32Array, alpha: number, scale: number, inputScale: number): void {
  const a = Math.fround(alpha);
  const s = Math.fround(scale);
  const is = Math.fround(inputScale);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = v <= 0 ? Math.expm1(v * is) * a * s : v * s;
  }
}

export function eluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, alpha: number, scale: number, inputScale: number): void {
  const a = Math.fround(alpha);
  const s = Math.fround(scale);
  const is = Math.fround(inputScale);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    dx[i] = v > 0 ? dy[i]! * s : dy[i]! * is * a * s * Math.exp(v * is);
  }
}

/**
 * erfc(z) for z >= 0 within 1.2e-7 relative (Press et al., Numerical Recipes §6.2), keeping its
 * relative accuracy in the tail; enough for float32 results.
 */
function erfcNonnegative(z: number): number {
  const t = 1 / (1 + 0.5 * z);
  const p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * Math.exp(Math.min(p - z * z, 0));
}

/** The standard normal CDF, from erfc on both sides (no cancellation in the left tail). */
function normalCdf(x: number): number {
  const halfTail = 0.5 * erfcNonnegative(Math.abs(x) * Math.SQRT1_2);
  return x < 0 ? halfTail : 1 - halfTail;
}

const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/** σ(v) for any v without overflow. */
function sigmoid(v: number): number {
  const e = Math.exp(-Math.abs(v));
  return v >= 0 ? 1 / (1 + e) : v < 0 ? e / (1 + e) : v;
}

/** `approximate`: false for erf's exact form, true for PyTorch's `'tanh'`. */
export function geluForward(x: Float32Array, y: Float32Array, tanh: boolean): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    // 0.5·(1 + tanh(u)) = σ(2u).
    y[i] = tanh ? v * sigmoid(2 * GELU_K * (v + GELU_C * v * v * v)) : v * normalCdf(v);
  }
}

export function geluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, tanh: boolean): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    let d: number;
    if (tanh) {
      const s = sigmoid(2 * GELU_K * (v + GELU_C * v * v * v));
      const c = sigmoid(-2 * GELU_K * (v + GELU_C * v * v * v));
      d = s + v * 2 * s * c * GELU_K * (1 + 3 * GELU_C * v * v);
    } else {
      d = normalCdf(v) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI);
    }
    dx[i] = dy[i]! * d;
  }
}

export function siluForward(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) y[i] = x[i]! * sigmoid(x[i]!);
}

export function siluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    dx[i] = dy[i]! * sigmoid(v) * (1 + v * sigmoid(-v));
  }
}

/** tanh(softplus(v)) and its complement, as liven-core's `tanh_softplus` (no overflow, no cancellation). */
function tanhSoftplus(v: number): [number, number] {
  const e = Math.exp(-Math.abs(v));
  if (v > 0) {
    const d = 1 + 2 * e + 2 * e * e;
    return [(1 + 2 * e) / d, (2 * e * e) / d];
  }
  if (v <= 0) {
    const n = e * (e + 2);
    return [n / (n + 2), 2 / (n + 2)];
  }
  return [v, v];
}

export function mishForward(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) y[i] = x[i]! * tanhSoftplus(x[i]!)[0];
}

export function mishBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    const [t, c] = tanhSoftplus(v);
    dx[i] = dy[i]! * (t + v * sigmoid(v) * (c * (1 + t)));
  }
}

export function sigmoidForward(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) y[i] = sigmoid(x[i]!);
}

export function sigmoidBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) dx[i] = dy[i]! * sigmoid(x[i]!) * sigmoid(-x[i]!);
}

export function tanhForward(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) y[i] = Math.tanh(x[i]!);
}

export function tanhBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    // 1 - tanh²(v) = 1 / cosh²(v), without cancellation where tanh rounds to ±1.
    const c = Math.cosh(x[i]!);
    dx[i] = dy[i]! / (c * c);
  }
}

/** Linear where the float32 product `β·x` exceeds `threshold`, as PyTorch. */
export function softplusForward(x: Float32Array, y: Float32Array, beta: number, threshold: number): void {
  const b = Math.fround(beta);
  const th = Math.fround(threshold);
  for (let i = 0; i < x.length; i++) {
    const z = Math.fround(x[i]! * b);
    y[i] = z > th ? x[i]! : (Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)))) / b;
  }
}

export function softplusBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, beta: number, threshold: number): void {
  const b = Math.fround(beta);
  const th = Math.fround(threshold);
  for (let i = 0; i < x.length; i++) {
    const z = Math.fround(x[i]! * b);
    dx[i] = z > th ? dy[i]! : dy[i]! * sigmoid(z);
  }
}

/** clamp(x, min, max) with NaN passing; ReLU6 is (0, 6). */
export function hardtanhForward(x: Float32Array, y: Float32Array, min: number, max: number): void {
  const lo = Math.fround(min);
  const hi = Math.fround(max);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = v < lo ? lo : v > hi ? hi : v;
  }
}

export function hardtanhBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, min: number, max: number): void {
  const lo = Math.fround(min);
  const hi = Math.fround(max);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    dx[i] = v > lo && v < hi ? dy[i]! : 0;
  }
}

/** min(max(v + 3, 0), 6) with NaN passing, in float32 as liven-core. */
function relu6Shift(v: number): number {
  const s = Math.fround(v + 3);
  return s < 0 ? 0 : s > 6 ? 6 : s;
}

export function hardswishForward(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) y[i] = Math.fround(x[i]! * relu6Shift(x[i]!)) / 6;
}

export function hardswishBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    dx[i] = v < -3 ? 0 : v >= 3 ? dy[i]! : dy[i]! * (v / 3 + 0.5);
  }
}

export function hardsigmoidForward(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) y[i] = relu6Shift(x[i]!) / 6;
}

export function hardsigmoidBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    dx[i] = v > -3 && v < 3 ? dy[i]! / 6 : 0;
  }
}

/** Dropout's forward and backward: `y = x · mask` (mask: 0 or 1/(1-p)); a dropped NaN or ±∞ stays NaN. */
export function dropoutApply(x: Float32Array, mask: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) y[i] = x[i]! * mask[i]!;
}
