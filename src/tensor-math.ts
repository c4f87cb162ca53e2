// The shape arithmetic behind Tensor's PyTorch-named helpers (add, sum, argmax, narrow, ...), so
// that tensor.ts stays the class; the loops over the values are the backend's kernels
// (binaryBroadcast, sumDims, argmaxAlong: liven-core's elementwise.rs and its twin in
// src/backend/js/elementwise.ts).
import { formatShape } from './check.js';

type Shape = readonly number[];

/** `dim` (negative counts from the end) as an index into a shape of `rank` dims. */
export function normalizeDim(dim: unknown, shape: Shape, what: string): number {
  if (typeof dim !== 'number' || !Number.isInteger(dim)) {
    throw new TypeError(`${what}: dim must be an integer, got ${typeof dim === 'number' ? dim : typeof dim}`);
  }
  const rank = shape.length;
  if (dim < -rank || dim >= rank || rank === 0) {
    throw new RangeError(`${what}: dim ${dim} is out of range for shape ${formatShape(shape)} (expected ${rank === 0 ? 'no dim for a 0-d tensor' : `${-rank}..${rank - 1}`})`);
  }
  return dim < 0 ? dim + rank : dim;
}

/** The sizes before, at and after `dim`: the tensor seen as `[outer, size, inner]`. */
export function split(shape: Shape, dim: number): { outer: number; size: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < dim; i++) outer *= shape[i]!;
  for (let i = dim + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, size: shape[dim]!, inner };
}

/** NumPy's (and PyTorch's) broadcast shape of `a` and `b`, or a RangeError naming both. */
export function broadcastShape(a: Shape, b: Shape, what: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(`${what}: shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together (dim ${i} of the result: ${da} vs ${db})`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** A nested array of the values (PyTorch's `tolist`); a 0-d shape gives the number itself. */
export function toNested(x: Float32Array, shape: Shape): unknown {
  if (shape.length === 0) return x[0];
  const build = (dim: number, offset: number): unknown[] => {
    const { size, inner } = split(shape, dim);
    const out: unknown[] = [];
    for (let s = 0; s < size; s++) out.push(dim === shape.length - 1 ? x[offset + s] : build(dim + 1, offset + s * inner));
    return out;
  };
  return build(0, 0);
}
