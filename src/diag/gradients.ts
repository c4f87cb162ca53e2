import { checkOptions, describeValue } from '../check.js';
import { Module } from '../nn/module.js';

/**
 * What `gradientStats` needs of an optimiser: its current learning rate. Every optimiser of
 * API.md's `optim` (and its schedulers' effect on it) has `lr`.
 */
export interface HasLearningRate {
  readonly lr: number;
}

export interface ParameterGradientStats {
  /** PyTorch's name, e.g. "0.weight". */
  name: string;
  /** L2 norm of the parameter's gradient. */
  gradNorm: number;
  /** L2 norm of the parameter. */
  weightNorm: number;
  /**
   * With an optimiser: lr · gradNorm / weightNorm, the relative size of a plain gradient step
   * (exact for SGD without momentum or weight decay; for adaptive optimisers a scale, not the
   * step: measure the real one with `updateRatios`). Infinity for a zero weight with a
   * non-zero step.
   */
  updateRatio?: number;
}

function norm(a: Float32Array): number {
  // Scaled, so squares of large or tiny float32 values neither overflow nor underflow.
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]!));
  // Math.max propagates NaN, so a NaN element gives NaN, an infinite one Infinity.
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]! / scale;
    s += v * v;
  }
  return scale * Math.sqrt(s);
}

function checkModel(model: unknown, what: string): Module {
  if (!(model instanceof Module)) throw new TypeError(`${what} needs a Module, got ${describeValue(model)}`);
  return model;
}

/** Per parameter: the norms of its gradient and of itself, and the update ratio with an optimiser. */
export function gradientStats(model: Module, options?: { optimizer?: HasLearningRate }): ParameterGradientStats[] {
  checkModel(model, 'diag.gradientStats');
  const o = checkOptions(options, 'diag.gradientStats');
  let lr: number | undefined;
  if (o.optimizer !== undefined) {
    const candidate = (o.optimizer as { lr?: unknown } | null)?.lr;
    if (typeof candidate !== 'number' || !Number.isFinite(candidate)) {
      throw new TypeError(`diag.gradientStats: the optimizer must have a finite number lr, got ${describeValue(candidate)}`);
    }
    lr = candidate;
  }
  return model.namedParameters().map(([name, p]) => {
    const gradNorm = norm(p.grad.data);
    const weightNorm = norm(p.data.data);
    const out: ParameterGradientStats = { name, gradNorm, weightNorm };
    if (lr !== undefined) {
      const step = Math.abs(lr) * gradNorm;
      out.updateRatio = step === 0 ? 0 : step / weightNorm;
    }
    return out;
  });
}

/**
 * Runs `step` (typically `() => opt.step()`) and returns, per parameter, the norm of the change
 * it made over the norm of the weight before it: the update/weight ratio of any optimiser.
 */
export function updateRatios(model: Module, step: () => void): { name: string; updateRatio: number }[] {
  checkModel(model, 'diag.updateRatios');
  if (typeof step !== 'function') throw new TypeError(`diag.updateRatios: step must be a function, got ${describeValue(step)}`);
  const before = model.namedParameters().map(([name, p]) => [name, p, Float32Array.from(p.data.data)] as const);
  step();
  return before.map(([name, p, old]) => {
    const delta = new Float32Array(old.length);
    for (let i = 0; i < old.length; i++) delta[i] = p.data.data[i]! - old[i]!;
    const d = norm(delta);
    return { name, updateRatio: d === 0 ? 0 : d / norm(old) };
  });
}

/** L2 norm of all gradients together (as `optim.clipGradNorm` would compute it). */
export function totalGradNorm(stats: readonly ParameterGradientStats[]): number {
  let s = 0;
  for (const p of stats) s += p.gradNorm * p.gradNorm;
  return Math.sqrt(s);
}
