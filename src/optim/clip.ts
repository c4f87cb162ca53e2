// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_ (PyTorch 1.13).
import { checkFinite, checkOptions, describeValue } from '../check.js';
import { kernels } from '../backend/index.js';
import { Parameter } from '../nn/module.js';

function paramList(params: Parameter | Iterable<Parameter>, what: string): Parameter[] {
  if (params instanceof Parameter) return [params];
  if (params === null || typeof params !== 'object' || typeof (params as Iterable<Parameter>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`${what}: params must be a Parameter or an array of Parameters, got ${describeValue(params)}`);
  }
  const list = [...params];
  list.forEach((p, i) => {
    if (!(p instanceof Parameter)) throw new TypeError(`${what}: params[${i}] must be a Parameter, got ${describeValue(p)}`);
    p.grad.checkUsable(`${what}: gradient of params[${i}]`);
  });
  return list;
}

/** Σ |x|^p over one gradient, in float64 (p finite, not 2). */
function sumPow(x: Float32Array, p: number): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i]!) ** p;
  return s;
}

/**
 * Scales the gradients so that their total norm (of order `normType`, over all gradients
 * together as if concatenated) is at most `maxNorm`, and returns the total norm before
 * clipping. As PyTorch, the scale is `maxNorm / (total + 1e-6)`, applied only when below 1.
 *
 * A non-finite total norm (a NaN or infinite gradient) is a RangeError and no gradient is
 * changed: PyTorch's `error_if_nonfinite=True` behaviour, chosen so that a NaN is reported
 * instead of spreading into every gradient (PyTorch's default would scale them all by NaN).
 */
export function clipGradNorm(params: Parameter | Iterable<Parameter>, maxNorm: number, options: { normType?: number } = {}): number {
  const what = 'clipGradNorm';
  const list = paramList(params, what);
  checkFinite(maxNorm, `${what}: maxNorm`);
  if (maxNorm < 0) throw new RangeError(`${what}: maxNorm must be >= 0, got ${maxNorm}`);
  const normType = checkOptions(options, what).normType ?? 2;
  if (typeof normType !== 'number') throw new TypeError(`${what}: normType must be a number, got ${describeValue(normType)}`);
  if (!(normType > 0)) throw new RangeError(`${what}: normType must be positive (or Infinity), got ${normType}`);
  if (list.length === 0) return 0;

  const k = kernels();
  let total: number;
  if (normType === Infinity) {
    total = list.reduce((m, p) => {
      const a = k.maxAbs(p.grad.data);
      return a > m || Number.isNaN(a) ? a : m;
    }, 0);
  } else if (normType === 2) {
    total = Math.sqrt(list.reduce((s, p) => s + k.sumSquares(p.grad.data), 0));
  } else {
    total = list.reduce((s, p) => s + sumPow(p.grad.data, normType), 0) ** (1 / normType);
  }
  if (!Number.isFinite(total)) {
    throw new RangeError(`${what}: the total norm of order ${normType} of the gradients is ${total}, so they cannot be clipped; no gradient was changed`);
  }
  // PyTorch computes the coefficient in float32 tensors: (float32 total + 1e-6), then the division.
  const coef = Math.fround(maxNorm / Math.fround(Math.fround(total) + 1e-6));
  if (coef < 1) for (const p of list) k.scaleInPlace(p.grad.data, coef);
  return total;
}

/**
 * Clamps every gradient element into [-clipValue, clipValue] in place. As torch.clamp, a NaN
 * stays NaN (and `step()` then reports it); infinities become ±clipValue.
 */
export function clipGradValue(params: Parameter | Iterable<Parameter>, clipValue: number): void {
  const what = 'clipGradValue';
  const list = paramList(params, what);
  checkFinite(clipValue, `${what}: clipValue`);
  if (clipValue < 0) throw new RangeError(`${what}: clipValue must be >= 0, got ${clipValue}`);
  const k = kernels();
  for (const p of list) k.clampInPlace(p.grad.data, -clipValue, clipValue);
}
