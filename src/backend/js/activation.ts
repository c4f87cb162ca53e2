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
