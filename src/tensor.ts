import { kernels, native } from './backend/index.js';
import { BINARY_OPS } from './backend/types.js';
import { checkBoolean, checkFloat32Array, checkShape, describeValue, formatShape, isDetached } from './check.js';
import { broadcastShape, normalizeDim, split, toNested } from './tensor-math.js';

const POISON = Boolean(process.env.LIVEN_POISON_EMPTY);
/** The shape of a 0-d operand, and a tensor of `n` elements seen as one flat dim. */
const SCALAR = new Uint32Array(0);
const flatShape = (n: number): Uint32Array => Uint32Array.of(n);
/**
 * 16 MiB of float32: the smallest array `Tensor.empty` asks the native pool for. Below it,
 * glibc's malloc (behind V8's arrays) reuses most freed blocks by itself.
 */
const POOL_MIN_ELEMENTS = 1 << 22;

/**
 * A Float32Array of `size` elements whose contents are unspecified (see `Tensor.empty`): from
 * the addon's pool when it is loaded and the array is large, else from V8 without a fill.
 */
function unfilled(size: number): Float32Array {
  const large = size >= POOL_MIN_ELEMENTS && typeof native?.pooledBuffer === 'function';
  const pooled = large ? native!.pooledBuffer(size * 4) : null;
  if (pooled) return new Float32Array(pooled, 0, size);
  const bytes = Buffer.allocUnsafeSlow(size * 4);
  return new Float32Array(bytes.buffer, bytes.byteOffset, size);
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
   * 16 MiB and more (which glibc maps afresh or trims away) come from the native addon's pool of
   * recycled memory when the addon is loaded: a block returns to the pool only after V8 has
   * collected the array that held it and the event loop has turned, so no tensor still
   * reachable is ever handed out twice. Smaller ones, and all when the pool declines, come from
   * `Buffer.allocUnsafeSlow`, which skips the fill. The pool lends at most 512 MiB that has not
   * come back: a synchronous loop gets no block back until it yields to the event loop. With
   * the environment variable LIVEN_POISON_EMPTY set (the test suite sets it) it is filled with
   * NaN, so an element a kernel forgot to write shows up in every comparison.
   */
  static empty(shape: readonly number[]): Tensor {
    if (buildScope !== null) return scopedTensor(buildScope, shape);
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

  // ---- PyTorch's helpers. Each returns a new tensor (narrow/slice: a view where the result is
  // contiguous, see there) and never changes `this`; shapes broadcast as in PyTorch.

  /**
   * `this + other` elementwise (a tensor broadcast against this one, or a number). A number is
   * rounded to float32 first, as PyTorch rounds a Python scalar for a float32 tensor.
   */
  add(other: Tensor | number): Tensor {
    return this.#binary(other, 'add');
  }

  /** `this - other` elementwise. */
  sub(other: Tensor | number): Tensor {
    return this.#binary(other, 'sub');
  }

  /** `this * other` elementwise. */
  mul(other: Tensor | number): Tensor {
    return this.#binary(other, 'mul');
  }

  /** `this / other` elementwise (IEEE: x / 0 is ±Infinity or NaN, as in PyTorch). */
  div(other: Tensor | number): Tensor {
    return this.#binary(other, 'div');
  }

  #binary(other: Tensor | number, name: keyof typeof BINARY_OPS): Tensor {
    const what = `Tensor.${name}`;
    this.checkUsable(what);
    if (typeof other === 'number') {
      const out = Tensor.empty(this.shape);
      kernels().binaryBroadcast(this.data, flatShape(this.size), Float32Array.of(other), SCALAR, out.data, BINARY_OPS[name]);
      return out;
    }
    const b = checkTensor(other, `${what}: other`);
    const shape = broadcastShape(this.shape, b.shape, what);
    const out = Tensor.empty(shape);
    kernels().binaryBroadcast(this.data, Uint32Array.from(this.shape), b.data, Uint32Array.from(b.shape), out.data, BINARY_OPS[name]);
    return out;
  }

  /**
   * The sum over `dim` (a dim or a list of dims; all dims when omitted or `[]`, giving a 0-d tensor),
   * accumulated in float64; `keepdim` keeps the summed dims as size 1.
   */
  sum(dim?: number | readonly number[], options?: { keepdim?: boolean }): Tensor {
    return this.#reduce('sum', dim, options?.keepdim ?? false);
  }

  /** The mean over `dim` (as `sum`); over an empty dim it is NaN, as in PyTorch. */
  mean(dim?: number | readonly number[], options?: { keepdim?: boolean }): Tensor {
    return this.#reduce('mean', dim, options?.keepdim ?? false);
  }

  #reduce(name: 'sum' | 'mean', dim: number | readonly number[] | undefined, keepdim: boolean): Tensor {
    const what = `Tensor.${name}`;
    this.checkUsable(what);
    checkBoolean(keepdim, `${what}: keepdim`);
    const all = this.shape.map((_, i) => i);
    const listed = dim === undefined ? all : typeof dim === 'number' ? [dim] : dim;
    if (!Array.isArray(listed)) throw new TypeError(`${what}: dim must be an integer or an array of integers, got ${describeValue(dim)}`);
    // As in PyTorch, an empty list of dims reduces over all of them.
    const given: readonly number[] = listed.length === 0 ? all : listed;
    const dims = [...new Set(given.map((d) => normalizeDim(d, this.shape, what)))].sort((a, b) => a - b);
    if (dims.length !== given.length) throw new RangeError(`${what}: dim ${formatShape(given)} names a dim twice`);
    const shape = keepdim ? this.shape.map((d, i) => (dims.includes(i) ? 1 : d)) : this.shape.filter((_, i) => !dims.includes(i));
    const out = Tensor.empty(shape);
    const divisor = name === 'mean' ? dims.reduce((n, d) => n * this.shape[d]!, 1) : 1;
    kernels().sumDims(this.data, Uint32Array.from(this.shape), Uint32Array.from(dims), out.data, divisor);
    return out;
  }

  /**
   * The index of the largest value along `dim`, for every position of the other dims, in their
   * row-major order (PyTorch's result flattened; PyTorch returns int64, liven an Int32Array).
   * Without `dim`, the index into the flattened tensor. NaN counts as the largest value and the
   * first of equal maxima wins, as in PyTorch.
   */
  argmax(): number;
  argmax(dim: number): Int32Array;
  argmax(dim?: number): number | Int32Array {
    this.checkUsable('Tensor.argmax');
    if (this.size === 0) throw new RangeError(`Tensor.argmax: the tensor of shape ${formatShape(this.shape)} is empty`);
    if (dim === undefined) {
      const out = new Int32Array(1);
      kernels().argmaxAlong(this.data, 1, this.size, 1, out);
      return out[0]!;
    }
    const d = normalizeDim(dim, this.shape, 'Tensor.argmax');
    const { outer, size, inner } = split(this.shape, d);
    const out = new Int32Array(outer * inner);
    kernels().argmaxAlong(this.data, outer, size, inner, out);
    return out;
  }

  /**
   * `length` entries of `dim` from `start` (negative counts from the end). Where they are
   * contiguous in memory — along dim 0, or when every dim before `dim` has size 1 — the result
   * is a view that shares this tensor's data, as in PyTorch; otherwise it is a copy.
   */
  narrow(dim: number, start: number, length: number): Tensor {
    const what = 'Tensor.narrow';
    this.checkUsable(what);
    const d = normalizeDim(dim, this.shape, what);
    const size = this.shape[d]!;
    for (const [name, v] of [['start', start], ['length', length]] as const) {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${what}: ${name} must be an integer, got ${describeValue(v)}`);
    }
    const from = start < 0 ? start + size : start;
    if (from < 0 || length < 0 || from + length > size) {
      throw new RangeError(`${what}: start ${start} and length ${length} do not fit in dim ${d} of size ${size} (shape ${formatShape(this.shape)})`);
    }
    return this.#take(d, from, from + length);
  }

  /**
   * Entries `start` (inclusive) to `end` (exclusive) of `dim`, clamped and with negative indices
   * counting from the end, as Python's `x[start:end]` along that dim; a view or a copy as `narrow`.
   */
  slice(dim: number, start = 0, end?: number): Tensor {
    const what = 'Tensor.slice';
    this.checkUsable(what);
    const d = normalizeDim(dim, this.shape, what);
    const size = this.shape[d]!;
    const at = (v: unknown, name: string): number => {
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${what}: ${name} must be an integer, got ${describeValue(v)}`);
      return Math.min(size, Math.max(0, v < 0 ? v + size : v));
    };
    const from = at(start, 'start');
    const to = end === undefined ? size : at(end, 'end');
    return this.#take(d, from, Math.max(from, to));
  }

  #take(dim: number, from: number, to: number): Tensor {
    const shape = this.shape.map((s, i) => (i === dim ? to - from : s));
    const { outer, size, inner } = split(this.shape, dim);
    if (outer === 1) return new Tensor(this.data.subarray(from * inner, to * inner), shape);
    const out = Tensor.empty(shape);
    const rowLen = (to - from) * inner;
    kernels().copyRows(this.data.subarray(from * inner), size * inner, out.data, rowLen, outer, rowLen);
    return out;
  }

  /** A copy with its own data. */
  clone(): Tensor {
    this.checkUsable('Tensor.clone');
    return new Tensor(this.data.slice(), this.shape);
  }

  /** The values as nested arrays of numbers (PyTorch's `tolist`); a 0-d tensor gives its number. */
  toArray(): unknown {
    this.checkUsable('Tensor.toArray');
    return toNested(this.data, this.shape);
  }

  /** The value of a one-element tensor. */
  item(): number {
    this.checkUsable('Tensor.item');
    if (this.size !== 1) throw new RangeError(`Tensor.item: the tensor of shape ${formatShape(this.shape)} has ${this.size} elements, not one`);
    return this.data[0]!;
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
