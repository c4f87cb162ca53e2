// Dead units from the weights alone: interval bounds of every channel, propagated through a
// graph (or Sequential) in eval mode, without any input data.
import { Graph } from '../nn/graph.js';
import type { AnyModule } from '../nn/module.js';
import type { Tensor } from '../tensor.js';

/** Bounds of a tensor's values: per unit (dimension 1) when known, else one interval for all. */
interface Bounds {
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  /** Whether entry u is unit u's interval (false: one entry for every unit). */
  readonly perUnit: boolean;
}

/** One activation layer's provably dead units. */
export interface StaticDeadReport {
  /** The module's path in the model (a graph node path, e.g. `layer1.0.relu1`). */
  layer: string;
  kind: string;
  units: number;
  /** Units whose pre-activation is ≤ 0 for every input. */
  dead: number;
  deadFraction: number;
  /** Their indices, ascending. */
  deadUnits: number[];
}

const ANY: Bounds = { lo: Float64Array.of(-Infinity), hi: Float64Array.of(Infinity), perUnit: false };
/** The activations judged by the dead rule (pre-activation ≤ 0 everywhere). */
const DEAD_KINDS = new Set(['ReLU', 'ReLU6', 'LeakyReLU', 'PReLU']);

/**
 * The units of every ReLU, ReLU6, LeakyReLU and PReLU in `model` (an `nn.Graph` or
 * `nn.Sequential`, as evaluated in eval mode) that are dead for every possible input, judged
 * from the weights alone.
 *
 * The rule, exactly: a unit is reported when an upper bound of its pre-activation over all
 * inputs is ≤ 0. The bounds are intervals per channel (dimension 1), propagated in node order
 * from (−∞, ∞) at the graph's inputs with interval arithmetic:
 * - ReLU, ReLU6, LeakyReLU, PReLU (slope ≥ 0), Hardtanh, Sigmoid, Tanh, Hardsigmoid, ELU map the
 *   interval through their monotone function; other activations give (−∞, ∞);
 * - Conv2d and Linear give output unit o the interval b_o + Σ w·[lo, hi] over its weights
 *   (the upper end takes hi where w > 0 and lo where w < 0; a zero weight adds nothing); zero
 *   padding widens each input interval to include 0;
 * - BatchNorm in eval mode is the affine map a·x + b per channel with a = γ/√(σ² + ε) and
 *   b = β − a·μ (the interval's ends swap where a < 0);
 * - max and average pools (also global and adaptive), Dropout and Identity keep each channel's
 *   interval (padding of an average pool that counts it widens it to include 0); ConstantPad2d
 *   widens it to include its value; Add sums intervals, Cat concatenates them along dim 1;
 * - Flatten, Reshape and any other module merge the channels into one interval (the union),
 *   which every unit of the next Conv2d or Linear then takes;
 * - nested graphs and Sequentials are followed inside.
 * So a unit whose pre-activation is an affine function of non-negative inputs (outputs of a
 * ReLU, or a pool of them) with every coefficient ≤ 0 and a constant ≤ 0 is reported; a sum of
 * products that are each ≤ 0 is ≤ 0 in float32 too, so such a unit is dead on the machine as
 * well. Everything reported is dead on every input; a unit not reported may still be dead.
 */
export function staticDeadUnits(model: AnyModule): StaticDeadReport[] {
  const rows: StaticDeadReport[] = [];
  const inputs = model instanceof Graph ? model.inputs.map(() => ANY) : [ANY];
  propagate(model, inputs, '', rows);
  return rows;
}

function propagate(m: AnyModule, xs: Bounds[], path: string, rows: StaticDeadReport[]): Bounds {
  if (m instanceof Graph) {
    const values = new Map<string, Bounds>(m.inputs.map((name, i) => [name, xs[i] ?? ANY]));
    for (const node of m.nodes()) {
      values.set(node.name, propagate(node.module, node.inputs.map((i) => values.get(i) ?? ANY), path === '' ? node.name : `${path}.${node.name}`, rows));
    }
    return m.outputs.length === 1 ? values.get(m.outputs[0]!) ?? ANY : ANY;
  }
  const x = xs[0] ?? ANY;
  const kind = m.kind;
  if (DEAD_KINDS.has(kind)) {
    const units = x.perUnit ? x.hi.length : activationUnits(m);
    if (units > 0) {
      const dead: number[] = [];
      for (let u = 0; u < units; u++) if ((x.perUnit ? x.hi[u]! : x.hi[0]!) <= 0) dead.push(u);
      rows.push({ layer: path, kind, units, dead: dead.length, deadFraction: dead.length / units, deadUnits: dead });
    }
  }
  const p = m as unknown as Record<string, unknown>;
  switch (kind) {
    case 'ReLU':
      return monotone(x, (v) => Math.max(v, 0));
    case 'ReLU6':
      return monotone(x, (v) => Math.min(Math.max(v, 0), 6));
    case 'LeakyReLU': {
      const s = p.negativeSlope as number;
      return s >= 0 ? monotone(x, (v) => (v > 0 ? v : s * v)) : ANY;
    }
    case 'PReLU': {
      const w = (p.weight as { data: Tensor }).data.data;
      if (w.some((s) => !(s >= 0))) return ANY;
      if (w.length === 1) return monotone(x, (v) => (v > 0 ? v : w[0]! * v));
      const out = unitBounds(x, w.length);
      return out === null ? ANY : map(out, (v, u) => (v > 0 ? v : w[u]! * v));
    }
    case 'Hardtanh':
      return monotone(x, (v) => Math.min(Math.max(v, p.minVal as number), p.maxVal as number));
    case 'Sigmoid':
      return monotone(x, (v) => 1 / (1 + Math.exp(-v)));
    case 'Tanh':
      return monotone(x, Math.tanh);
    case 'Hardsigmoid':
      return monotone(x, (v) => Math.min(Math.max(v / 6 + 0.5, 0), 1));
    case 'ELU':
      return (p.alpha as number) >= 0 ? monotone(x, (v) => (v > 0 ? v : (p.alpha as number) * Math.expm1(v))) : ANY;
    case 'MaxPool2d':
    case 'GlobalMaxPool2d':
    case 'GlobalAvgPool2d':
    case 'AdaptiveAvgPool2d':
    case 'Dropout':
    case 'Identity':
      return x;
    case 'AvgPool2d':
      return p.countIncludePad === false || isZero(p.padding) ? x : widen(x, 0);
    case 'ConstantPad2d':
      return widen(x, p.value as number);
    case 'Add':
      return sum(xs);
    case 'Cat':
      return (p.dim as number) === 1 && xs.every((b) => b.perUnit) ? { lo: concat(xs.map((b) => b.lo)), hi: concat(xs.map((b) => b.hi)), perUnit: true } : union(xs);
    case 'Flatten':
    case 'Reshape':
      return union([x]);
    case 'BatchNorm1d':
    case 'BatchNorm2d':
      return batchNorm(m, x);
    case 'Conv2d':
    case 'Linear':
      return affine(m, kind === 'Conv2d' && !isZero(p.padding) ? widen(x, 0) : x);
    default:
      return ANY;
  }
}

/** The unit count an activation module knows by itself (PReLU's per-channel slopes). */
function activationUnits(m: AnyModule): number {
  const n = (m as unknown as { numParameters?: number }).numParameters;
  return typeof n === 'number' && n > 1 ? n : 0;
}

function isZero(padding: unknown): boolean {
  return padding === 0 || (Array.isArray(padding) && padding.every((v) => v === 0));
}

/** A non-decreasing function maps an interval's ends to the image's ends. */
function monotone(x: Bounds, f: (v: number) => number): Bounds {
  return map(x, f);
}

function map(x: Bounds, f: (v: number, unit: number) => number): Bounds {
  return { lo: x.lo.map((v, u) => f(v, u)), hi: x.hi.map((v, u) => f(v, u)), perUnit: x.perUnit };
}

function widen(x: Bounds, v: number): Bounds {
  return { lo: x.lo.map((l) => Math.min(l, v)), hi: x.hi.map((h) => Math.max(h, v)), perUnit: x.perUnit };
}

/** Per-unit bounds for `units` units, or null when x has per-unit bounds of another count. */
function unitBounds(x: Bounds, units: number): Bounds | null {
  if (x.perUnit) return x.lo.length === units ? x : null;
  return { lo: new Float64Array(units).fill(x.lo[0]!), hi: new Float64Array(units).fill(x.hi[0]!), perUnit: true };
}

function union(xs: Bounds[]): Bounds {
  let lo = Infinity;
  let hi = -Infinity;
  for (const b of xs) {
    for (const v of b.lo) lo = Math.min(lo, v);
    for (const v of b.hi) hi = Math.max(hi, v);
  }
  return { lo: Float64Array.of(lo), hi: Float64Array.of(hi), perUnit: false };
}

function concat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function sum(xs: Bounds[]): Bounds {
  const per = xs.find((b) => b.perUnit);
  const units = per === undefined ? 1 : per.lo.length;
  const parts = xs.map((b) => unitBounds(b, units));
  if (parts.some((b) => b === null)) return ANY;
  const lo = new Float64Array(units);
  const hi = new Float64Array(units);
  for (const b of parts) for (let u = 0; u < units; u++) {
    lo[u]! += b!.lo[b!.perUnit ? u : 0]!;
    hi[u]! += b!.hi[b!.perUnit ? u : 0]!;
  }
  return { lo, hi, perUnit: per !== undefined };
}

function batchNorm(m: AnyModule, x: Bounds): Bounds {
  const p = m as unknown as { numFeatures: number; eps: number; weight: { data: Tensor } | null; bias: { data: Tensor } | null; runningMean: Tensor | null; runningVar: Tensor | null };
  if (p.runningMean === null || p.runningVar === null) return ANY; // batch statistics: anything
  const n = p.numFeatures;
  const b = unitBounds(x, n);
  if (b === null) return ANY;
  const lo = new Float64Array(n);
  const hi = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    const a = (p.weight?.data.data[c] ?? 1) / Math.sqrt(p.runningVar.data[c]! + p.eps);
    const shift = (p.bias?.data.data[c] ?? 0) - a * p.runningMean.data[c]!;
    const ends = [scale(a, b.lo[c]!) + shift, scale(a, b.hi[c]!) + shift];
    lo[c] = Math.min(ends[0]!, ends[1]!);
    hi[c] = Math.max(ends[0]!, ends[1]!);
  }
  return { lo, hi, perUnit: true };
}

/** a·v with 0·∞ = 0 (a zero coefficient ignores its input). */
function scale(a: number, v: number): number {
  return a === 0 ? 0 : a * v;
}

/** Conv2d / Linear: unit o's interval from its weights over the input channels' intervals. */
function affine(m: AnyModule, x: Bounds): Bounds {
  const p = m as unknown as { weight: { data: Tensor }; bias: { data: Tensor } | null; groups?: number };
  const w = p.weight.data;
  const out = w.shape[0]!;
  const inPerGroup = w.shape[1]!;
  const taps = w.shape.slice(2).reduce((a, b) => a * b, 1);
  const groups = p.groups ?? 1;
  const inUnits = inPerGroup * groups;
  const b = x.perUnit && x.lo.length === inUnits ? x : union([x]);
  const lo = new Float64Array(out);
  const hi = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    const g = Math.floor(o / (out / groups));
    let l = p.bias?.data.data[o] ?? 0;
    let h = l;
    for (let i = 0; i < inPerGroup; i++) {
      const unit = b.perUnit ? g * inPerGroup + i : 0;
      const [xl, xh] = [b.lo[unit]!, b.hi[unit]!];
      for (let k = 0; k < taps; k++) {
        const wv = w.data[(o * inPerGroup + i) * taps + k]!;
        if (wv > 0) {
          l += scale(wv, xl);
          h += scale(wv, xh);
        } else if (wv < 0) {
          l += scale(wv, xh);
          h += scale(wv, xl);
        }
      }
    }
    lo[o] = l;
    hi[o] = h;
  }
  return { lo, hi, perUnit: true };
}
