// Batches for training loops, with PyTorch's names: TensorDataset, DataLoader, and accuracy.
import { checkBoolean, checkOptions, checkPositiveInt, describeValue, formatShape } from '../check.js';
import { Rng, globalRng } from '../init/rng.js';
import { Tensor, checkTensor } from '../tensor.js';
import { IMAGE_SIZE, permutation, type Digits } from './mnist.js';

/** A column of a dataset: a tensor whose dim 0 indexes samples, or one integer label per sample. */
export type Column = Tensor | Int32Array;

/** Samples held as tensors (and label arrays) that share their first dimension, as PyTorch's. */
export class TensorDataset {
  readonly columns: readonly Column[];
  readonly length: number;

  constructor(...columns: Column[]) {
    if (columns.length === 0) throw new TypeError('TensorDataset needs at least one tensor');
    columns.forEach((c, i) => {
      if (c instanceof Int32Array) return;
      checkTensor(c, `TensorDataset: argument ${i}`);
      if (c.shape.length === 0) throw new RangeError(`TensorDataset: argument ${i} is 0-d; dim 0 must index the samples`);
    });
    const sizes = columns.map((c) => (c instanceof Int32Array ? c.length : c.shape[0]!));
    if (sizes.some((n) => n !== sizes[0])) {
      const shapes = columns.map((c) => (c instanceof Int32Array ? `Int32Array(${c.length})` : formatShape(c.shape)));
      throw new RangeError(`TensorDataset: every argument needs the same number of samples (dim 0), got ${shapes.join(', ')}`);
    }
    this.columns = columns;
    this.length = sizes[0]!;
  }

  /** The samples at `indices`, in that order, one column each (copies). */
  gather(indices: ArrayLike<number>): Column[] {
    return this.columns.map((c) => {
      if (c instanceof Int32Array) return Int32Array.from(indices, (i) => c[i]!);
      const row = c.size / Math.max(1, c.shape[0]!);
      const out = Tensor.empty([indices.length, ...c.shape.slice(1)]);
      for (let k = 0; k < indices.length; k++) out.data.set(c.data.subarray(indices[k]! * row, (indices[k]! + 1) * row), k * row);
      return out;
    });
  }
}

/** The bundled digits (`loadDigits()`, `trainTestSplit`) as images `[N, 1, 28, 28]` (or `[N, 784]` with `flat`) and labels. */
export function digitsDataset(d: Digits, { flat = false }: { flat?: boolean } = {}): TensorDataset {
  return new TensorDataset(Tensor.from(d.images, flat ? [d.count, IMAGE_SIZE] : [d.count, 1, 28, 28]), d.labels);
}

export interface DataLoaderOptions {
  /** Samples per batch (default 1). */
  batchSize?: number;
  /** A new random order every pass (default false). */
  shuffle?: boolean;
  /** Leave out the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Seeds the loader's own generator for the shuffles; without it they come from the global one (`manualSeed`). */
  seed?: number;
}

/**
 * Batches of a `TensorDataset`, as PyTorch's DataLoader: each pass (`for (const [x, y] of
 * loader)`, or `for await` to let the event loop run between batches) yields one array per
 * batch with a column each, copied from the dataset. With `shuffle`, every pass draws a new order.
 */
export class DataLoader implements Iterable<Column[]>, AsyncIterable<Column[]> {
  readonly dataset: TensorDataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly #rng: Rng;

  constructor(dataset: TensorDataset, options?: DataLoaderOptions) {
    if (!(dataset instanceof TensorDataset)) throw new TypeError(`DataLoader: the dataset must be a TensorDataset, got ${describeValue(dataset)}`);
    const o = checkOptions(options, 'DataLoader');
    this.dataset = dataset;
    this.batchSize = checkPositiveInt(o.batchSize ?? 1, 'DataLoader: batchSize');
    this.shuffle = checkBoolean(o.shuffle ?? false, 'DataLoader: shuffle');
    this.dropLast = checkBoolean(o.dropLast ?? false, 'DataLoader: dropLast');
    this.#rng = o.seed === undefined ? globalRng : new Rng(o.seed);
  }

  /** The number of batches in a pass. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  *[Symbol.iterator](): Iterator<Column[]> {
    const n = this.dataset.length;
    const order = this.shuffle ? permutation(n, this.#rng) : Int32Array.from({ length: n }, (_, i) => i);
    for (let b = 0; b < this.length; b++) {
      yield this.dataset.gather(order.subarray(b * this.batchSize, Math.min(n, (b + 1) * this.batchSize)));
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Column[]> {
    for (const batch of this) {
      yield batch;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

/** The fraction of rows of `logits` (`[N, C]`) whose largest entry is at the target class. */
export function accuracy(logits: Tensor, targets: Int32Array | readonly number[]): number {
  checkTensor(logits, 'accuracy: logits');
  if (logits.shape.length !== 2) throw new RangeError(`accuracy: logits must be [N, C], got ${formatShape(logits.shape)}`);
  if (!(targets instanceof Int32Array) && !Array.isArray(targets)) throw new TypeError(`accuracy: targets must be an Int32Array or an array of class indices, got ${describeValue(targets)}`);
  const n = logits.shape[0]!;
  if (targets.length !== n) throw new RangeError(`accuracy: ${targets.length} targets for logits of shape ${formatShape(logits.shape)}`);
  if (n === 0) return NaN;
  const predicted = logits.argmax(1);
  let correct = 0;
  for (let i = 0; i < n; i++) if (predicted[i] === targets[i]) correct++;
  return correct / n;
}
