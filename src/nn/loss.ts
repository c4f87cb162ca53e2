import { kernels } from '../backend/index.js';
import { checkFinite, checkOptions, describeValue, formatShape } from '../check.js';
import { Tensor, checkTensor, sameShape } from '../tensor.js';
import { configOptions, type ModuleConfig } from './module.js';

export type Reduction = 'mean' | 'sum';

function checkReduction(kind: string, r: unknown): Reduction {
  if (typeof r !== 'string') throw new TypeError(`${kind} reduction must be 'mean' or 'sum', got ${describeValue(r)}`);
  if (r !== 'mean' && r !== 'sum') throw new RangeError(`${kind} reduction must be 'mean' or 'sum', got ${JSON.stringify(r)}`);
  return r;
}

/**
 * The base of the losses: `forward(input, target)` returns the loss as a number and remembers
 * what `backward()` needs; `backward()` returns the gradient of that loss w.r.t. `input`.
 * Losses take two arguments, so they are not Modules, but they have configs as Modules do.
 */
export abstract class Loss {
  readonly reduction: Reduction;
  #hasForward = false;

  constructor(options: { reduction?: Reduction } | undefined) {
    const o = checkOptions(options, new.target.name);
    this.reduction = checkReduction(new.target.name, o.reduction ?? 'mean');
  }

  /** The class name PyTorch would print, e.g. 'MSELoss'. */
  get kind(): string {
    return this.constructor.name;
  }

  abstract toConfig(): ModuleConfig;
  protected abstract forwardImpl(input: Tensor, target: unknown): number;
  protected abstract backwardImpl(): Tensor;

  /** The loss of `input` against `target` (checked before anything is computed). */
  forward(input: Tensor, target: unknown): number {
    const x = checkTensor(input, `${this.kind}.forward: input`);
    const loss = this.forwardImpl(x, target);
    this.#hasForward = true;
    return loss;
  }

  /** The gradient of the last forward's loss w.r.t. its input: an Error before any forward. */
  backward(): Tensor {
    if (!this.#hasForward) throw new Error(`${this.kind}.backward called before forward: there is no loss to differentiate`);
    return this.backwardImpl();
  }
}

/** Class indices as an Int32Array, each checked to be an integer in [0, classes). */
function classIndices(target: unknown, n: number, classes: number, shape: readonly number[]): Int32Array {
  if (!(target instanceof Int32Array) && !Array.isArray(target)) {
    throw new TypeError(`CrossEntropyLoss.forward: target must be an Int32Array or an array of class indices, got ${describeValue(target)}`);
  }
  if (target.length !== n) {
    throw new RangeError(`CrossEntropyLoss.forward: target has ${target.length} class indices, but input of shape ${formatShape(shape)} has ${n} samples`);
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t: unknown = target[i];
    if (typeof t !== 'number') throw new TypeError(`CrossEntropyLoss.forward: target[${i}] is ${describeValue(t)}, not a class index`);
    if (!Number.isInteger(t)) throw new RangeError(`CrossEntropyLoss.forward: target[${i}] = ${t} is not an integer class index`);
    if (t < 0 || t >= classes) {
      throw new RangeError(`CrossEntropyLoss.forward: class index ${t} at target[${i}] is out of range for ${classes} classes (input of shape ${formatShape(shape)})`);
    }
    out[i] = t;
  }
  return out;
}

/**
 * Cross-entropy of `[N, C]` logits against class indices, with optional label smoothing ε:
 * `(1 - ε)·(-log p[t]) + (ε/C)·Σ_c(-log p[c])` per sample, averaged or summed over samples.
 */
export class CrossEntropyLoss extends Loss {
  readonly labelSmoothing: number;
  #last: { x: Tensor; target: Int32Array; stats: Float32Array } | null = null;

  constructor(options?: { reduction?: Reduction; labelSmoothing?: number }) {
    super(options);
    const o = checkOptions(options, 'CrossEntropyLoss');
    this.labelSmoothing = checkFinite(o.labelSmoothing ?? 0, 'CrossEntropyLoss labelSmoothing');
    if (this.labelSmoothing < 0 || this.labelSmoothing > 1) {
      throw new RangeError(`CrossEntropyLoss labelSmoothing must be in [0, 1], got ${this.labelSmoothing}`);
    }
  }

  toConfig(): ModuleConfig {
    return { type: 'CrossEntropyLoss', reduction: this.reduction, labelSmoothing: this.labelSmoothing };
  }

  static fromConfig(config: ModuleConfig): CrossEntropyLoss {
    return new CrossEntropyLoss(configOptions(config, 'CrossEntropyLoss', ['reduction', 'labelSmoothing']) as never);
  }

  protected forwardImpl(x: Tensor, target: unknown): number {
    if (x.shape.length !== 2 || x.shape[1] === 0) {
      throw new RangeError(`CrossEntropyLoss.forward: input of shape ${formatShape(x.shape)} must be [N, C] logits with C > 0`);
    }
    const [n, c] = x.shape as [number, number];
    const t = classIndices(target, n, c, x.shape);
    const stats = new Float32Array(2 * n);
    const sum = kernels().crossEntropyForward(x.data, t, stats, n, c, this.labelSmoothing);
    this.#last = { x, target: t, stats };
    return this.reduction === 'mean' ? sum / n : sum;
  }

  protected backwardImpl(): Tensor {
    const { x, target, stats } = this.#last!;
    x.checkUsable('CrossEntropyLoss.backward: the saved input');
    const [n, c] = x.shape as [number, number];
    const dx = Tensor.emptyLike(x);
    kernels().crossEntropyBackward(x.data, target, stats, dx.data, n, c, this.labelSmoothing, this.reduction === 'mean' ? 1 / n : 1);
    return dx;
  }
}

/** Mean (or sum) of squared differences between two tensors of one shape. */
export class MSELoss extends Loss {
  #last: { x: Tensor; target: Tensor } | null = null;

  constructor(options?: { reduction?: Reduction }) {
    super(options);
  }

  toConfig(): ModuleConfig {
    return { type: 'MSELoss', reduction: this.reduction };
  }

  static fromConfig(config: ModuleConfig): MSELoss {
    return new MSELoss(configOptions(config, 'MSELoss', ['reduction']) as never);
  }

  protected forwardImpl(x: Tensor, target: unknown): number {
    const t = checkTensor(target, 'MSELoss.forward: target');
    if (!sameShape(x.shape, t.shape)) {
      throw new RangeError(`MSELoss.forward: target of shape ${formatShape(t.shape)} does not match input of shape ${formatShape(x.shape)}`);
    }
    const sum = kernels().mseForward(x.data, t.data);
    this.#last = { x, target: t };
    return this.reduction === 'mean' ? sum / x.size : sum;
  }

  protected backwardImpl(): Tensor {
    const { x, target } = this.#last!;
    x.checkUsable('MSELoss.backward: the saved input');
    target.checkUsable('MSELoss.backward: the saved target');
    const dx = Tensor.emptyLike(x);
    kernels().mseBackward(x.data, target.data, dx.data, this.reduction === 'mean' ? 2 / x.size : 2);
    return dx;
  }
}
