// Learning-rate schedules, PyTorch 1.13's (torch/optim/lr_scheduler.py) in their chainable
// (recursive) forms, so that the lr after every `step()` equals PyTorch's step for step, in
// float64 with the same operation order. As in PyTorch, constructing a scheduler records each
// group's `initialLr` (if no scheduler did before) and takes the first step, which applies the
// schedule's value at epoch 0 (LinearLR's start factor, for instance).
import { checkFinite, checkOptions, checkPositiveInt, describeValue } from '../check.js';
import { Optimizer } from './optimizer.js';

export abstract class LRScheduler {
  readonly optimizer: Optimizer;
  /** Each group's lr when the first scheduler was attached. */
  readonly baseLrs: number[];
  /** The epoch (number of `step()` calls) of the current lr: 0 after construction. */
  lastEpoch = -1;
  #lastLr: number[] = [];
  protected stepCount = 0;

  protected constructor(optimizer: Optimizer, what: string) {
    if (!(optimizer instanceof Optimizer)) throw new TypeError(`${what}: ${describeValue(optimizer)} is not an optimiser`);
    this.optimizer = optimizer;
    for (const g of optimizer.paramGroups) g.initialLr ??= g.lr;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr!);
  }

  /** PyTorch's `_initial_step`: subclasses call it at the end of their constructor, SequentialLR to restart one. @internal */
  initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** The next lr of each group, from the current ones (PyTorch's chainable `get_lr`). */
  protected abstract getLr(): number[];

  /** The lr of each group at `lastEpoch` from the base lrs (PyTorch's `_get_closed_form_lr`). */
  protected abstract closedFormLr(): number[];

  /** Advances one epoch and sets each group's lr. */
  step(): void {
    this.stepCount++;
    this.lastEpoch++;
    this.#apply(this.getLr());
  }

  /** PyTorch's deprecated `step(epoch)`, which SequentialLR uses at its milestones. */
  stepTo(epoch: number): void {
    this.stepCount++;
    this.lastEpoch = epoch;
    this.#apply(this.closedFormLr());
  }

  #apply(values: number[]): void {
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = values[i]!));
    this.#lastLr = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The lr of each group after the last step. */
  get lastLr(): number[] {
    return [...this.#lastLr];
  }

  protected groupLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }
}

/** Python's `a % n` (the sign of n), which JS's `%` is not for negative `a`. */
function pyMod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

function options<T extends object>(o: T | undefined, allowed: string[], what: string): Partial<T> {
  const opts = checkOptions(o, what);
  const unknown = Object.keys(opts).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) throw new TypeError(`${what} has no option ${unknown.map((k) => JSON.stringify(k)).join(', ')}; its options are ${allowed.join(', ')}`);
  return opts;
}

function checkFactor(v: unknown, what: string, allowZero: boolean): number {
  checkFinite(v, what);
  const x = v as number;
  if (x > 1 || x < 0 || (!allowZero && x === 0)) throw new RangeError(`${what} must be in ${allowZero ? '[0' : '(0'}, 1], got ${x}`);
  return x;
}

/**
 * Multiplies each group's lr by a factor that goes linearly from `startFactor` (at
 * construction) to `endFactor` (after `totalIters` steps), then stays: the warmup.
 * (PyTorch 1.13 accepts startFactor 0 and then divides by zero at the first step; here it must be > 0.)
 */
export class LinearLR extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;

  constructor(optimizer: Optimizer, opts: { startFactor?: number; endFactor?: number; totalIters?: number } = {}) {
    const o = options(opts, ['startFactor', 'endFactor', 'totalIters'], 'LinearLR');
    super(optimizer, 'LinearLR');
    this.startFactor = checkFactor(o.startFactor ?? 1 / 3, 'LinearLR: startFactor', false);
    this.endFactor = checkFactor(o.endFactor ?? 1, 'LinearLR: endFactor', true);
    this.totalIters = checkPositiveInt(o.totalIters ?? 5, 'LinearLR: totalIters');
    this.initialStep();
  }

  protected getLr(): number[] {
    const lrs = this.groupLrs();
    if (this.lastEpoch === 0) return lrs.map((lr) => lr * this.startFactor);
    if (this.lastEpoch > this.totalIters) return lrs;
    const d = this.endFactor - this.startFactor;
    return lrs.map((lr) => lr * (1 + d / (this.totalIters * this.startFactor + (this.lastEpoch - 1) * d)));
  }

  protected closedFormLr(): number[] {
    const d = this.endFactor - this.startFactor;
    return this.baseLrs.map((b) => b * (this.startFactor + (d * Math.min(this.totalIters, this.lastEpoch)) / this.totalIters));
  }
}

/** Multiplies each group's lr by `gamma` every `stepSize` steps. */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: Optimizer, opts: { stepSize: number; gamma?: number }) {
    const o = options(opts, ['stepSize', 'gamma'], 'StepLR');
    super(optimizer, 'StepLR');
    this.stepSize = checkPositiveInt(o.stepSize, 'StepLR: stepSize');
    this.gamma = checkFinite(o.gamma ?? 0.1, 'StepLR: gamma');
    if (this.gamma < 0) throw new RangeError(`StepLR: gamma must be >= 0, got ${this.gamma}`);
    this.initialStep();
  }

  protected getLr(): number[] {
    const lrs = this.groupLrs();
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
}

/**
 * Cosine annealing from each group's initial lr down to `etaMin` over `tMax` steps (Loshchilov
 * & Hutter's SGDR without restarts), in PyTorch's recursive form: past `tMax` the lr rises
 * again along the cosine, step for step as in PyTorch.
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;

  constructor(optimizer: Optimizer, opts: { tMax: number; etaMin?: number }) {
    const o = options(opts, ['tMax', 'etaMin'], 'CosineAnnealingLR');
    super(optimizer, 'CosineAnnealingLR');
    this.tMax = checkPositiveInt(o.tMax, 'CosineAnnealingLR: tMax');
    this.etaMin = checkFinite(o.etaMin ?? 0, 'CosineAnnealingLR: etaMin');
    if (this.etaMin < 0) throw new RangeError(`CosineAnnealingLR: etaMin must be >= 0, got ${this.etaMin}`);
    this.initialStep();
  }

  protected getLr(): number[] {
    const lrs = this.groupLrs();
    const { tMax, etaMin, lastEpoch: e } = this;
    if (e === 0) return lrs;
    if (pyMod(e - 1 - tMax, 2 * tMax) === 0) {
      return lrs.map((lr, i) => lr + ((this.baseLrs[i]! - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2);
    }
    return lrs.map((lr) => ((1 + Math.cos((Math.PI * e) / tMax)) / (1 + Math.cos((Math.PI * (e - 1)) / tMax))) * (lr - etaMin) + etaMin);
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((b) => this.etaMin + ((b - this.etaMin) * (1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax))) / 2);
  }
}

/**
 * Runs `schedulers` one after another: the i-th from milestone i−1 (restarted there at its
 * epoch 0) until milestone i. E.g. a LinearLR warmup for 5 steps, then CosineAnnealingLR:
 * `new SequentialLR(opt, { schedulers: [warmup, cosine], milestones: [5] })`.
 */
export class SequentialLR extends LRScheduler {
  readonly #schedulers: LRScheduler[];
  readonly #milestones: number[];

  constructor(optimizer: Optimizer, opts: { schedulers: LRScheduler[]; milestones: number[] }) {
    const what = 'SequentialLR';
    const o = options(opts, ['schedulers', 'milestones'], what);
    const { schedulers, milestones } = o;
    if (!Array.isArray(schedulers) || schedulers.length === 0) throw new TypeError(`${what}: schedulers must be a non-empty array of schedulers`);
    schedulers.forEach((s, i) => {
      if (!(s instanceof LRScheduler)) throw new TypeError(`${what}: schedulers[${i}] is ${describeValue(s)}, not a scheduler`);
      if (s.optimizer !== optimizer) throw new RangeError(`${what}: schedulers[${i}] belongs to another optimiser`);
    });
    if (!Array.isArray(milestones)) throw new TypeError(`${what}: milestones must be an array of integers`);
    if (milestones.length !== schedulers.length - 1) {
      throw new RangeError(`${what}: ${schedulers.length} schedulers need ${schedulers.length - 1} milestones, got ${milestones.length}`);
    }
    milestones.forEach((m, i) => {
      checkPositiveInt(m, `${what}: milestones[${i}]`);
      if (i > 0 && m <= milestones[i - 1]!) throw new RangeError(`${what}: milestones must increase, got ${JSON.stringify(milestones)}`);
    });
    super(optimizer, what);
    this.#schedulers = [...schedulers];
    this.#milestones = [...milestones];
    this.lastEpoch = 0;
    // As PyTorch: back to the initial lrs, undo the step each scheduler took when it was
    // built, and restart the first one.
    for (const g of optimizer.paramGroups) g.lr = g.initialLr!;
    for (const s of this.#schedulers) s.lastEpoch--;
    this.#schedulers[0]!.initialStep();
    this.#setLast(this.#schedulers[0]!);
  }

  #last: number[] = [];

  #setLast(s: LRScheduler): void {
    this.#last = s.lastLr;
  }

  override get lastLr(): number[] {
    return [...this.#last];
  }

  override step(): void {
    this.lastEpoch++;
    // bisect_right: the number of milestones <= lastEpoch.
    const idx = this.#milestones.filter((m) => m <= this.lastEpoch).length;
    const s = this.#schedulers[idx]!;
    if (idx > 0 && this.#milestones[idx - 1] === this.lastEpoch) s.stepTo(0);
    else s.step();
    this.#setLast(s);
  }

  protected getLr(): number[] {
    return this.groupLrs();
  }

  protected closedFormLr(): number[] {
    return this.groupLrs();
  }
}
