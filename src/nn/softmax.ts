import { kernels } from '../backend/index.js';
import { checkOptions, describeValue, formatShape } from '../check.js';
import { Tensor } from '../tensor.js';
import { Module, configOptions, type ModuleConfig } from './module.js';

/** `[outer, dim, inner]` for reducing `shape` along `dim` (negative counts from the end). */
function layout(kind: string, dim: number, shape: readonly number[]): [number, number, number] {
  const rank = Math.max(shape.length, 1);
  const d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank) throw new RangeError(`${kind}.forward: dim ${dim} is out of range for an input of shape ${formatShape(shape)}`);
  const dims = shape.length === 0 ? [1] : shape;
  const prod = (a: readonly number[]) => a.reduce((x, y) => x * y, 1);
  return [prod(dims.slice(0, d)), dims[d]!, prod(dims.slice(d + 1))];
}

function checkDim(kind: string, dim: unknown): number {
  if (typeof dim !== 'number') throw new TypeError(`${kind} dim must be a number, got ${describeValue(dim)}`);
  if (!Number.isInteger(dim)) throw new RangeError(`${kind} dim must be an integer, got ${dim}`);
  return dim;
}

abstract class SoftmaxBase extends Module {
  readonly dim: number;
  /** The last forward's output, which the backward differentiates from. */
  #output: Tensor | null = null;
  protected abstract readonly log: boolean;

  constructor(options?: { dim?: number }) {
    super();
    const o = checkOptions(options, new.target.name);
    this.dim = checkDim(new.target.name, o.dim ?? -1);
  }

  toConfig(): ModuleConfig {
    return { type: this.kind, dim: this.dim };
  }

  protected forwardImpl(x: Tensor): Tensor {
    const [outer, dim, inner] = layout(this.kind, this.dim, x.shape);
    const y = Tensor.emptyLike(x);
    (this.log ? kernels().logSoftmaxForward : kernels().softmaxForward)(x.data, y.data, outer, dim, inner);
    this.#output = y;
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const [outer, dim, inner] = layout(this.kind, this.dim, x.shape);
    const y = this.#output!;
    y.checkUsable(`${this.kind}.backward: the saved output`);
    const dx = Tensor.emptyLike(x);
    (this.log ? kernels().logSoftmaxBackward : kernels().softmaxBackward)(y.data, gradOutput.data, dx.data, outer, dim, inner);
    return dx;
  }
}

/** exp(x) / Σ exp(x) along `dim`, computed stably (the maximum subtracted first). */
export class Softmax extends SoftmaxBase {
  protected readonly log = false;

  static fromConfig(config: ModuleConfig): Softmax {
    return new Softmax(configOptions(config, 'Softmax', ['dim']));
  }
}

/** x - log Σ exp(x) along `dim`, computed stably. */
export class LogSoftmax extends SoftmaxBase {
  protected readonly log = true;

  static fromConfig(config: ModuleConfig): LogSoftmax {
    return new LogSoftmax(configOptions(config, 'LogSoftmax', ['dim']));
  }
}
