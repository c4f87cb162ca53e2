// Modules of several inputs, the joins of a graph: a residual sum and a concatenation.
import { kernels } from '../backend/index.js';
import { BINARY_OPS } from '../backend/types.js';
import { checkOptions, formatShape } from '../check.js';
import { Tensor, sameShape } from '../tensor.js';
import { Module, configOptions, type ModuleConfig } from './module.js';

/** Adds `source` into `target` elementwise (same length, separate arrays); the sum at a graph's fan-out too. */
export function addInto(target: Float32Array, source: Float32Array): void {
  kernels().addInto(target, source);
}

/** A new tensor `a + b` of two tensors of one shape (the caller has checked it), in one pass. */
export function sumOf(a: Tensor, b: Tensor): Tensor {
  const y = Tensor.empty(a.shape);
  const flat = Uint32Array.of(a.size);
  kernels().binaryBroadcast(a.data, flat, b.data, flat, y.data, BINARY_OPS.add);
  return y;
}

/** A new tensor with `x`'s values. */
function copyOf(x: Tensor): Tensor {
  const y = Tensor.empty(x.shape);
  kernels().copy(x.data, y.data);
  return y;
}

/**
 * The elementwise sum of one or more tensors of the same shape (a residual connection:
 * `g.node('sum', new nn.Add(), ['conv2', 'identity'])`). No broadcasting: shapes that differ
 * are a RangeError naming them. `backward(dy)` returns one gradient per input, each a copy of `dy`.
 */
export class Add extends Module<Tensor[], Tensor, Tensor[]> {
  /** How many tensors the last forward summed. */
  #count = 0;

  protected override inputArity(): null {
    return null;
  }

  protected override keepsInputs(): boolean {
    return false;
  }

  toConfig(): ModuleConfig {
    return { type: 'Add' };
  }

  static fromConfig(config: ModuleConfig): Add {
    configOptions(config, 'Add', []);
    return new Add();
  }

  protected forwardImpl(...xs: Tensor[]): Tensor {
    const first = xs[0]!;
    if (xs.some((x) => !sameShape(x.shape, first.shape))) {
      throw new RangeError(`Add.forward: the inputs must have the same shape, got ${xs.map((x) => formatShape(x.shape)).join(', ')}`);
    }
    const y = xs.length === 1 ? copyOf(first) : sumOf(first, xs[1]!);
    for (const x of xs.slice(2)) addInto(y.data, x.data);
    this.#count = xs.length;
    return y;
  }

  protected backwardImpl(gradOutput: Tensor): Tensor[] {
    return Array.from({ length: this.#count }, () => copyOf(gradOutput));
  }
}

/**
 * Concatenates one or more tensors along `dim` (default 1, the channels of `[N, C, H, W]`;
 * negative counts from the end), as `torch.cat`. The inputs must have the same rank and agree
 * in every other dimension, else a RangeError names their shapes. `backward(dy)` splits `dy`
 * back into one gradient per input.
 */
export class Cat extends Module<Tensor[], Tensor, Tensor[]> {
  readonly dim: number;
  /** The last forward's input shapes and axis: all backward needs. */
  #last: { shapes: (readonly number[])[]; axis: number } | null = null;

  constructor(options?: { dim?: number }) {
    super();
    const o = checkOptions(options, 'Cat');
    const dim = o.dim ?? 1;
    if (typeof dim !== 'number') throw new TypeError(`Cat dim must be a number, got ${typeof dim}`);
    if (!Number.isInteger(dim)) throw new RangeError(`Cat dim must be an integer, got ${dim}`);
    this.dim = dim;
  }

  protected override inputArity(): null {
    return null;
  }

  protected override keepsInputs(): boolean {
    return false;
  }

  toConfig(): ModuleConfig {
    return { type: 'Cat', dim: this.dim };
  }

  static fromConfig(config: ModuleConfig): Cat {
    return new Cat(configOptions(config, 'Cat', ['dim']));
  }

  /** The dimension as an index into shapes of `rank`, checked. */
  #axis(shapes: (readonly number[])[]): number {
    const rank = shapes[0]!.length;
    const axis = this.dim < 0 ? this.dim + rank : this.dim;
    const all = shapes.map(formatShape).join(', ');
    if (axis < 0 || axis >= rank) throw new RangeError(`Cat.forward: dim ${this.dim} is out of range for inputs of shapes ${all}`);
    const agree = shapes.every((s) => s.length === rank && s.every((d, i) => i === axis || d === shapes[0]![i]));
    if (!agree) throw new RangeError(`Cat.forward: the inputs must have the same rank and agree in every dimension but ${this.dim}, got ${all}`);
    return axis;
  }

  protected forwardImpl(...xs: Tensor[]): Tensor {
    const axis = this.#axis(xs.map((x) => x.shape));
    const shape = [...xs[0]!.shape];
    shape[axis] = xs.reduce((sum, x) => sum + x.shape[axis]!, 0);
    const y = Tensor.empty(shape);
    const { outer, rowOf, row } = blocks(xs.map((x) => x.shape), axis);
    let offset = 0;
    xs.forEach((x, j) => {
      const n = rowOf[j]!;
      kernels().copyRows(x.data, n, y.data.subarray(offset), row, outer, n);
      offset += n;
    });
    this.#last = { shapes: xs.map((x) => x.shape), axis };
    return y;
  }

  protected backwardImpl(gradOutput: Tensor): Tensor[] {
    const { shapes, axis } = this.#last!;
    const { outer, rowOf, row } = blocks(shapes, axis);
    let offset = 0;
    return shapes.map((shape, j) => {
      const n = rowOf[j]!;
      const dx = Tensor.empty(shape);
      kernels().copyRows(gradOutput.data.subarray(offset), row, dx.data, n, outer, n);
      offset += n;
      return dx;
    });
  }
}

/**
 * Concatenation as copies of contiguous rows: `outer` rows (the product of the dimensions
 * before the axis); input j contributes `rowOf[j]` elements to each output row of `row`.
 */
function blocks(shapes: (readonly number[])[], axis: number): { outer: number; rowOf: number[]; row: number } {
  const outer = shapes[0]!.slice(0, axis).reduce((a, b) => a * b, 1);
  const rowOf = shapes.map((s) => s.slice(axis).reduce((a, b) => a * b, 1));
  return { outer, rowOf, row: rowOf.reduce((a, b) => a + b, 0) };
}
