// Elementwise arithmetic in plain TypeScript: the same functions as liven-core's
// elementwise.rs, the reference the native kernels are tested against. Stored into a
// Float32Array, a float64 sum, difference, product or quotient of two float32 values rounds to
// exactly the float32 result, so the arithmetic here is bit-for-bit PyTorch's and liven-core's.
import { BINARY_OPS } from '../types.js';

type Shape = ArrayLike<number>;

/** Row-major strides of `shape` read against `out` (right-aligned), 0 where it is broadcast. */
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

/** The arithmetic of each `BINARY_OPS` code. */
const OPS: Record<number, (x: number, y: number) => number> = {
  [BINARY_OPS.add]: (x, y) => x + y,
  [BINARY_OPS.sub]: (x, y) => x - y,
  [BINARY_OPS.mul]: (x, y) => x * y,
  [BINARY_OPS.div]: (x, y) => x / y,
};

/**
 * `out = a op b` with `a` and `b` broadcast to their common shape (`op` a `BINARY_OPS` code).
 * Equal lengths take one flat loop; otherwise the innermost dim runs as a loop with fixed
 * strides and an odometer carries the outer ones.
 */
export function binaryBroadcast(a: Float32Array, aShape: Uint32Array, b: Float32Array, bShape: Uint32Array, out: Float32Array, op: number): void {
  const f = OPS[op]!;
  const n = out.length;
  if (n === 0) return;
  if (a.length === n && b.length === n) {
    sameShape(a, b, out, op);
    return;
  }
  const rank = Math.max(aShape.length, bShape.length);
  const outShape = Array.from({ length: rank }, (_, i) => Math.max(aShape[aShape.length - rank + i] ?? 1, bShape[bShape.length - rank + i] ?? 1));
  const sa = broadcastStrides(aShape, outShape);
  const sb = broadcastStrides(bShape, outShape);
  const last = outShape[rank - 1]!;
  const la = sa[rank - 1]!;
  const lb = sb[rank - 1]!;
  const index = new Array<number>(rank).fill(0);
  let ia = 0;
  let ib = 0;
  for (let o = 0; o < n; o += last) {
    for (let j = 0; j < last; j++) out[o + j] = f(a[ia + j * la]!, b[ib + j * lb]!);
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

/** The flat loop of equal shapes, one per operation: a call through `OPS` per element costs V8 several times the arithmetic. */
function sameShape(a: Float32Array, b: Float32Array, out: Float32Array, op: number): void {
  const n = out.length;
  if (op === BINARY_OPS.add) for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
  else if (op === BINARY_OPS.sub) for (let i = 0; i < n; i++) out[i] = a[i]! - b[i]!;
  else if (op === BINARY_OPS.mul) for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!;
  else for (let i = 0; i < n; i++) out[i] = a[i]! / b[i]!;
}

/** `target += source` elementwise. */
export function addInto(target: Float32Array, source: Float32Array): void {
  for (let i = 0; i < target.length; i++) target[i]! += source[i]!;
}

/** Copies `rows` rows of `len` elements, row r from `src[r·srcStride..]` to `dst[r·dstStride..]`. */
export function copyRows(src: Float32Array, srcStride: number, dst: Float32Array, dstStride: number, rows: number, len: number): void {
  for (let r = 0; r < rows; r++) {
    const [s, d] = [r * srcStride, r * dstStride];
    // Short rows element by element: a subarray per row costs more than the copy.
    if (len < 64) for (let i = 0; i < len; i++) dst[d + i] = src[s + i]!;
    else dst.set(src.subarray(s, s + len), d);
  }
}

/**
 * The sums over `dims` (sorted, distinct) of `x` (shape `shape`) divided by `divisor`, into
 * `out`: one dim at a time from the last, each an `[outer, size, inner] → [outer, inner]` pass
 * in float64, rounded once at the end.
 */
export function sumDims(x: Float32Array, shape: Uint32Array, dims: Uint32Array, out: Float32Array, divisor: number): void {
  let data: Float64Array = Float64Array.from(x);
  let current = [...shape];
  for (let k = dims.length - 1; k >= 0; k--) {
    const dim = dims[k]!;
    const size = current[dim]!;
    const outer = current.slice(0, dim).reduce((p, d) => p * d, 1);
    const inner = current.slice(dim + 1).reduce((p, d) => p * d, 1);
    const next = new Float64Array(outer * inner);
    for (let o = 0; o < outer; o++) {
      for (let s = 0; s < size; s++) {
        const from = (o * size + s) * inner;
        for (let i = 0; i < inner; i++) next[o * inner + i]! += data[from + i]!;
      }
    }
    data = next;
    current = current.filter((_, i) => i !== dim);
  }
  for (let i = 0; i < out.length; i++) out[i] = data[i]! / divisor;
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
