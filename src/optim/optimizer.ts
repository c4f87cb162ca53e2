// Optimisers with PyTorch 1.13's names, defaults, option checks and update rules
// (torch/optim/{sgd,adagrad,adam,adamw}.py, the single-tensor path PyTorch takes on the CPU).
// Each update is one kernel call per parameter: a fused SIMD pass on the native backend.
//
// Non-finite gradients: `step()` first checks every gradient of every group; a NaN or an
// infinity is a RangeError naming the parameter's index (counted over all groups in order) and
// the element, thrown before any weight or optimiser state is touched. PyTorch would write the
// NaN into the weights; a training loop that wants to skip such a batch catches the error,
// zeroes the gradients and goes on (or clips first with `clipGradValue`).
import { checkBoolean, checkFinite, checkOptions, describeValue, formatShape } from '../check.js';
import { kernels } from '../backend/index.js';
import { Parameter } from '../nn/module.js';

/** One parameter group: its parameters and its options (`lr`, ...); `initialLr` is set by the first scheduler. */
export type ParamGroup<O> = O & { params: Parameter[]; lr: number; initialLr?: number };

/** A list of parameters, or of groups `{ params, ...options }` whose options override the defaults. */
export type Params<O> = Iterable<Parameter> | Iterable<{ params: Iterable<Parameter> } & Partial<O>>;

interface BaseOptions {
  lr: number;
}

/** The shared machinery: parameter groups, gradient checks, `zeroGrad`, `lr`. */
export abstract class Optimizer<O extends BaseOptions = BaseOptions> {
  readonly paramGroups: ParamGroup<O>[];
  readonly #name: string;

  protected constructor(name: string, params: Params<O>, defaults: O, check: (o: O, what: string) => void) {
    this.#name = name;
    if (params === null || typeof params !== 'object' || typeof (params as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new TypeError(`${name}: params must be an array of Parameters or of parameter groups, got ${describeValue(params)}`);
    }
    check(defaults, name);
    const list = [...(params as Iterable<unknown>)];
    if (list.length === 0) throw new RangeError(`${name}: got an empty list of parameters`);
    const groups = list[0] instanceof Parameter ? [{ params: list }] : list;
    const seen = new Set<Parameter>();
    this.paramGroups = groups.map((g, i) => {
      const what = `${name}: parameter group ${i}`;
      if (g === null || typeof g !== 'object' || !('params' in g)) {
        throw new TypeError(`${what} must be an object with params, got ${describeValue(g)}`);
      }
      const { params: ps, ...overrides } = g as { params: Iterable<unknown> };
      checkOptions(overrides, what, Object.keys(defaults) as (keyof typeof overrides & string)[]);
      const ownParams = [...(ps instanceof Parameter ? [ps] : (ps as Iterable<unknown>))];
      ownParams.forEach((p, j) => {
        if (!(p instanceof Parameter)) throw new TypeError(`${what}: params[${j}] must be a Parameter, got ${describeValue(p)}`);
        if (seen.has(p)) throw new RangeError(`${what}: params[${j}] appears more than once (a parameter can be in one group only)`);
        seen.add(p);
      });
      const options = { ...defaults, ...overrides } as O;
      check(options, what);
      return { ...options, params: ownParams as Parameter[] };
    });
  }

  /** Checks every gradient, then updates every parameter. */
  step(): void {
    const k = kernels();
    let index = 0;
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        p.data.checkUsable(`${this.#name}.step: parameter ${index}`);
        p.grad.checkUsable(`${this.#name}.step: gradient of parameter ${index}`);
        const bad = k.nonFiniteIndex(p.grad.data);
        if (bad >= 0) {
          throw new RangeError(
            `${this.#name}.step: parameter ${index} (shape ${formatShape(p.data.shape)}) has a non-finite gradient: element ${bad} is ${p.grad.data[bad]}; no parameter or optimiser state was changed`,
          );
        }
        index++;
      }
    }
    for (const group of this.paramGroups) {
      for (const p of group.params) this.update(group, p);
    }
  }

  /** One parameter's update, after every gradient was checked. */
  protected abstract update(group: ParamGroup<O>, p: Parameter): void;

  /** Sets every parameter's gradient to zero. */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.grad.data.fill(0);
  }

  /** The learning rate of the first group. */
  get lr(): number {
    return this.paramGroups[0]!.lr;
  }

  /** Sets the learning rate of every group. */
  set lr(value: number) {
    checkLr(value, `${this.#name}: lr`);
    for (const group of this.paramGroups) group.lr = value;
  }
}

function checkLr(lr: unknown, what: string): void {
  checkNonNegative(lr, what);
}

function checkNonNegative(value: unknown, what: string): number {
  checkFinite(value, what);
  if ((value as number) < 0) throw new RangeError(`${what} must be >= 0, got ${value}`);
  return value as number;
}

function checkBetas(betas: unknown, what: string): void {
  if (!Array.isArray(betas) || betas.length !== 2) throw new TypeError(`${what}: betas must be an array of two numbers, got ${describeValue(betas)}`);
  betas.forEach((b, i) => {
    checkFinite(b, `${what}: betas[${i}]`);
    if (!(b >= 0 && b < 1)) throw new RangeError(`${what}: betas[${i}] must be in [0, 1), got ${b}`);
  });
}

/** Options with the caller's keys checked against the defaults' (a misspelt option is an error). */
function optionsOf<O extends object>(options: Partial<O> | undefined, defaults: O, what: string): O {
  const o = checkOptions<Partial<O>>(options, what, Object.keys(defaults) as (keyof O & string)[]);
  const merged = { ...defaults };
  for (const [key, value] of Object.entries(o)) if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  return merged;
}

// ---------------------------------------------------------------- SGD

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/**
 * Stochastic gradient descent, PyTorch 1.13's rule: `d = g + weightDecay·p`; with momentum the
 * buffer starts as `d` and then becomes `momentum·buf + (1 − dampening)·d`; the step uses
 * `d + momentum·buf` (Nesterov) or `buf`; `p -= lr·d`. `lr` is required.
 */
export class SGD extends Optimizer<SGDOptions> {
  readonly #buffers = new Map<Parameter, Float32Array>();

  constructor(params: Params<SGDOptions>, options: Partial<SGDOptions> & { lr: number }) {
    const o = optionsOf(options, { lr: NaN, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false }, 'SGD');
    if (o.lr === undefined || Number.isNaN(o.lr)) throw new TypeError('SGD: lr is required');
    super('SGD', params, o, (g, what) => {
      checkLr(g.lr, `${what}: lr`);
      checkNonNegative(g.momentum, `${what}: momentum`);
      checkFinite(g.dampening, `${what}: dampening`);
      checkNonNegative(g.weightDecay, `${what}: weightDecay`);
      checkBoolean(g.nesterov, `${what}: nesterov`);
      if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
        throw new RangeError(`${what}: Nesterov momentum needs momentum > 0 and dampening 0, got momentum ${g.momentum}, dampening ${g.dampening}`);
      }
    });
  }

  protected update(g: ParamGroup<SGDOptions>, p: Parameter): void {
    let buf: Float32Array | null = null;
    let first = false;
    if (g.momentum !== 0) {
      buf = this.#buffers.get(p) ?? null;
      if (buf === null) {
        buf = new Float32Array(p.data.size);
        this.#buffers.set(p, buf);
        first = true;
      }
    }
    kernels().sgdStep(p.data.data, p.grad.data, buf, g.lr, g.momentum, g.dampening, g.weightDecay, g.nesterov, first);
  }

  /** The momentum buffer of `p` (null before its first momentum step). */
  momentumBuffer(p: Parameter): Float32Array | null {
    return this.#buffers.get(p) ?? null;
  }
}

// ---------------------------------------------------------------- Adagrad

export interface AdagradOptions {
  lr: number;
  lrDecay: number;
  weightDecay: number;
  initialAccumulatorValue: number;
  eps: number;
}

/**
 * Adagrad (Duchi et al. 2011), PyTorch 1.13's rule: `g += weightDecay·p`;
 * `sum += g²` (starting at `initialAccumulatorValue`); `p -= clr·g / (√sum + eps)` with
 * `clr = lr / (1 + (step − 1)·lrDecay)`.
 */
export class Adagrad extends Optimizer<AdagradOptions> {
  readonly #state = new Map<Parameter, { step: number; sum: Float32Array }>();

  constructor(params: Params<AdagradOptions>, options: Partial<AdagradOptions> = {}) {
    const o = optionsOf(options, { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10 }, 'Adagrad');
    super('Adagrad', params, o, (g, what) => {
      checkLr(g.lr, `${what}: lr`);
      checkNonNegative(g.lrDecay, `${what}: lrDecay`);
      checkNonNegative(g.weightDecay, `${what}: weightDecay`);
      checkNonNegative(g.initialAccumulatorValue, `${what}: initialAccumulatorValue`);
      checkNonNegative(g.eps, `${what}: eps`);
    });
    // As PyTorch, the accumulators exist (filled) from construction.
    for (const g of this.paramGroups) {
      for (const p of g.params) this.#state.set(p, { step: 0, sum: new Float32Array(p.data.size).fill(g.initialAccumulatorValue) });
    }
  }

  protected update(g: ParamGroup<AdagradOptions>, p: Parameter): void {
    const s = this.#state.get(p)!;
    s.step++;
    kernels().adagradStep(p.data.data, p.grad.data, s.sum, g.lr, g.lrDecay, g.weightDecay, g.eps, s.step);
  }

  /** The state of `p`: its step count and its sum of squared gradients. */
  state(p: Parameter): { step: number; sum: Float32Array } | null {
    return this.#state.get(p) ?? null;
  }
}

// ---------------------------------------------------------------- Adam, AdamW

export interface AdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

interface AdamState {
  step: number;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

abstract class AdamBase extends Optimizer<AdamOptions> {
  readonly #state = new Map<Parameter, AdamState>();
  readonly #decoupled: boolean;

  protected constructor(name: string, params: Params<AdamOptions>, options: Partial<AdamOptions> | undefined, weightDecay: number, decoupled: boolean) {
    const o = optionsOf<AdamOptions>(options, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay }, name);
    super(name, params, o, (g, what) => {
      checkLr(g.lr, `${what}: lr`);
      checkBetas(g.betas, what);
      checkNonNegative(g.eps, `${what}: eps`);
      checkNonNegative(g.weightDecay, `${what}: weightDecay`);
    });
    this.#decoupled = decoupled;
  }

  protected update(g: ParamGroup<AdamOptions>, p: Parameter): void {
    let s = this.#state.get(p);
    if (s === undefined) {
      s = { step: 0, expAvg: new Float32Array(p.data.size), expAvgSq: new Float32Array(p.data.size) };
      this.#state.set(p, s);
    }
    s.step++;
    const [beta1, beta2] = g.betas;
    kernels().adamStep(p.data.data, p.grad.data, s.expAvg, s.expAvgSq, g.lr, beta1, beta2, g.eps, g.weightDecay, s.step, this.#decoupled);
  }

  /** The state of `p` (null before its first step): step count and the two moment estimates. */
  state(p: Parameter): Readonly<AdamState> | null {
    return this.#state.get(p) ?? null;
  }
}

/**
 * Adam (Kingma & Ba 2015), PyTorch 1.13's rule: `g += weightDecay·p` (L2);
 * `m = β1·m + (1 − β1)·g`; `v = β2·v + (1 − β2)·g²`;
 * `p -= (lr / (1 − β1^t))·m / (√v / √(1 − β2^t) + eps)`.
 */
export class Adam extends AdamBase {
  constructor(params: Params<AdamOptions>, options?: Partial<AdamOptions>) {
    super('Adam', params, options, 0, false);
  }
}

/**
 * AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay, `p *= 1 − lr·weightDecay`
 * before the Adam step (and no L2 term in the gradient). Default weightDecay 1e-2.
 */
export class AdamW extends AdamBase {
  constructor(params: Params<AdamOptions>, options?: Partial<AdamOptions>) {
    super('AdamW', params, options, 1e-2, true);
  }
}
