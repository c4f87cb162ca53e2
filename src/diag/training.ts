import { checkBoolean, checkOptions, describeValue } from '../check.js';
import { Module } from '../nn/module.js';
import { gradientStats, totalGradNorm } from './gradients.js';
import { ActivationMonitor, type LayerHistogram, type LayerReport } from './monitor.js';

/** One training step as `TrainingMonitor` recorded it. */
export interface TrainingRecord {
  step: number;
  loss: number;
  /** null when no learning rate was given. */
  lr: number | null;
  /** Dead fraction per watched layer, over this step's forwards. */
  deadFraction: Record<string, number>;
  /** L2 norm of all gradients (null without a model). */
  gradNorm: number | null;
  /** Per parameter gradient norms (empty without a model). */
  gradNorms: Record<string, number>;
}

export type WarningKind = 'dead' | 'deadEscalation' | 'deadJump' | 'stalled' | 'nonFiniteLoss' | 'nonFiniteActivation' | 'nonFiniteGradient' | 'explodingGradient';

export interface TrainingWarning {
  step: number;
  kind: WarningKind;
  /** The activation layer or parameter it concerns (absent for the loss). */
  layer?: string;
  /** The number the warning is about (a fraction, a norm, the loss). */
  value: number;
  message: string;
}

export interface TrainingMonitorOptions {
  /**
   * Watched activations; its window is read at every step and a new one starts at the next
   * forward (unless resetEachStep is false), so `activations.report()` after the loop describes
   * the last step. A step whose window no forward reached (a model run only through
   * nn.ModelWorker, say) has an empty `deadFraction`, not zeros.
   */
  activations?: ActivationMonitor;
  /** The model whose gradient norms are recorded (call `step` after backward, before zeroGrad). */
  model?: Module;
  /** Warn when a layer's dead fraction rises above this (again only after `jumpWindow` steps at or below it). Default 0.1 (Keras' DeadReluDetector). */
  deadThreshold?: number;
  /** Warn when, within `jumpWindow` steps after a learning-rate change, a layer's dead fraction rises by more than this. Default 0.05. */
  jumpThreshold?: number;
  jumpWindow?: number;
  /** Warn when the total gradient norm exceeds this multiple of the median of the last `medianWindow` steps. Default 10. */
  explodeFactor?: number;
  medianWindow?: number;
  /**
   * Warn when the loss has stopped moving (its range over the last `stallWindow` steps is under
   * 2% of its mean) while some layer is above the dead threshold. Default 20.
   */
  stallWindow?: number;
  /**
   * The number of classes of a cross-entropy loss: the stall warning then says when the loss sits
   * at chance level, ln(numClasses), where a network that predicts nothing stays.
   */
  numClasses?: number;
  /** Read the activation window per step (true, the default) or let it grow over the run. */
  resetEachStep?: boolean;
  /** Where warnings are printed as they happen: true for console.warn, or a function; default silent. */
  print?: boolean | ((message: string) => void);
}

function option(o: Record<string, unknown>, key: string, fallback: number, integer = false): number {
  const v = o[key] ?? fallback;
  if (typeof v !== 'number') throw new TypeError(`TrainingMonitor ${key} must be a number, got ${describeValue(v)}`);
  if (!Number.isFinite(v) || v < 0 || (integer && (!Number.isInteger(v) || v < 1))) {
    throw new RangeError(`TrainingMonitor ${key} must be a finite ${integer ? 'positive integer' : 'number >= 0'}, got ${v}`);
  }
  return v;
}

/**
 * Above the dead threshold, a layer is warned about again each time its dead fraction reaches
 * the next of these levels, so that a layer going from 44% to 100% dead is not silent.
 */
const ESCALATION_LEVELS = [0.25, 0.5, 1];

function percent(f: number): string {
  return `${(100 * f).toFixed(1)}%`;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * A training history: per step the loss, learning rate, each watched layer's dead fraction and
 * the gradient norms, with warnings a user can act on. Call `step({ loss, lr })` once per
 * training step, after backward.
 */
export class TrainingMonitor {
  readonly history: TrainingRecord[] = [];
  readonly warnings: TrainingWarning[] = [];
  readonly activations: ActivationMonitor | undefined;
  readonly model: Module | undefined;
  readonly deadThreshold: number;
  readonly jumpThreshold: number;
  readonly jumpWindow: number;
  readonly explodeFactor: number;
  readonly medianWindow: number;
  readonly stallWindow: number;
  readonly numClasses: number | null;
  readonly resetEachStep: boolean;
  readonly #print: ((message: string) => void) | null;
  /**
   * Per layer warned about being dead, the steps it has since spent at or below the threshold:
   * a layer is warned about again only after `jumpWindow` such steps in a row, so that a
   * fraction hovering around the threshold (per-batch windows are noisy) does not warn at every
   * crossing.
   */
  readonly #deadWarned = new Map<string, number>();
  /** Per layer warned about being dead: the step, fraction and highest level of the warnings. */
  readonly #escalation = new Map<string, { step: number; fraction: number; level: number }>();
  /** True while the stall warning has been given and the loss is still stalled. */
  #stalled = false;
  /** The last learning-rate change: its step, the rates, and dead fractions just before it. */
  #lrChange: { step: number; from: number; to: number; before: Record<string, number>; warned: Set<string> } | null = null;
  #lossWasFinite = true;
  /** What was non-finite or exploding at the last step: warned once per streak, as the loss. */
  #nonFinite = new Set<string>();
  /** The activation monitor's report and histograms of the last step's window (for renderReport). */
  lastReport: LayerReport[] = [];
  lastHistograms: LayerHistogram[] = [];

  constructor(options?: TrainingMonitorOptions) {
    const o = checkOptions(options, 'TrainingMonitor') as Record<string, unknown>;
    if (o.activations !== undefined && !(o.activations instanceof ActivationMonitor)) {
      throw new TypeError(`TrainingMonitor activations must be a diag.ActivationMonitor, got ${describeValue(o.activations)}`);
    }
    if (o.model !== undefined && !(o.model instanceof Module)) {
      throw new TypeError(`TrainingMonitor model must be a Module, got ${describeValue(o.model)}`);
    }
    this.activations = o.activations as ActivationMonitor | undefined;
    this.model = o.model as Module | undefined;
    this.deadThreshold = option(o, 'deadThreshold', 0.1);
    this.jumpThreshold = option(o, 'jumpThreshold', 0.05);
    this.jumpWindow = option(o, 'jumpWindow', 5, true);
    this.explodeFactor = option(o, 'explodeFactor', 10);
    this.medianWindow = option(o, 'medianWindow', 50, true);
    this.stallWindow = option(o, 'stallWindow', 20, true);
    this.numClasses = o.numClasses === undefined ? null : option(o, 'numClasses', 0, true);
    this.resetEachStep = checkBoolean(o.resetEachStep ?? true, 'TrainingMonitor resetEachStep');
    const p = o.print ?? false;
    if (typeof p !== 'boolean' && typeof p !== 'function') throw new TypeError(`TrainingMonitor print must be a boolean or a function, got ${describeValue(p)}`);
    this.#print = p === true ? (m) => console.warn(m) : p === false ? null : (p as (m: string) => void);
  }

  /** Records one step and returns the warnings it raised (also appended to `warnings`). */
  step(entry: { loss: number; lr?: number }): TrainingWarning[] {
    const e = checkOptions(entry, 'TrainingMonitor.step');
    if (typeof e.loss !== 'number') throw new TypeError(`TrainingMonitor.step: loss must be a number, got ${describeValue(e.loss)}`);
    if (e.lr !== undefined && typeof e.lr !== 'number') throw new TypeError(`TrainingMonitor.step: lr must be a number, got ${describeValue(e.lr)}`);
    const step = this.history.length;
    const raised: TrainingWarning[] = [];
    const warn = (kind: WarningKind, value: number, message: string, layer?: string): void => {
      const w: TrainingWarning = { step, kind, value, message: `step ${step}: ${message}`, ...(layer !== undefined ? { layer } : {}) };
      raised.push(w);
    };

    const loss = e.loss;
    if (!Number.isFinite(loss)) {
      if (this.#lossWasFinite) warn('nonFiniteLoss', loss, `the loss is ${loss}; lower the learning rate or look for a division by zero or log(0) in the loss`);
      this.#lossWasFinite = false;
    } else {
      this.#lossWasFinite = true;
    }

    // A NaN spreads to everything after it: warn where it starts, not again at every step.
    const nonFiniteNow = new Set<string>();
    const once = (key: string, raise: () => void): void => {
      nonFiniteNow.add(key);
      if (!this.#nonFinite.has(key)) raise();
    };

    const lr = e.lr ?? null;
    const previous = this.history[step - 1];
    const deadFraction: Record<string, number> = {};
    // A window no forward has reached since the last step (the monitor made after this step's
    // forward, or a model run only through nn.ModelWorker) records no dead fractions for the
    // step, rather than zeros or the last step's again.
    const a = this.activations;
    const fresh = a !== undefined && a.hasData && !(this.resetEachStep && a.resetPending);
    if (a && !fresh) {
      this.lastReport = [];
      this.lastHistograms = [];
    }
    if (a && fresh) {
      this.lastReport = a.report();
      this.lastHistograms = a.histograms();
      for (const r of this.lastReport) {
        deadFraction[r.layer] = r.deadFraction;
        if (r.nonFinite > 0) once(`activation ${r.layer}`, () => warn('nonFiniteActivation', r.nonFinite, `layer "${r.layer}" (${r.kind}): ${r.nonFinite} of its ${r.units} units produced NaN or infinite outputs`, r.layer));
      }
      // The window stays readable (mon.report() after the loop is the last step's) until the next forward.
      if (this.resetEachStep) a.resetOnNextForward();
    }

    // A learning-rate change opens a window in which a rise in dead fraction is blamed on it.
    if (lr !== null && previous && previous.lr !== null && lr !== previous.lr) {
      this.#lrChange = { step, from: previous.lr, to: lr, before: previous.deadFraction, warned: new Set() };
    }
    const change = this.#lrChange;
    if (change && step - change.step < this.jumpWindow) {
      for (const [layer, f] of Object.entries(deadFraction)) {
        const before = change.before[layer];
        if (before === undefined || change.warned.has(layer) || !(f - before > this.jumpThreshold)) continue;
        change.warned.add(layer);
        warn('deadJump', f, `layer "${layer}": dead fraction rose from ${percent(before)} to ${percent(f)} within ${step - change.step + 1} step(s) of the learning rate changing from ${change.from} to ${change.to} at step ${change.step}; a smaller rate or a warmup may keep those units alive`, layer);
      }
    }

    for (const [layer, f] of Object.entries(deadFraction)) {
      const below = this.#deadWarned.get(layer);
      const levelOf = (x: number): number => ESCALATION_LEVELS.filter((l) => l > this.deadThreshold && x >= l).length;
      if (f > this.deadThreshold) {
        const r = this.lastReport.find((x) => x.layer === layer)!;
        const first = this.#escalation.get(layer);
        if (below === undefined || below >= this.jumpWindow) {
          warn('dead', f, `layer "${layer}" (${r.kind}): ${r.dead} of its ${r.units} units are dead (${percent(f)}), above the ${percent(this.deadThreshold)} threshold; consider a lower learning rate, LeakyReLU/PReLU, or another initialisation`, layer);
          this.#escalation.set(layer, { step, fraction: f, level: levelOf(f) });
        } else if (first !== undefined && levelOf(f) > first.level) {
          const level = ESCALATION_LEVELS.filter((l) => l > this.deadThreshold)[levelOf(f) - 1]!;
          warn('deadEscalation', f, `layer "${layer}" (${r.kind}): ${r.dead} of its ${r.units} units are dead (${percent(f)}), past ${percent(level)}; it was ${percent(first.fraction)} when first warned about at step ${first.step}`, layer);
          first.level = levelOf(f);
        }
        this.#deadWarned.set(layer, 0);
      } else if (below !== undefined) {
        this.#deadWarned.set(layer, below + 1);
      }
    }

    // A loss that no longer moves while units are dead: the network has stopped learning.
    const recentLosses = [...this.history.slice(1 - this.stallWindow).map((h) => h.loss), loss];
    const deadLayers = Object.entries(deadFraction).filter(([, f]) => f > this.deadThreshold);
    const lo = Math.min(...recentLosses);
    const hi = Math.max(...recentLosses);
    const mean = recentLosses.reduce((a, b) => a + b, 0) / recentLosses.length;
    const chance = this.numClasses === null ? null : Math.log(this.numClasses);
    const stalled = recentLosses.length === this.stallWindow && Number.isFinite(mean) && hi - lo <= 0.02 * Math.abs(mean) && deadLayers.length > 0 &&
      (chance === null || Math.abs(mean - chance) <= 0.05 * chance);
    if (stalled && !this.#stalled) {
      const [worst, f] = deadLayers.reduce((a, b) => (b[1] > a[1] ? b : a));
      const where = chance === null ? '' : ` at chance level (ln ${this.numClasses} = ${chance.toFixed(3)})`;
      warn('stalled', mean, `the loss has stayed at ${mean.toFixed(4)}${where} for ${this.stallWindow} steps (range ${(hi - lo).toPrecision(2)}) while ${deadLayers.length} layer(s) are dead above ${percent(this.deadThreshold)}, worst "${worst}" at ${percent(f)}; the network has stopped learning: restart with a lower learning rate, a warmup or LeakyReLU, or recycle the dead units`, worst);
    }
    this.#stalled = stalled;

    let gradNorm: number | null = null;
    const gradNorms: Record<string, number> = {};
    if (this.model) {
      const stats = gradientStats(this.model);
      for (const s of stats) gradNorms[s.name] = s.gradNorm;
      const total = totalGradNorm(stats);
      gradNorm = total;
      const bad = stats.filter((s) => !Number.isFinite(s.gradNorm));
      if (bad.length > 0) {
        once('gradient', () => warn('nonFiniteGradient', bad[0]!.gradNorm, `the gradient of ${bad.map((s) => `"${s.name}"`).join(', ')} is not finite (norm ${bad[0]!.gradNorm})`, bad[0]!.name));
      } else {
        const recent = this.history.slice(-this.medianWindow).map((h) => h.gradNorm).filter((g): g is number => g !== null && Number.isFinite(g));
        // Wait for a few steps of history before judging what is normal.
        if (recent.length >= Math.min(10, this.medianWindow)) {
          const m = median(recent);
          if (m > 0 && total > this.explodeFactor * m) {
            const top = stats.reduce((a, b) => (b.gradNorm > a.gradNorm ? b : a));
            once('explode', () => warn('explodingGradient', total, `the gradient norm ${total.toPrecision(4)} is ${(total / m).toFixed(1)}x the median of the last ${recent.length} steps (${m.toPrecision(4)}); largest in "${top.name}" (${top.gradNorm.toPrecision(4)}); consider clipping (optim.clipGradNorm) or a lower learning rate`, top.name));
          }
        }
      }
    }

    this.#nonFinite = nonFiniteNow;
    this.history.push({ step, loss, lr, deadFraction, gradNorm, gradNorms });
    this.warnings.push(...raised);
    if (this.#print) for (const w of raised) this.#print(`liven: ${w.message}`);
    return raised;
  }
}
