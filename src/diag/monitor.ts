import { kernels } from '../backend/index.js';
import { HIST_BINS, HIST_MAX_EXP, HIST_MIN_EXP, STAT_FIELDS as F, STAT_FIELD_COUNT } from '../backend/js/stats.js';
import { checkOptions, describeValue, formatShape } from '../check.js';
import { CELU, ELU, GELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, Mish, PReLU, ReLU, ReLU6, SELU, SiLU, Sigmoid, Softplus, Tanh } from '../nn/activation.js';
import { Module } from '../nn/module.js';
import { Tensor, checkTensor } from '../tensor.js';

/**
 * The unit layout of an activation: units are dimension 1 (features of `[N, F]`, channels of
 * `[N, C, ...]`), `inner` the elements per unit per sample. A 1-D tensor is one sample.
 */
export function unitLayout(shape: readonly number[]): { outer: number; units: number; inner: number } {
  if (shape.length === 0) return { outer: 1, units: 1, inner: 1 };
  if (shape.length === 1) return { outer: 1, units: shape[0]!, inner: 1 };
  const inner = shape.slice(2).reduce((a, b) => a * b, 1);
  return { outer: shape[0]!, units: shape[1]!, inner };
}

/** Dead units of one batch: those whose pre-activation is `<= 0` at every sample and position. */
export function deadUnits(preActivation: Tensor): { dead: Uint8Array; count: number; fraction: number } {
  const x = checkTensor(preActivation, 'diag.deadUnits: preActivation');
  const { units, inner } = unitLayout(x.shape);
  if (units === 0 || inner === 0 || x.size === 0) {
    throw new RangeError(`diag.deadUnits: preActivation of shape ${formatShape(x.shape)} has no elements to judge units by`);
  }
  const acc = freshAccumulator(units);
  kernels().unitStats(x.data, x.data, units, inner, acc, NaN, NaN);
  const dead = new Uint8Array(units);
  let count = 0;
  for (let u = 0; u < units; u++) {
    if (acc[F.active * units + u] === 0) {
      dead[u] = 1;
      count++;
    }
  }
  return { dead, count, fraction: count / units };
}

function freshAccumulator(units: number): Float64Array {
  const acc = new Float64Array(STAT_FIELD_COUNT * units);
  acc.fill(Infinity, F.min * units, (F.min + 1) * units);
  acc.fill(-Infinity, F.max * units, (F.max + 1) * units);
  return acc;
}

/** The activation modules the monitor watches. */
export type ActivationKind = 'ReLU' | 'ReLU6' | 'LeakyReLU' | 'PReLU' | 'ELU' | 'CELU' | 'SELU' | 'GELU' | 'SiLU' | 'Mish' | 'Softplus' | 'Hardswish' | 'Sigmoid' | 'Tanh' | 'Hardtanh' | 'Hardsigmoid';

/** The ReLU family: the kinds judged by the dead rule (pre-activation <= 0 everywhere). */
const DEAD_RULE_KINDS: ReadonlySet<ActivationKind> = new Set(['ReLU', 'ReLU6', 'LeakyReLU', 'PReLU']);

/** The share of a bounded activation's range at each end that counts as its flat part. */
export const SATURATION_MARGIN = 0.01;

/**
 * The output range `[lo, hi]` of a bounded activation (Sigmoid, Tanh, Hardtanh, Hardsigmoid,
 * ReLU6), or null for the others. An output is saturated when it lies within
 * SATURATION_MARGIN of the range's width of either end: `y <= lo + 0.01·(hi − lo)` or
 * `y >= hi − 0.01·(hi − lo)`.
 */
export function saturationRange(m: Module): [number, number] | null {
  if (m instanceof Sigmoid || m instanceof Hardsigmoid) return [0, 1];
  if (m instanceof Tanh) return [-1, 1];
  if (m instanceof ReLU6) return [0, 6];
  if (m instanceof Hardtanh) return [m.minVal, m.maxVal];
  return null;
}

/** One layer's line of `ActivationMonitor.report()` (API.md, diag). */
export interface LayerReport {
  /** The module's path in the model, e.g. "3" or "block.1" ('' for the model itself). */
  layer: string;
  kind: ActivationKind;
  units: number;
  /**
   * Units whose pre-activation was <= 0 at every sample and position: the dead rule, for the
   * ReLU family (ReLU, ReLU6, LeakyReLU, PReLU). Always 0 for the other kinds, whose gradient
   * does not vanish on a sign: their failures show as `nearlyDead` and `saturated`.
   */
  dead: number;
  deadFraction: number;
  /** Units that are not dead whose largest |output| stayed below the threshold (every kind). */
  nearlyDead: number;
  dormant: number;
  /**
   * Bounded kinds (Sigmoid, Tanh, Hardtanh, Hardsigmoid, ReLU6): units every output of which was
   * in a flat part, within 1% of the range's width of either end (see `saturationRange`); for
   * ReLU6 this includes its dead units, whose outputs are all 0. `null` for the unbounded kinds,
   * which have no such range.
   */
  saturated: number | null;
  /** Fraction of output values exactly 0 in the window. */
  zeroFraction: number;
  mean: number;
  /** Of all outputs in the window, with Bessel's correction (as torch.std). */
  std: number;
  min: number;
  max: number;
  /** Beyond API.md: samples (dimension 0) seen in the window. */
  samples: number;
  /** Beyond API.md: units with a NaN or infinite output in the window. */
  nonFinite: number;
}

/** Per-unit detail of one layer (`ActivationMonitor.unitReport`). */
export interface UnitReport {
  layer: string;
  dead: Uint8Array;
  nearlyDead: Uint8Array;
  dormant: Uint8Array;
  /** Per unit, as `LayerReport.saturated`; null for the unbounded kinds. */
  saturated: Uint8Array | null;
  /** Fraction of the unit's pre-activations that were > 0 (or NaN). */
  activeFraction: Float64Array;
  /** mean |output| over the layer's average of it: ReDo's score. */
  dormancyScore: Float64Array;
  maxAbs: Float64Array;
}

/** A layer's output histogram over fixed symmetric log2 bins (see `histogramBinEdges`). */
export interface LayerHistogram {
  layer: string;
  kind: ActivationKind;
  counts: Float64Array;
}

/**
 * The bins of the monitor's histograms, in order: `{ lo, hi }` with `lo <= v < hi` by magnitude:
 * OCTAVES bins of negative values (most negative first), one for ±0, OCTAVES positive ones,
 * each an octave [2^e, 2^(e+1)) for e from -14 to 9; the outermost bins also hold all larger
 * magnitudes and the innermost all smaller non-zero ones.
 */
export function histogramBinEdges(): { lo: number; hi: number; sign: -1 | 0 | 1 }[] {
  const pos: { lo: number; hi: number; sign: -1 | 0 | 1 }[] = [];
  for (let e = HIST_MIN_EXP; e <= HIST_MAX_EXP; e++) pos.push({ lo: 2 ** e, hi: 2 ** (e + 1), sign: 1 });
  const neg = [...pos].reverse().map((b) => ({ lo: b.lo, hi: b.hi, sign: -1 as const }));
  const edges = [...neg, { lo: 0, hi: 0, sign: 0 as const }, ...pos];
  if (edges.length !== HIST_BINS) throw new Error('histogram bins out of step with the kernels');
  return edges;
}

/** Elements per forward that go into a layer's histogram: bounded, so its cost is. */
const HIST_SAMPLES = 1024;

interface Watched {
  path: string;
  kind: ActivationKind;
  module: Module;
  /** The saturation thresholds `[lo, hi]` of a bounded kind, or NaN for none. */
  saturation: [number, number];
  handle: { remove(): void };
  units: number;
  inner: number;
  acc: Float64Array | null;
  hist: Float64Array;
  samples: number;
  calls: number;
}

export interface ActivationMonitorOptions {
  /** A live unit whose largest |output| stays below this is nearly dead. Default 1e-3. */
  nearlyDeadThreshold?: number;
  /** ReDo's τ: a unit whose score is at most this is dormant. Default 0.025. */
  dormantThreshold?: number;
}

const KINDS: [new (...args: never[]) => Module, ActivationKind][] = [
  [ReLU, 'ReLU'],
  [ReLU6, 'ReLU6'],
  [LeakyReLU, 'LeakyReLU'],
  [PReLU, 'PReLU'],
  [ELU, 'ELU'],
  [CELU, 'CELU'],
  [SELU, 'SELU'],
  [GELU, 'GELU'],
  [SiLU, 'SiLU'],
  [Mish, 'Mish'],
  [Softplus, 'Softplus'],
  [Hardswish, 'Hardswish'],
  [Sigmoid, 'Sigmoid'],
  [Tanh, 'Tanh'],
  [Hardtanh, 'Hardtanh'],
  [Hardsigmoid, 'Hardsigmoid'],
];

function kindOf(m: Module): ActivationKind | null {
  return KINDS.find(([cls]) => m instanceof cls)?.[1] ?? null;
}

/**
 * Whether the output can stand in for the pre-activation in the dead test and `activeFraction`:
 * `y <= 0` exactly when `x <= 0` for ReLU, ReLU6 and positive slopes (NaN maps to NaN). Reading
 * only `y` halves the memory the statistics pass reads. The other kinds read their input (a
 * Sigmoid's or Softplus's output is positive everywhere).
 */
function outputDecidesSign(m: Module, kind: ActivationKind): boolean {
  if (kind === 'ReLU' || kind === 'ReLU6') return true;
  if (kind !== 'LeakyReLU' && kind !== 'PReLU') return false;
  if (kind === 'LeakyReLU') return (m as LeakyReLU).negativeSlope > 0;
  const w = (m as PReLU).weight.data.data;
  for (let i = 0; i < w.length; i++) if (!(Math.fround(w[i]!) > 0)) return false;
  return true;
}

function threshold(value: unknown, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`ActivationMonitor ${what} must be a number, got ${describeValue(value)}`);
  if (!(value >= 0) || !Number.isFinite(value)) throw new RangeError(`ActivationMonitor ${what} must be a finite number >= 0, got ${value}`);
  return value;
}

/**
 * Watches every activation module inside a model (the ActivationKind list) (at any depth, found when the monitor
 * is made) on each forward, in training and eval mode, and keeps per-unit statistics over a
 * window of forwards: one pass of the `unitStats` kernel over the activation per forward, plus
 * a bounded sample for the histogram.
 */
export class ActivationMonitor {
  readonly nearlyDeadThreshold: number;
  readonly dormantThreshold: number;
  readonly #layers: Watched[] = [];
  #attached = true;
  /** Set by `resetOnNextForward`: the next forward starts a new window. */
  #resetPending = false;

  constructor(model: Module, options?: ActivationMonitorOptions) {
    if (!(model instanceof Module)) throw new TypeError(`ActivationMonitor needs a Module, got ${describeValue(model)}`);
    const o = checkOptions(options, 'ActivationMonitor');
    this.nearlyDeadThreshold = threshold(o.nearlyDeadThreshold, 1e-3, 'nearlyDeadThreshold');
    this.dormantThreshold = threshold(o.dormantThreshold, 0.025, 'dormantThreshold');
    for (const [path, module] of model.namedModules()) {
      const kind = kindOf(module);
      if (kind === null) continue;
      const range = saturationRange(module);
      const margin = range === null ? NaN : SATURATION_MARGIN * (range[1] - range[0]);
      const saturation: [number, number] = range === null ? [NaN, NaN] : [range[0] + margin, range[1] - margin];
      const w: Watched = { path, kind, module, saturation, handle: { remove() {} }, units: 0, inner: 0, acc: null, hist: new Float64Array(HIST_BINS), samples: 0, calls: 0 };
      w.handle = module.registerForwardHook((m, input, output) => this.#observe(w, m, input, output));
      this.#layers.push(w);
    }
  }

  /** The watched layers' paths, in the model's order. */
  get layers(): string[] {
    return this.#layers.map((w) => w.path);
  }

  get attached(): boolean {
    return this.#attached;
  }

  /** The watched module at `layer` (a path of `layers`). */
  module(layer: string): Module {
    return this.#find(layer).module;
  }

  #observe(w: Watched, m: Module, input: Tensor, output: Tensor): void {
    const { outer, units, inner } = unitLayout(output.shape);
    if (output.size === 0) return;
    if (this.#resetPending) this.reset();
    if (w.acc !== null && (units !== w.units || inner !== w.inner)) {
      throw new RangeError(`ActivationMonitor: layer "${w.path}" (${w.kind}) had ${w.units} units × ${w.inner} positions in this window, but got an output of shape ${formatShape(output.shape)}; call reset() between inputs of different shapes`);
    }
    if (w.acc === null) {
      w.units = units;
      w.inner = inner;
      w.acc = freshAccumulator(units);
    }
    const pre = outputDecidesSign(m, w.kind) ? output : input;
    kernels().unitStats(pre.data, output.data, units, inner, w.acc, w.saturation[0], w.saturation[1]);
    // A different seed per call, so that successive forwards sample different elements.
    w.calls++;
    kernels().sampledHistogram(output.data, HIST_SAMPLES, Math.imul(w.calls, 0x9e3779b1) >>> 0, w.hist);
    w.samples += outer;
  }

  /**
   * Keeps the current window readable until the next forward of the model, which starts a new
   * one (as `reset()` would). `TrainingMonitor` uses it so that `report()` after a training loop
   * describes the last step's batch.
   */
  resetOnNextForward(): void {
    this.#resetPending = true;
  }

  /** Starts a new window: forgets every statistic collected so far. */
  reset(): void {
    this.#resetPending = false;
    for (const w of this.#layers) {
      w.acc = null;
      w.units = 0;
      w.inner = 0;
      w.hist.fill(0);
      w.samples = 0;
    }
  }

  /** Stops watching (removes the hooks); the statistics collected so far stay readable. */
  detach(): void {
    for (const w of this.#layers) w.handle.remove();
    this.#attached = false;
  }

  #find(layer: string): Watched {
    const w = this.#layers.find((l) => l.path === layer);
    if (!w) throw new RangeError(`ActivationMonitor: no watched layer "${layer}"; the watched layers are ${this.layers.map((l) => JSON.stringify(l)).join(', ') || '(none)'}`);
    return w;
  }

  /** True after `resetOnNextForward()` until the next forward: the window has been read and ends there. */
  get resetPending(): boolean {
    return this.#resetPending;
  }

  /** Whether every watched layer has seen a forward in the current window (else `report()` throws). */
  get hasData(): boolean {
    return this.#layers.every((w) => w.acc !== null);
  }

  #noForward(layers: Watched[], what: string): Error {
    return new Error(`ActivationMonitor.${what}: no forward reached ${layers.map((w) => `layer "${w.path}" (${w.kind})`).join(', ')} since the monitor was made or last reset, so there is nothing to report (a model run through nn.ModelWorker runs in the worker's thread, where this monitor sees none of its forwards: diagnose it in this thread)`);
  }

  /**
   * Per-unit flags and scores of one layer over the window. An Error when no forward has
   * reached the layer in the window (no rows of zeros).
   */
  unitReport(layer: string): UnitReport {
    const w = this.#find(layer);
    if (w.acc === null) throw this.#noForward([w], 'unitReport');
    const U = w.units;
    const acc = w.acc;
    const perUnit = w.samples * w.inner;
    const r: UnitReport = {
      layer,
      dead: new Uint8Array(U),
      nearlyDead: new Uint8Array(U),
      dormant: new Uint8Array(U),
      saturated: Number.isNaN(w.saturation[0]) ? null : new Uint8Array(U),
      activeFraction: new Float64Array(U),
      dormancyScore: new Float64Array(U),
      maxAbs: new Float64Array(U),
    };
    // ReDo's score: mean|y| of the unit over the layer's average of it; every unit has the
    // same count, so the ratio of the sums is the ratio of the means.
    let total = 0;
    for (let u = 0; u < U; u++) total += acc[F.sumAbs * U + u]!;
    const average = total / U;
    const deadRule = DEAD_RULE_KINDS.has(w.kind);
    for (let u = 0; u < U; u++) {
      const active = acc[F.active * U + u]!;
      const dead = deadRule && active === 0;
      const maxAbs = acc[F.maxAbs * U + u]!;
      // A layer whose outputs are all 0 scores 0 everywhere: every unit is dormant.
      const score = average > 0 ? acc[F.sumAbs * U + u]! / average : 0;
      r.dead[u] = dead ? 1 : 0;
      r.nearlyDead[u] = !dead && maxAbs < this.nearlyDeadThreshold ? 1 : 0;
      r.dormant[u] = score <= this.dormantThreshold ? 1 : 0;
      if (r.saturated !== null) r.saturated[u] = acc[F.saturated * U + u] === perUnit ? 1 : 0;
      r.activeFraction[u] = active / perUnit;
      r.dormancyScore[u] = score;
      r.maxAbs[u] = maxAbs;
    }
    return r;
  }

  /**
   * One line per watched layer (API.md's definitions), over the window since the last reset.
   * An Error when a watched layer has seen no forward in the window (after `reset()`, or a model
   * driven only through `nn.ModelWorker`): a row of zeros would read as a healthy layer.
   */
  report(): LayerReport[] {
    const empty = this.#layers.filter((w) => w.acc === null);
    if (empty.length > 0) throw this.#noForward(empty, 'report');
    return this.#layers.map((w) => {
      const U = w.units;
      const acc = w.acc!;
      const u = this.unitReport(w.path);
      const count = (a: Uint8Array): number => a.reduce((s, v) => s + v, 0);
      let zeros = 0;
      let sum = 0;
      let sumSq = 0;
      let min = Infinity;
      let max = -Infinity;
      let nonFinite = 0;
      for (let i = 0; i < U; i++) {
        zeros += acc[F.zeros * U + i]!;
        const s = acc[F.sum * U + i]!;
        sum += s;
        sumSq += acc[F.sumSq * U + i]!;
        min = Math.min(min, acc[F.min * U + i]!);
        max = Math.max(max, acc[F.max * U + i]!);
        if (!Number.isFinite(s) || !Number.isFinite(acc[F.sumSq * U + i]!)) nonFinite++;
      }
      const n = w.samples * w.inner * U;
      const mean = n > 0 ? sum / n : NaN;
      const variance = n > 1 ? Math.max(0, (sumSq - n * mean * mean) / (n - 1)) : NaN;
      const dead = count(u.dead);
      return {
        layer: w.path,
        kind: w.kind,
        units: U,
        dead,
        deadFraction: dead / U,
        nearlyDead: count(u.nearlyDead),
        dormant: count(u.dormant),
        saturated: u.saturated === null ? null : count(u.saturated),
        zeroFraction: zeros / n,
        mean,
        std: Math.sqrt(variance),
        // Without a non-NaN output min stays +∞ and max −∞: there is no extreme to report.
        min: min <= max ? min : NaN,
        max: min <= max ? max : NaN,
        samples: w.samples,
        nonFinite,
      };
    });
  }

  /** Each layer's output histogram over the window (counts of sampled elements). */
  histograms(): LayerHistogram[] {
    return this.#layers.map((w) => ({ layer: w.path, kind: w.kind, counts: Float64Array.from(w.hist) }));
  }
}
