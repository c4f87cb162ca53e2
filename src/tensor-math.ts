// The arithmetic behind Tensor's PyTorch-named helpers (add, sum, argmax, narrow, ...), on plain
// row-major Float32Arrays and shapes, so that tensor.ts stays the class and this file the loops.
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

/** Row-major strides of `shape` read as a shape of rank `rank`, with 0 where it is broadcast. */
function broadcastStrides(shape: Shape, out: Shape): number[] {
  const strides = new Array<number>(out.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = out.length - shape.length + i;
    strides[o] = shape[i] === 1 && out[o] !== 1 ? 0 : stride;
    stride *= shape[i]!;
  }
  return strides;
}

export type BinaryOp = (x: number, y: number) => number;

/**
 * `op` applied elementwise to `a` and `b` broadcast to `outShape` (from `broadcastShape`) into
 * `out`. Equal shapes take one flat loop; otherwise the innermost dim runs as a loop with fixed
 * strides and an odometer carries the outer ones.
 */
export function broadcastBinary(a: Float32Array, aShape: Shape, b: Float32Array, bShape: Shape, out: Float32Array, outShape: Shape, op: BinaryOp): void {
  const n = out.length;
  if (n === 0) return;
  if (a.length === n && b.length === n) {
    for (let i = 0; i < n; i++) out[i] = op(a[i]!, b[i]!);
    return;
  }
  const rank = outShape.length;
  const sa = broadcastStrides(aShape, outShape);
  const sb = broadcastStrides(bShape, outShape);
  const last = outShape[rank - 1]!;
  const la = sa[rank - 1]!;
  const lb = sb[rank - 1]!;
  const index = new Array<number>(rank).fill(0);
  let ia = 0;
  let ib = 0;
  for (let o = 0; o < n; o += last) {
    for (let j = 0; j < last; j++) out[o + j] = op(a[ia + j * la]!, b[ib + j * lb]!);
    // Advance the odometer over the outer dims.
    for (let d = rank - 2; d >= 0; d--) {
      index[d]!++;
      ia += sa[d]!;
      ib += sb[d]!;
      if (index[d]! < outShape[d]!) break;
      ia -= sa[d]! * outShape[d]!;
      ib -= sb[d]! * outShape[d]!;
      index[d] = 0;
    }
  }
}

/** Sums over the dims in `dims` (sorted, distinct) into `out`, accumulating in float64. */
export function sumDims(x: Float32Array, shape: Shape, dims: readonly number[], out: Float32Array): void {
  if (dims.length === 0) {
    out.set(x);
    return;
  }
  // One dim at a time from the last, each a [outer, size, inner] → [outer, inner] pass in float64.
  let data: Float64Array = Float64Array.from(x);
  let current = [...shape];
  for (let k = dims.length - 1; k >= 0; k--) {
    const { outer, size, inner } = split(current, dims[k]!);
    const next = new Float64Array(outer * inner);
    for (let o = 0; o < outer; o++) {
      for (let s = 0; s < size; s++) {
        const from = (o * size + s) * inner;
        for (let i = 0; i < inner; i++) next[o * inner + i]! += data[from + i]!;
      }
    }
    data = next;
    current = current.filter((_, i) => i !== dims[k]);
  }
  for (let i = 0; i < out.length; i++) out[i] = data[i]!;
}

/**
 * The index of the largest value along the middle dim of `[outer, size, inner]`, per
 * (outer, inner) pair, as PyTorch picks it: NaN counts as larger than every number, and the first
 * of equal maxima wins.
 */
export function argmaxAlong(x: Float32Array, outer: number, size: number, inner: number, out: Int32Array): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * size * inner + i;
      let best = 0;
      let bestValue = x[base]!;
      for (let s = 1; s < size && !Number.isNaN(bestValue); s++) {
        const v = x[base + s * inner]!;
        if (v > bestValue || Number.isNaN(v)) {
          best = s;
          bestValue = v;
        }
      }
      out[o * inner + i] = best;
    }
  }
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
