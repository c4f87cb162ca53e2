import { checkFloat32Array, checkShape, describeValue, formatShape, isDetached } from './check.js';

const POISON = Boolean(process.env.LIVEN_POISON_EMPTY);

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
   * calloc'd); this one comes from `Buffer.allocUnsafeSlow`, which skips it. With the
   * environment variable LIVEN_POISON_EMPTY set (the test suite sets it) it is filled with NaN,
   * so an element a kernel forgot to write shows up in every comparison.
   */
  static empty(shape: readonly number[]): Tensor {
    if (buildScope !== null) return scopedTensor(buildScope, shape);
    const size = checkShape(shape);
    const bytes = Buffer.allocUnsafeSlow(size * 4);
    const data = new Float32Array(bytes.buffer, bytes.byteOffset, size);
    if (POISON) data.fill(NaN);
    return new Tensor(data, shape);
  }

  /** `Tensor.empty` of `t`'s shape. */
  static emptyLike(t: Tensor): Tensor {
    return Tensor.empty(t.shape);
  }

  static zeros(shape: readonly number[]): Tensor {
    if (buildScope !== null) return scopedTensor(buildScope, shape);
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

// ---------------------------------------------------------------------------------------------
// Build scopes: a model's memory is counted, and its random initialisation skipped, before it
// is spent (io.buildWithWeights). Layers allocate their parameters and buffers with
// Tensor.zeros / Tensor.empty and fill them with `init`, so one scope here covers every layer
// type without knowing any of them.

/**
 * How `Tensor.zeros` and `Tensor.empty` behave inside `withBuildScope`:
 * - `'measure'`: they return shape-only tensors (the shape and size, with an empty `data`), so a
 *   model of any size is built without memory to learn its parameter shapes and bytes; such a
 *   model can only be inspected (`namedParameters`, `namedBuffers`), never run or returned.
 * - `'load'`: they allocate as usual; the values are about to be overwritten by weights.
 * In both, the `init` functions do nothing, and `bytes` counts what was (or would be) allocated.
 */
export type BuildMode = 'measure' | 'load';

interface BuildScope {
  readonly mode: BuildMode;
  bytes: number;
}

let buildScope: BuildScope | null = null;

/** Runs `build` in a build scope (see `BuildMode`); returns its result and the bytes of the tensors it made. */
export function withBuildScope<T>(mode: BuildMode, build: () => T): { value: T; bytes: number } {
  const outer = buildScope;
  const scope: BuildScope = { mode, bytes: 0 };
  buildScope = scope;
  try {
    return { value: build(), bytes: scope.bytes };
  } finally {
    buildScope = outer;
  }
}

/** The mode of the build scope under way, or null: `init` does nothing inside one. */
export function currentBuildMode(): BuildMode | null {
  return buildScope?.mode ?? null;
}

function scopedTensor(scope: BuildScope, shape: readonly number[]): Tensor {
  const size = checkShape(shape);
  scope.bytes += 4 * size;
  if (scope.mode === 'load') return new Tensor(new Float32Array(size), shape);
  // A Tensor without memory: the constructor would refuse data of the wrong length.
  const placeholder: Tensor = Object.create(Tensor.prototype);
  return Object.assign(placeholder, { shape: Object.freeze([...shape]), data: new Float32Array(0), size });
}
