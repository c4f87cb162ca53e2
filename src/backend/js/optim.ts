// Optimiser updates and clipping in plain TypeScript: the same rules as liven-core's optim.rs
// (PyTorch 1.13's single-tensor updates), the reference the native kernels are tested against.
// Arithmetic is float64 per element, rounded to float32 when stored.

export function sgdStep(param: Float32Array, grad: Float32Array, momentumBuffer: Float32Array | null | undefined, lr: number, momentum: number, dampening: number, weightDecay: number, nesterov: boolean, firstStep: boolean): void {
  const wd = Math.fround(weightDecay);
  const negLr = Math.fround(-lr);
  if (momentum === 0 || !momentumBuffer) {
    if (momentum !== 0) throw new Error(`sgdStep: momentum ${momentum} needs a momentumBuffer`);
    for (let i = 0; i < param.length; i++) param[i]! += negLr * (wd === 0 ? grad[i]! : grad[i]! + wd * param[i]!);
    return;
  }
  const mom = Math.fround(momentum);
  const keep = Math.fround(1 - dampening);
  const buf = momentumBuffer;
  for (let i = 0; i < param.length; i++) {
    const d = wd === 0 ? grad[i]! : grad[i]! + wd * param[i]!;
    const b = firstStep ? d : buf[i]! * mom + keep * d;
    buf[i] = b;
    param[i]! += negLr * (nesterov ? d + mom * Math.fround(b) : Math.fround(b));
  }
}

export function adagradStep(param: Float32Array, grad: Float32Array, stateSum: Float32Array, lr: number, lrDecay: number, weightDecay: number, eps: number, step: number): void {
  const negClr = Math.fround(-(lr / (1 + (step - 1) * lrDecay)));
  const wd = Math.fround(weightDecay);
  const e = Math.fround(eps);
  for (let i = 0; i < param.length; i++) {
    const g = wd === 0 ? grad[i]! : grad[i]! + wd * param[i]!;
    const s = Math.fround(stateSum[i]! + g * g);
    stateSum[i] = s;
    param[i]! += negClr * (g / (Math.sqrt(s) + e));
  }
}

export function adamStep(param: Float32Array, grad: Float32Array, expAvg: Float32Array, expAvgSq: Float32Array, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number, decoupled: boolean): void {
  // The per-step scalars in float64, as PyTorch computes them in Python floats.
  const bc1 = 1 - beta1 ** step;
  const bc2Sqrt = Math.fround(Math.sqrt(1 - beta2 ** step));
  const negStepSize = Math.fround(-(lr / bc1));
  const decay = decoupled ? Math.fround(1 - lr * weightDecay) : 1;
  const l2 = decoupled ? 0 : Math.fround(weightDecay);
  const b1 = Math.fround(beta1);
  const b2 = Math.fround(beta2);
  const c1 = Math.fround(1 - beta1);
  const c2 = Math.fround(1 - beta2);
  const e = Math.fround(eps);
  for (let i = 0; i < param.length; i++) {
    const p = param[i]!;
    const g = l2 === 0 ? grad[i]! : grad[i]! + l2 * p;
    const m = Math.fround(expAvg[i]! * b1 + c1 * g);
    const v = Math.fround(expAvgSq[i]! * b2 + c2 * g * g);
    expAvg[i] = m;
    expAvgSq[i] = v;
    param[i] = p * decay + negStepSize * (m / (Math.sqrt(v) / bc2Sqrt + e));
  }
}

/** The index of the first NaN or infinity, or -1. */
export function nonFiniteIndex(x: Float32Array): number {
  for (let i = 0; i < x.length; i++) {
    // x - x is 0 for finite x and NaN otherwise: one test for NaN and both infinities.
    if (x[i]! - x[i]! !== 0) return i;
  }
  return -1;
}

export function sumSquares(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return s;
}

/** max |x|; NaN when any element is NaN (as torch.max). */
export function maxAbs(x: Float32Array): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    if (!(a <= m)) m = a;
    if (Number.isNaN(a)) return NaN;
  }
  return m;
}

export function scaleInPlace(x: Float32Array, c: number): void {
  const f = Math.fround(c);
  for (let i = 0; i < x.length; i++) x[i]! *= f;
}

/** Clamps into [lo, hi]; NaN stays NaN (as torch.clamp). */
export function clampInPlace(x: Float32Array, lo: number, hi: number): void {
  const l = Math.fround(lo);
  const h = Math.fround(hi);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    x[i] = v < l ? l : v > h ? h : v;
  }
}
