// Load-time evaluation of the constant subgraphs torch.onnx.export writes: Constant nodes and
// the shape arithmetic around Reshape and Pad (Shape → Gather → Unsqueeze → Concat, Slice,
// Transpose, Cast, ...). A dimension only known at run time (Shape of a computed tensor, or a
// symbolic input dimension) is carried as a symbol `{ of, dim }` through the ops that only move
// values (Gather, Unsqueeze, Squeeze, Concat, Reshape, Identity, Cast); arithmetic on it makes
// the value non-constant.
import type { OnnxAttribute, OnnxModel, OnnxNode, OnnxTensor } from './reader.js';

/** Dimension `dim` of tensor `of`, known only when the graph runs. */
export interface DimSymbol {
  readonly of: string;
  readonly dim: number;
}
export type Elem = number | DimSymbol;

/** A constant value: row-major elements with dims; `shapeOf` marks the whole Shape of a runtime tensor. */
export interface ConstValue {
  readonly dims: readonly number[];
  readonly values: readonly Elem[];
  readonly integer: boolean;
}

interface ShapeOf {
  readonly shapeOf: string;
}

type Known = ConstValue | ShapeOf;

/** The model split into constants (by tensor name) and the nodes that remain to run. */
export interface Folded {
  readonly constants: ReadonlyMap<string, ConstValue>;
  /** Initializers and Constant tensors with float data, for weights (no copy into arrays). */
  readonly tensors: ReadonlyMap<string, OnnxTensor>;
  readonly nodes: readonly OnnxNode[];
}

/** Ops evaluated at load time when all their inputs are known. */
const FOLDABLE = new Set(['Constant', 'Identity', 'Cast', 'Shape', 'Gather', 'Unsqueeze', 'Squeeze', 'Concat', 'Reshape', 'Slice', 'Transpose', 'Add', 'Sub', 'Mul', 'Div', 'ConstantOfShape']);

export function isSymbol(e: Elem): e is DimSymbol {
  return typeof e !== 'number';
}

/**
 * Evaluates every node whose inputs are all constant (or the shape of a runtime tensor, for
 * Shape), in dependency order. Nodes that cannot be evaluated stay in `nodes`.
 */
export function foldConstants(model: OnnxModel): Folded {
  const tensors = new Map(model.initializers);
  const known = new Map<string, Known>();
  const staticDims = new Map(model.inputs.map((i) => [i.name, i.dims]));
  const get = (name: string): Known | undefined => {
    const k = known.get(name);
    if (k !== undefined) return k;
    const t = tensors.get(name);
    // Weights are left alone: only small tensors take part in shape arithmetic.
    if (t === undefined || t.data.length > 1 << 16) return undefined;
    const v: ConstValue = { dims: t.dims, values: Array.from(t.data), integer: t.integer };
    known.set(name, v);
    return v;
  };
  const remaining: OnnxNode[] = [];
  for (const node of model.nodes) {
    const result = FOLDABLE.has(node.opType) ? evaluate(node, get, model.opset, staticDims) : null;
    if (result === null) {
      remaining.push(node);
      continue;
    }
    known.set(node.outputs[0]!, result);
    if (node.opType === 'Constant' && 'values' in result && !result.integer) {
      const t = node.attributes.get('value');
      if (t !== undefined && typeof t === 'object' && 'data' in t) tensors.set(node.outputs[0]!, t);
    }
  }
  const constants = new Map<string, ConstValue>();
  for (const [name, k] of known) if ('values' in k) constants.set(name, k);
  return { constants, tensors, nodes: remaining };
}

function evaluate(node: OnnxNode, get: (name: string) => Known | undefined, opset: number, staticDims: Map<string, readonly (number | string)[] | null>): Known | null {
  const op = node.opType;
  if (op === 'Constant') return constantAttribute(node);
  if (op === 'Shape') {
    const x = node.inputs[0]!;
    const k = get(x);
    if (k !== undefined && 'values' in k) return ints([k.dims.length], [...k.dims]);
    const dims = staticDims.get(x);
    if (dims != null && node.attributes.get('start') === undefined && node.attributes.get('end') === undefined) {
      return ints([dims.length], dims.map((d, i) => (typeof d === 'number' ? d : { of: x, dim: i })));
    }
    return node.attributes.size === 0 ? { shapeOf: x } : null;
  }
  const args = node.inputs.map((i) => (i === '' ? null : get(i)));
  if (args.some((a) => a === undefined)) return null;
  // A runtime tensor's whole shape only feeds a Gather of fixed, non-negative indices.
  if (args.some((a) => a !== null && 'shapeOf' in a!)) {
    if (op !== 'Gather' || args[0] === null || !('shapeOf' in args[0]!) || !isConst(args[1])) return null;
    const idx = args[1];
    if (idx.values.some((v) => isSymbol(v) || v < 0) || (node.attributes.get('axis') ?? 0) !== 0) return null;
    const of = (args[0] as ShapeOf).shapeOf;
    return { dims: idx.dims, values: idx.values.map((v) => ({ of, dim: v as number })), integer: true };
  }
  const a = args as (ConstValue | null)[];
  const x = a[0];
  if (x === null || x === undefined) return null;
  switch (op) {
    case 'Identity':
      return x;
    case 'Cast': {
      const to = node.attributes.get('to');
      const integer = to !== 1 && to !== 10 && to !== 11;
      return { dims: x.dims, values: integer ? x.values.map((v) => (isSymbol(v) ? v : Math.trunc(v))) : x.values, integer };
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      const axesAttr = opset >= 13 ? (a[1] != null ? numbers(a[1]) : null) : (node.attributes.get('axes') as readonly number[] | undefined) ?? null;
      if (axesAttr === null && op === 'Unsqueeze') return null;
      if (op === 'Unsqueeze') {
        const rank = x.dims.length + axesAttr!.length;
        const axes = new Set(axesAttr!.map((ax) => (ax < 0 ? ax + rank : ax)));
        const dims: number[] = [];
        let j = 0;
        for (let i = 0; i < rank; i++) dims.push(axes.has(i) ? 1 : x.dims[j++]!);
        return { ...x, dims };
      }
      const axes = axesAttr === null ? null : new Set(axesAttr.map((ax) => (ax < 0 ? ax + x.dims.length : ax)));
      return { ...x, dims: x.dims.filter((d, i) => !(axes === null ? d === 1 : axes.has(i))) };
    }
    case 'Reshape': {
      if (!isConst(a[1])) return null;
      const shape = numbers(a[1]);
      if (shape === null) return null;
      const dims = shape.map((d, i) => (d === 0 ? x.dims[i]! : d));
      const known = dims.filter((d) => d !== -1).reduce((p, q) => p * q, 1);
      const full = dims.map((d) => (d === -1 ? x.values.length / known : d));
      if (full.reduce((p, q) => p * q, 1) !== x.values.length) return null;
      return { ...x, dims: full };
    }
    case 'Concat': {
      const parts = a.filter((p): p is ConstValue => p !== null);
      let axis = numberAttr(node, 'axis', 0);
      if (axis < 0) axis += x.dims.length;
      return concat(parts, axis);
    }
    case 'Gather': {
      if (!isConst(a[1])) return null;
      let axis = numberAttr(node, 'axis', 0);
      if (axis < 0) axis += x.dims.length;
      const idx = a[1];
      return gather(x, idx, axis);
    }
    case 'Slice':
      return slice(node, x, a, opset);
    case 'Transpose': {
      const perm = (node.attributes.get('perm') as readonly number[] | undefined) ?? x.dims.map((_, i) => x.dims.length - 1 - i);
      return transpose(x, perm);
    }
    case 'ConstantOfShape': {
      const shape = numbers(x);
      if (shape === null) return null;
      const v = node.attributes.get('value') as OnnxTensor | undefined;
      const fill = v === undefined ? 0 : v.data[0] ?? 0;
      const count = shape.reduce((p, q) => p * q, 1);
      if (count > 1 << 20) return null;
      return { dims: shape, values: new Array<number>(count).fill(fill), integer: v === undefined ? false : v.integer };
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div': {
      const y = a[1];
      if (y == null) return null;
      // Weights are not folded: only small (shape-sized) arithmetic.
      if (x.values.length > 4096 || y.values.length > 4096) return null;
      return elementwise(op, x, y);
    }
  }
  return null;
}

function isConst(k: Known | null | undefined): k is ConstValue {
  return k != null && 'values' in k;
}

function ints(dims: number[], values: Elem[]): ConstValue {
  return { dims, values, integer: true };
}

/** The values as plain numbers, or null when one is a runtime dimension. */
export function numbers(v: ConstValue): number[] | null {
  return v.values.every((e) => !isSymbol(e)) ? (v.values as number[]) : null;
}

function numberAttr(node: OnnxNode, name: string, fallback: number): number {
  const v = node.attributes.get(name);
  return typeof v === 'number' ? v : fallback;
}

function constantAttribute(node: OnnxNode): ConstValue | null {
  const attr = (name: string): OnnxAttribute | undefined => node.attributes.get(name);
  const t = attr('value');
  if (t !== undefined && typeof t === 'object' && 'data' in t) return { dims: t.dims, values: Array.from(t.data), integer: t.integer };
  const f = attr('value_float');
  if (typeof f === 'number') return { dims: [], values: [f], integer: false };
  const i = attr('value_int');
  if (typeof i === 'number') return ints([], [i]);
  const fs = attr('value_floats');
  if (Array.isArray(fs)) return { dims: [fs.length], values: [...fs], integer: false };
  const is = attr('value_ints');
  if (Array.isArray(is)) return ints([is.length], [...is]);
  return null;
}

function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1]! * dims[i + 1]!;
  return s;
}

/** Calls `f` with each multi-index of `dims` in row-major order. */
function eachIndex(dims: readonly number[], f: (idx: number[]) => void): void {
  const count = dims.reduce((p, q) => p * q, 1);
  const idx = new Array<number>(dims.length).fill(0);
  for (let n = 0; n < count; n++) {
    f(idx);
    for (let d = dims.length - 1; d >= 0; d--) {
      if (++idx[d]! < dims[d]!) break;
      idx[d] = 0;
    }
  }
}

function at(v: ConstValue, idx: readonly number[], s = strides(v.dims)): Elem {
  let off = 0;
  for (let d = 0; d < idx.length; d++) off += idx[d]! * s[d]!;
  return v.values[off]!;
}

function concat(parts: ConstValue[], axis: number): ConstValue | null {
  const first = parts[0]!;
  if (axis < 0 || axis >= first.dims.length) return null;
  if (parts.some((p) => p.dims.length !== first.dims.length || p.dims.some((d, i) => i !== axis && d !== first.dims[i]))) return null;
  const dims = [...first.dims];
  dims[axis] = parts.reduce((s, p) => s + p.dims[axis]!, 0);
  const offsets = parts.map((_, i) => parts.slice(0, i).reduce((s, p) => s + p.dims[axis]!, 0));
  const values: Elem[] = [];
  eachIndex(dims, (idx) => {
    let k = parts.length - 1;
    while (offsets[k]! > idx[axis]!) k--;
    const local = [...idx];
    local[axis] = idx[axis]! - offsets[k]!;
    values.push(at(parts[k]!, local));
  });
  return { dims, values, integer: parts.every((p) => p.integer) };
}

function gather(x: ConstValue, idx: ConstValue, axis: number): ConstValue | null {
  const indices = numbers(idx);
  if (indices === null || axis < 0 || axis >= x.dims.length) return null;
  const n = x.dims[axis]!;
  if (indices.some((i) => i < -n || i >= n || !Number.isInteger(i))) return null;
  const dims = [...x.dims.slice(0, axis), ...idx.dims, ...x.dims.slice(axis + 1)];
  const s = strides(x.dims);
  const values: Elem[] = [];
  const idxStrides = strides(idx.dims);
  eachIndex(dims, (out) => {
    const pick = out.slice(axis, axis + idx.dims.length);
    let off = 0;
    for (let d = 0; d < pick.length; d++) off += pick[d]! * idxStrides[d]!;
    const i = indices[off]!;
    values.push(at(x, [...out.slice(0, axis), i < 0 ? i + n : i, ...out.slice(axis + idx.dims.length)], s));
  });
  return { dims, values, integer: x.integer };
}

function slice(node: OnnxNode, x: ConstValue, a: (ConstValue | null)[], opset: number): ConstValue | null {
  let starts: number[] | null, ends: number[] | null, axes: number[] | null, steps: number[] | null;
  if (opset >= 10) {
    starts = a[1] ? numbers(a[1]) : null;
    ends = a[2] ? numbers(a[2]) : null;
    axes = a[3] ? numbers(a[3]) : x.dims.map((_, i) => i).slice(0, starts?.length ?? 0);
    steps = a[4] ? numbers(a[4]) : (starts ?? []).map(() => 1);
  } else {
    starts = (node.attributes.get('starts') as number[] | undefined) ?? null;
    ends = (node.attributes.get('ends') as number[] | undefined) ?? null;
    axes = (node.attributes.get('axes') as number[] | undefined) ?? x.dims.map((_, i) => i).slice(0, starts?.length ?? 0);
    steps = (starts ?? []).map(() => 1);
  }
  if (starts === null || ends === null || axes === null || steps === null || steps.some((s) => s === 0)) return null;
  const begin = x.dims.map(() => 0);
  const step = x.dims.map(() => 1);
  const dims = [...x.dims];
  for (let k = 0; k < starts.length; k++) {
    const ax = axes[k]! < 0 ? axes[k]! + x.dims.length : axes[k]!;
    const n = x.dims[ax]!;
    const st = steps[k]!;
    const clampStart = (v: number): number => (v < 0 ? v + n : v);
    let s = clampStart(starts[k]!);
    let e = clampStart(ends[k]!);
    if (st > 0) {
      s = Math.min(Math.max(s, 0), n);
      e = Math.min(Math.max(e, 0), n);
      dims[ax] = Math.max(0, Math.ceil((e - s) / st));
    } else {
      s = Math.min(Math.max(s, -1), n - 1);
      e = Math.min(Math.max(e, -1), n - 1);
      dims[ax] = Math.max(0, Math.ceil((s - e) / -st));
    }
    begin[ax] = s;
    step[ax] = st;
  }
  const values: Elem[] = [];
  const s = strides(x.dims);
  eachIndex(dims, (idx) => values.push(at(x, idx.map((i, d) => begin[d]! + i * step[d]!), s)));
  return { dims, values, integer: x.integer };
}

function transpose(x: ConstValue, perm: readonly number[]): ConstValue | null {
  if (perm.length !== x.dims.length || new Set(perm).size !== perm.length || perm.some((p) => !(p >= 0 && p < perm.length))) return null;
  const dims = perm.map((p) => x.dims[p]!);
  const s = strides(x.dims);
  const values: Elem[] = [];
  eachIndex(dims, (idx) => {
    const src = new Array<number>(idx.length);
    perm.forEach((p, i) => (src[p] = idx[i]!));
    values.push(at(x, src, s));
  });
  return { dims, values, integer: x.integer };
}

function elementwise(op: string, x: ConstValue, y: ConstValue): ConstValue | null {
  const xs = numbers(x);
  const ys = numbers(y);
  if (xs === null || ys === null) return null;
  const rank = Math.max(x.dims.length, y.dims.length);
  const pad = (d: readonly number[]): number[] => [...new Array<number>(rank - d.length).fill(1), ...d];
  const dx = pad(x.dims);
  const dy = pad(y.dims);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) {
    if (dx[i] !== dy[i] && dx[i] !== 1 && dy[i] !== 1) return null;
    dims.push(dx[i] === 1 ? dy[i]! : dx[i]!);
  }
  if (dims.reduce((p, q) => p * q, 1) > 1 << 16) return null;
  const integer = x.integer && y.integer;
  const sx = strides(dx);
  const sy = strides(dy);
  const values: number[] = [];
  eachIndex(dims, (idx) => {
    let ox = 0;
    let oy = 0;
    for (let d = 0; d < rank; d++) {
      if (dx[d] !== 1) ox += idx[d]! * sx[d]!;
      if (dy[d] !== 1) oy += idx[d]! * sy[d]!;
    }
    const p = xs[ox]!;
    const q = ys[oy]!;
    let r = op === 'Add' ? p + q : op === 'Sub' ? p - q : op === 'Mul' ? p * q : p / q;
    if (integer && op === 'Div') r = Math.trunc(r);
    values.push(integer || Math.fround(r) === r ? r : Math.fround(r));
  });
  return { dims, values, integer };
}
