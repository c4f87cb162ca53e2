import { native } from './backend/index.js';
import { checkFloat32Array, checkShape, describeValue, formatShape, isDetached } from './check.js';

const POISON = Boolean(process.env.LIVEN_POISON_EMPTY);
/**
 * 32 MiB of float32: the smallest array `Tensor.empty` asks the native pool for. Below it,
 * glibc's malloc (behind V8's arrays) reuses freed blocks by itself.
 */
const POOL_MIN_ELEMENTS = 1 << 23;

/**
 * A Float32Array of `size` elements whose contents are unspecified (see `Tensor.empty`): from
 * the addon's pool when it is loaded and the array is large, else from V8 without a fill.
 */
function unfilled(size: number): Float32Array {
  const large = size >= POOL_MIN_ELEMENTS && typeof native?.pooledFloat32 === 'function';
  const pooled = large ? native!.pooledFloat32(size) : null;
  if (pooled) return pooled;
  const bytes = Buffer.allocUnsafeSlow(size * 4);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, size);
  // Declined by the pool (a synchronous loop has had nothing back yet): at least have the
  // fresh pages faulted in 2 MiB at a time.
  if (large) native!.adviseHugePages(data);
  return data;
}

/**
 * An n-dimensional array of float32 in row-major (C) order: a shape over a Float32Array.
 * Tensors do not copy: `Tensor.from(float32Array, shape)` and `reshape` share the data.
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
  readonly size: number;

  /** Wraps `data` (not copied). Its length must equal the product of `shape`. */
  constructor(data: Float32Array, shape: readonly number[]) {
    checkFloat32Array(data, 'Tensor data');
    const size = checkShape(shape);
    if (data.length !== size) {
      if (isDetached(data)) {
        throw new TypeError(`Tensor data's ArrayBuffer is detached (transferred or freed); shape ${formatShape(shape)} needs ${size} elements`);
      }
      throw new RangeError(`shape ${formatShape(shape)} needs ${size} elements, but the data has ${data.length}`);
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.size = size;
  }

  /** A new zero tensor of `t`'s shape. */
  static zerosLike(t: Tensor): Tensor {
    return new Tensor(new Float32Array(t.size), t.shape);
  }

  /** A Float32Array is wrapped, not copied; any other array-like of numbers is converted. */
  static from(data: Float32Array | ArrayLike<number>, shape: readonly number[]): Tensor {
    if (data instanceof Float32Array) return new Tensor(data, shape);
    if (data === null || typeof data !== 'object' || typeof (data as ArrayLike<number>).length !== 'number') {
      throw new TypeError(`Tensor.from needs a Float32Array or an array-like of numbers, got ${describeValue(data)}`);
    }
    if (Array.isArray(data)) {
      const bad = data.findIndex((v) => typeof v !== 'number');
      if (bad >= 0) throw new TypeError(`Tensor.from: element ${bad} is ${describeValue(data[bad])}, not a number`);
    }
    const size = checkShape(shape);
    if (data.length !== size) {
      throw new RangeError(`shape ${formatShape(shape)} needs ${size} elements, but the data has ${data.length}`);
    }
    return new Tensor(Float32Array.from(data), shape);
  }

  /**
   * A tensor whose values are unspecified until written: for outputs a kernel overwrites
   * entirely. Zero-filling a fresh array costs a pass over memory (a fresh `Float32Array` is
   * calloc'd), and a fresh mapping costs a page fault per 4 KiB on first write. So arrays of
   * 32 MiB and more (which glibc always maps fresh) come from the native addon's pool of
   * recycled memory when the addon is loaded: a block returns to the pool only after V8 has
   * collected the array that held it and the event loop has turned, so no tensor still
   * reachable is ever handed out twice. Smaller ones, and all when the pool declines, come from
   * `Buffer.allocUnsafeSlow`, which skips the fill. With the environment
   * variable LIVEN_POISON_EMPTY set (the test suite sets it) it is filled with NaN, so an
   * element a kernel forgot to write shows up in every comparison.
   */
  static empty(shape: readonly number[]): Tensor {
    const size = checkShape(shape);
    const data = unfilled(size);
    if (POISON) data.fill(NaN);
    return new Tensor(data, shape);
  }

  /** `Tensor.empty` of `t`'s shape. */
  static emptyLike(t: Tensor): Tensor {
    return Tensor.empty(t.shape);
  }

  static zeros(shape: readonly number[]): Tensor {
    return new Tensor(new Float32Array(checkShape(shape)), shape);
  }

  /** A view with another shape over the same data; one dimension may be -1 (inferred). */
  reshape(shape: readonly number[]): Tensor {
    if (!Array.isArray(shape)) throw new TypeError(`reshape needs an array of dimensions, got ${describeValue(shape)}`);
    const inferred = shape.indexOf(-1);
    if (inferred >= 0 && shape.indexOf(-1, inferred + 1) >= 0) {
      throw new RangeError(`reshape ${formatShape(shape)}: only one dimension can be -1`);
    }
    let resolved = shape;
    if (inferred >= 0) {
      const rest = checkShape(shape.filter((_, i) => i !== inferred), 'reshape');
      if (rest === 0 || this.size % rest !== 0) {
        throw new RangeError(`cannot reshape ${formatShape(this.shape)} (${this.size} elements) to ${formatShape(shape)}`);
      }
      resolved = shape.map((d, i) => (i === inferred ? this.size / rest : d));
    }
    if (checkShape(resolved, 'reshape') !== this.size) {
      throw new RangeError(`cannot reshape ${formatShape(this.shape)} (${this.size} elements) to ${formatShape(shape)}`);
    }
    return new Tensor(this.data, resolved);
  }

  /** Throws unless this tensor's memory is still usable (not detached or shrunk since creation). */
  checkUsable(what: string): void {
    if (this.data.length !== this.size) {
      const why = isDetached(this.data) ? "its ArrayBuffer is detached (transferred or freed)" : `its data now has ${this.data.length} elements`;
      throw new TypeError(`${what}: the tensor of shape ${formatShape(this.shape)} can no longer be used: ${why}`);
    }
  }
}

/** Throws a TypeError unless `x` is a usable Tensor. */
export function checkTensor(x: unknown, what: string): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${what} must be a Tensor, got ${describeValue(x)}`);
  x.checkUsable(what);
  return x;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
