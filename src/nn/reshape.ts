import { formatShape } from '../check.js';
import { Tensor } from '../tensor.js';
import { Module, configOptions, type ModuleConfig } from './module.js';

/**
 * A view of the input with another shape (as `x.reshape(shape)`, and ONNX's Reshape): one
 * entry may be -1 (inferred from the others), and 0 keeps the input's dimension at that
 * position, so `[0, -1]` flattens every sample of a batch of any size.
 */
export class Reshape extends Module {
  readonly shape: readonly number[];

  constructor(shape: readonly number[]) {
    super();
    if (!Array.isArray(shape)) throw new TypeError(`Reshape shape must be an array of dimensions, got ${shape === null ? 'null' : typeof shape}`);
    if (shape.some((d) => typeof d !== 'number')) throw new TypeError(`Reshape shape ${formatShape(shape)} has an entry that is not a number`);
    if (shape.some((d) => !Number.isInteger(d) || d < -1)) throw new RangeError(`Reshape shape ${formatShape(shape)}: entries are sizes, 0 (keep the input's) or -1 (inferred)`);
    if (shape.filter((d) => d === -1).length > 1) throw new RangeError(`Reshape shape ${formatShape(shape)}: only one entry can be -1`);
    this.shape = [...shape];
  }

  #outputShape(input: readonly number[]): number[] {
    const out = this.shape.map((d, i) => {
      if (d !== 0) return d;
      if (i >= input.length) throw new RangeError(`Reshape ${formatShape(this.shape)}: entry ${i} keeps a dimension that an input of shape ${formatShape(input)} does not have`);
      return input[i]!;
    });
    const size = input.reduce((a, b) => a * b, 1);
    const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const inferred = out.indexOf(-1);
    if (inferred >= 0 && known > 0 && size % known === 0) out[inferred] = size / known;
    if (out.includes(-1) || out.reduce((a, b) => a * b, 1) !== size) {
      throw new RangeError(`Reshape ${formatShape(this.shape)}: an input of shape ${formatShape(input)} (${size} elements) does not fit`);
    }
    return out;
  }

  toConfig(): ModuleConfig {
    return { type: 'Reshape', shape: [...this.shape] };
  }

  static fromConfig(config: ModuleConfig): Reshape {
    const o = configOptions(config, 'Reshape', ['shape']);
    return new Reshape(o.shape as number[]);
  }

  protected forwardImpl(x: Tensor): Tensor {
    return x.reshape(this.#outputShape(x.shape));
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    return gradOutput.reshape(x.shape);
  }
}

