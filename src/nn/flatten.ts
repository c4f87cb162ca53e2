import { checkOptions, formatShape } from '../check.js';
import { Tensor } from '../tensor.js';
import { Module, configOptions, type ModuleConfig } from './module.js';

/** Merges dimensions startDim..endDim into one (by default `[N, ...]` → `[N, rest]`); a view, no copy. */
export class Flatten extends Module {
  readonly startDim: number;
  readonly endDim: number;

  constructor(options?: { startDim?: number; endDim?: number }) {
    super();
    const o = checkOptions(options, 'Flatten');
    this.startDim = o.startDim ?? 1;
    this.endDim = o.endDim ?? -1;
    for (const [name, d] of [['startDim', this.startDim], ['endDim', this.endDim]] as const) {
      if (typeof d !== 'number') throw new TypeError(`Flatten ${name} must be a number, got ${typeof d}`);
      if (!Number.isInteger(d)) throw new RangeError(`Flatten ${name} must be an integer, got ${d}`);
    }
  }

  #outputShape(shape: readonly number[]): number[] {
    const rank = Math.max(shape.length, 1);
    const norm = (d: number) => (d < 0 ? d + rank : d);
    const start = norm(this.startDim);
    const end = norm(this.endDim);
    if (start < 0 || start >= rank || end < 0 || end >= rank || start > end) {
      throw new RangeError(`Flatten: dimensions ${this.startDim}..${this.endDim} do not fit an input of shape ${formatShape(shape)}`);
    }
    if (shape.length === 0) return [1];
    const merged = shape.slice(start, end + 1).reduce((a, b) => a * b, 1);
    return [...shape.slice(0, start), merged, ...shape.slice(end + 1)];
  }

  toConfig(): ModuleConfig {
    return { type: 'Flatten', startDim: this.startDim, endDim: this.endDim };
  }

  static fromConfig(config: ModuleConfig): Flatten {
    return new Flatten(configOptions(config, 'Flatten', ['startDim', 'endDim']));
  }

  protected forwardImpl(x: Tensor): Tensor {
    return x.reshape(this.#outputShape(x.shape));
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    return gradOutput.reshape(x.shape);
  }
}
