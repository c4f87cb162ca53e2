import { kernels } from '../backend/index.js';
import { checkBoolean, checkFinite, checkOptions, checkPositiveInt, checkShape, describeValue, formatShape } from '../check.js';
import * as init from '../init/index.js';
import { Tensor } from '../tensor.js';
import { Module, Parameter, configOptions, type ModuleConfig } from './module.js';

const f32 = Math.fround;


function checkEps(value: unknown, what: string): number {
  const eps = checkFinite(value, what);
  if (eps < 0) throw new RangeError(`${what} must be >= 0, got ${eps}`);
  return eps;
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Weight and bias of ones and zeros, for layers without learnable ones (the kernels always take both). */
function identityAffine(n: number): { weight: Float32Array; bias: Float32Array } {
  return { weight: new Float32Array(n).fill(1), bias: new Float32Array(n) };
}

interface BatchNormOptions {
  eps?: number;
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/**
 * Batch normalisation (Ioffe & Szegedy 2015) over dimension 1 of `[N, C, ...]`: in training,
 * each channel is normalised with the batch's mean and biased variance, and the running
 * statistics move towards the batch's (the variance's unbiased estimate) by `momentum` (or to
 * their cumulative average when `momentum` is null); in eval, the running statistics are used.
 * Without `trackRunningStats` the batch statistics are used in both modes.
 */
abstract class BatchNorm extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  /** Present when `affine`. */
  readonly weight: Parameter | null = null;
  readonly bias: Parameter | null = null;
  /** Present when `trackRunningStats`. */
  readonly runningMean: Tensor | null = null;
  readonly runningVar: Tensor | null = null;
  /** A shape-[] tensor counting the training batches seen. */
  readonly numBatchesTracked: Tensor | null = null;
  /** Made on first use: only the kernels need it, and a constructor allocates nothing but its tensors (io.buildWithWeights). */
  #identity: { weight: Float32Array; bias: Float32Array } | null = null;
  /** The statistics the last forward normalised with, and whether they were the batch's. */
  #saved: { mean: Float32Array; variance: Float32Array; batchStats: boolean } | null = null;

  protected abstract checkInput(x: Tensor): void;

  constructor(numFeatures: number, options?: BatchNormOptions) {
    super();
    const what = new.target.name;
    this.numFeatures = checkPositiveInt(numFeatures, `${what} numFeatures`);
    const o = checkOptions(options, what);
    this.eps = checkEps(o.eps ?? 1e-5, `${what} eps`);
    const momentum = o.momentum === undefined ? 0.1 : o.momentum;
    this.momentum = momentum === null ? null : checkFinite(momentum, `${what} momentum`);
    this.affine = checkBoolean(o.affine ?? true, `${what} affine`);
    this.trackRunningStats = checkBoolean(o.trackRunningStats ?? true, `${what} trackRunningStats`);
    const c = this.numFeatures;
    if (this.affine) {
      this.weight = this.registerParameter('weight', new Parameter(init.ones(Tensor.zeros([c]))));
      this.bias = this.registerParameter('bias', new Parameter(Tensor.zeros([c])));
    }
    if (this.trackRunningStats) {
      this.runningMean = this.registerBuffer('running_mean', Tensor.zeros([c]));
      this.runningVar = this.registerBuffer('running_var', init.ones(Tensor.zeros([c])));
      this.numBatchesTracked = this.registerBuffer('num_batches_tracked', Tensor.zeros([]));
    }
  }

  toConfig(): ModuleConfig {
    return { type: this.kind, numFeatures: this.numFeatures, eps: this.eps, momentum: this.momentum, affine: this.affine, trackRunningStats: this.trackRunningStats };
  }

  protected static optionsOf(config: ModuleConfig, type: string): [number, BatchNormOptions] {
    const { numFeatures, ...options } = configOptions(config, type, ['numFeatures', 'eps', 'momentum', 'affine', 'trackRunningStats']);
    return [numFeatures as number, options];
  }

  #affine(): { weight: Float32Array; bias: Float32Array } {
    if (!this.affine) return (this.#identity ??= identityAffine(this.numFeatures));
    this.weight!.data.checkUsable(`${this.kind}: weight`);
    this.bias!.data.checkUsable(`${this.kind}: bias`);
    return { weight: this.weight!.data.data, bias: this.bias!.data.data };
  }

  protected checkChannels(x: Tensor, ranks: string): void {
    if (x.shape[1] !== this.numFeatures) {
      throw new RangeError(`${this.kind}.forward: input of shape ${formatShape(x.shape)} has ${x.shape[1]} channels in dimension 1, expected ${this.numFeatures} (numFeatures); ${ranks}`);
    }
  }

  protected forwardImpl(x: Tensor): Tensor {
    this.checkInput(x);
    const c = this.numFeatures;
    const inner = product(x.shape.slice(2));
    const batchStats = this.training || !this.trackRunningStats;
    if (batchStats && x.size / c <= 1) {
      throw new RangeError(`${this.kind}.forward: expected more than 1 value per channel when training, got input of shape ${formatShape(x.shape)}`);
    }
    const { weight, bias } = this.#affine();
    const y = Tensor.emptyLike(x);
    let mean: Float32Array;
    let variance: Float32Array;
    if (batchStats) {
      mean = new Float32Array(c);
      variance = new Float32Array(c);
      kernels().batchNormForwardTrain(x.data, weight, bias, y.data, mean, variance, inner, this.eps);
      if (this.training && this.trackRunningStats) this.#updateRunningStats(mean, variance, x.size / c);
    } else {
      this.runningMean!.checkUsable(`${this.kind}: runningMean`);
      this.runningVar!.checkUsable(`${this.kind}: runningVar`);
      mean = Float32Array.from(this.runningMean!.data);
      variance = Float32Array.from(this.runningVar!.data);
      if (x.size > 0) kernels().batchNormForwardEval(x.data, weight, bias, mean, variance, y.data, inner, this.eps);
    }
    this.#saved = { mean, variance, batchStats };
    return y;
  }

  /** PyTorch's update: running ← (1 - f) · running + f · batch, the variance unbiased (× n / (n - 1)). */
  #updateRunningStats(mean: Float32Array, variance: Float32Array, count: number): void {
    const nbt = this.numBatchesTracked!.data;
    nbt[0]! += 1;
    const f = this.momentum ?? 1 / nbt[0]!;
    const rm = this.runningMean!.data;
    const rv = this.runningVar!.data;
    const unbias = count / (count - 1);
    for (let i = 0; i < rm.length; i++) {
      rm[i] = (1 - f) * rm[i]! + f * mean[i]!;
      rv[i] = (1 - f) * rv[i]! + f * f32(variance[i]! * unbias);
    }
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const saved = this.#saved!;
    const c = this.numFeatures;
    const { weight } = this.#affine();
    const dweight = this.weight ? this.weight.grad : null;
    const dbias = this.bias ? this.bias.grad : null;
    dweight?.checkUsable(`${this.kind}.backward: weight gradient`);
    dbias?.checkUsable(`${this.kind}.backward: bias gradient`);
    const dx = Tensor.emptyLike(x);
    if (x.size > 0) kernels().batchNormBackward(x.data, gradOutput.data, weight, saved.mean, saved.variance, dx.data, dweight?.data ?? new Float32Array(c), dbias?.data ?? new Float32Array(c), product(x.shape.slice(2)), this.eps, saved.batchStats);
    return dx;
  }
}

/** BatchNorm over `[N, C]` or `[N, C, L]` (per channel C). */
export class BatchNorm1d extends BatchNorm {
  protected checkInput(x: Tensor): void {
    if (x.shape.length !== 2 && x.shape.length !== 3) {
      throw new RangeError(`BatchNorm1d.forward: expected a 2-D [N, C] or 3-D [N, C, L] input, got shape ${formatShape(x.shape)}`);
    }
    this.checkChannels(x, 'input is [N, C] or [N, C, L]');
  }

  static fromConfig(config: ModuleConfig): BatchNorm1d {
    return new BatchNorm1d(...BatchNorm.optionsOf(config, 'BatchNorm1d'));
  }
}

/** BatchNorm over `[N, C, H, W]` (per channel C). */
export class BatchNorm2d extends BatchNorm {
  protected checkInput(x: Tensor): void {
    if (x.shape.length !== 4) {
      throw new RangeError(`BatchNorm2d.forward: expected a 4-D [N, C, H, W] input, got shape ${formatShape(x.shape)}`);
    }
    this.checkChannels(x, 'input is [N, C, H, W]');
  }

  static fromConfig(config: ModuleConfig): BatchNorm2d {
    return new BatchNorm2d(...BatchNorm.optionsOf(config, 'BatchNorm2d'));
  }
}

/**
 * Group normalisation (Wu & He 2018): the channels of `[N, C, ...]` are split into
 * `numGroups` groups, each (sample, group) normalised with its own mean and biased variance,
 * then scaled and shifted per channel. Independent of the batch size; same in train and eval.
 */
export class GroupNorm extends Module {
  readonly numGroups: number;
  readonly numChannels: number;
  readonly eps: number;
  readonly affine: boolean;
  readonly weight: Parameter | null = null;
  readonly bias: Parameter | null = null;
  /** Made on first use: only the kernels need it, and a constructor allocates nothing but its tensors (io.buildWithWeights). */
  #identity: { weight: Float32Array; bias: Float32Array } | null = null;
  #saved: { mean: Float32Array; variance: Float32Array } | null = null;

  constructor(numGroups: number, numChannels: number, options?: { eps?: number; affine?: boolean }) {
    super();
    this.numGroups = checkPositiveInt(numGroups, 'GroupNorm numGroups');
    this.numChannels = checkPositiveInt(numChannels, 'GroupNorm numChannels');
    if (numChannels % numGroups !== 0) {
      throw new RangeError(`GroupNorm: numChannels ${numChannels} is not divisible by numGroups ${numGroups}`);
    }
    const o = checkOptions(options, 'GroupNorm');
    this.eps = checkEps(o.eps ?? 1e-5, 'GroupNorm eps');
    this.affine = checkBoolean(o.affine ?? true, 'GroupNorm affine');
    const c = this.numChannels;
    if (this.affine) {
      this.weight = this.registerParameter('weight', new Parameter(init.ones(Tensor.zeros([c]))));
      this.bias = this.registerParameter('bias', new Parameter(Tensor.zeros([c])));
    }
  }

  toConfig(): ModuleConfig {
    return { type: 'GroupNorm', numGroups: this.numGroups, numChannels: this.numChannels, eps: this.eps, affine: this.affine };
  }

  static fromConfig(config: ModuleConfig): GroupNorm {
    const { numGroups, numChannels, ...options } = configOptions(config, 'GroupNorm', ['numGroups', 'numChannels', 'eps', 'affine']);
    return new GroupNorm(numGroups as number, numChannels as number, options);
  }

  #affine(): { weight: Float32Array; bias: Float32Array } {
    if (!this.affine) return (this.#identity ??= identityAffine(this.numChannels));
    this.weight!.data.checkUsable('GroupNorm: weight');
    this.bias!.data.checkUsable('GroupNorm: bias');
    return { weight: this.weight!.data.data, bias: this.bias!.data.data };
  }

  protected forwardImpl(x: Tensor): Tensor {
    if (x.shape.length < 2 || x.shape[1] !== this.numChannels) {
      throw new RangeError(`GroupNorm.forward: input of shape ${formatShape(x.shape)} must be [N, ${this.numChannels}, ...] (numChannels ${this.numChannels} in dimension 1)`);
    }
    const { weight, bias } = this.#affine();
    const stats = x.shape[0]! * this.numGroups;
    const mean = new Float32Array(stats);
    const variance = new Float32Array(stats);
    const y = Tensor.emptyLike(x);
    if (x.size > 0) kernels().groupNormForward(x.data, weight, bias, y.data, mean, variance, this.numGroups, product(x.shape.slice(2)), this.eps);
    this.#saved = { mean, variance };
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const { weight } = this.#affine();
    const c = this.numChannels;
    this.weight?.grad.checkUsable('GroupNorm.backward: weight gradient');
    this.bias?.grad.checkUsable('GroupNorm.backward: bias gradient');
    const dx = Tensor.emptyLike(x);
    const { mean, variance } = this.#saved!;
    if (x.size > 0) kernels().groupNormBackward(x.data, gradOutput.data, weight, mean, variance, dx.data, this.weight?.grad.data ?? new Float32Array(c), this.bias?.grad.data ?? new Float32Array(c), this.numGroups, product(x.shape.slice(2)), this.eps);
    return dx;
  }
}

/**
 * Layer normalisation (Ba et al. 2016) over the trailing dimensions `normalizedShape`: each
 * such block is normalised with its own mean and biased variance, then scaled and shifted
 * elementwise (`weight` and `bias` of shape `normalizedShape`).
 */
export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  readonly weight: Parameter | null = null;
  readonly bias: Parameter | null = null;
  /** Made on first use: only the kernels need it, and a constructor allocates nothing but its tensors (io.buildWithWeights). */
  #identity: { weight: Float32Array; bias: Float32Array } | null = null;
  #saved: { mean: Float32Array; variance: Float32Array } | null = null;

  constructor(normalizedShape: number | readonly number[], options?: { eps?: number; elementwiseAffine?: boolean }) {
    super();
    const dims = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    if (!Array.isArray(dims) || dims.length === 0) {
      throw new TypeError(`LayerNorm normalizedShape must be a positive integer or a non-empty array of them, got ${describeValue(normalizedShape)}`);
    }
    dims.forEach((d, i) => checkPositiveInt(d, `LayerNorm normalizedShape[${i}]`));
    checkShape(dims, 'LayerNorm normalizedShape');
    this.normalizedShape = Object.freeze([...dims]);
    const o = checkOptions(options, 'LayerNorm');
    this.eps = checkEps(o.eps ?? 1e-5, 'LayerNorm eps');
    this.elementwiseAffine = checkBoolean(o.elementwiseAffine ?? true, 'LayerNorm elementwiseAffine');
    if (this.elementwiseAffine) {
      this.weight = this.registerParameter('weight', new Parameter(init.ones(Tensor.zeros(dims))));
      this.bias = this.registerParameter('bias', new Parameter(Tensor.zeros(dims)));
    }
  }

  toConfig(): ModuleConfig {
    return { type: 'LayerNorm', normalizedShape: [...this.normalizedShape], eps: this.eps, elementwiseAffine: this.elementwiseAffine };
  }

  static fromConfig(config: ModuleConfig): LayerNorm {
    const { normalizedShape, ...options } = configOptions(config, 'LayerNorm', ['normalizedShape', 'eps', 'elementwiseAffine']);
    return new LayerNorm(normalizedShape as number[], options);
  }

  #affine(): { weight: Float32Array; bias: Float32Array } {
    if (!this.elementwiseAffine) return (this.#identity ??= identityAffine(product(this.normalizedShape)));
    this.weight!.data.checkUsable('LayerNorm: weight');
    this.bias!.data.checkUsable('LayerNorm: bias');
    return { weight: this.weight!.data.data, bias: this.bias!.data.data };
  }

  protected forwardImpl(x: Tensor): Tensor {
    const k = this.normalizedShape.length;
    const tail = x.shape.slice(x.shape.length - k);
    if (x.shape.length < k || tail.some((d, i) => d !== this.normalizedShape[i])) {
      throw new RangeError(`LayerNorm.forward: input of shape ${formatShape(x.shape)} does not end in normalizedShape ${formatShape(this.normalizedShape)}`);
    }
    const { weight, bias } = this.#affine();
    const rows = x.size / weight.length;
    const mean = new Float32Array(rows);
    const variance = new Float32Array(rows);
    const y = Tensor.emptyLike(x);
    if (x.size > 0) kernels().layerNormForward(x.data, weight, bias, y.data, mean, variance, this.eps);
    this.#saved = { mean, variance };
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const { weight } = this.#affine();
    const d = weight.length;
    this.weight?.grad.checkUsable('LayerNorm.backward: weight gradient');
    this.bias?.grad.checkUsable('LayerNorm.backward: bias gradient');
    const dx = Tensor.emptyLike(x);
    const { mean, variance } = this.#saved!;
    if (x.size > 0) kernels().layerNormBackward(x.data, gradOutput.data, weight, mean, variance, dx.data, this.weight?.grad.data ?? new Float32Array(d), this.bias?.grad.data ?? new Float32Array(d), this.eps);
    return dx;
  }
}

/**
 * L2 normalisation along `dim`, as `torch.nn.functional.normalize`: y = x / max(‖x‖₂, eps).
 * With `scale` (ParseNet, Liu et al. 2015), each entry along `dim` is then multiplied by a
 * learned `weight` initialised to `scale`: normalising the features of different layers to one
 * norm and learning their scale back is what kept max-pooled features from destabilising
 * training. The weight has `numChannels` entries; without `numChannels` it is created at the
 * first forward, sized by the input (so `parameters()` is empty until then: pass
 * `numChannels` to hand the weight to an optimizer before any forward).
 */
export class L2Norm extends Module {
  readonly dim: number;
  readonly eps: number;
  readonly scale: number | null;
  #numChannels: number | null;
  #weight: Parameter | null = null;
  #saved: { norm: Float32Array } | null = null;

  constructor(options?: { dim?: number; eps?: number; scale?: number; numChannels?: number }) {
    super();
    const o = checkOptions(options, 'L2Norm');
    const dim = o.dim ?? 1;
    if (typeof dim !== 'number') throw new TypeError(`L2Norm dim must be a number, got ${describeValue(dim)}`);
    if (!Number.isInteger(dim)) throw new RangeError(`L2Norm dim must be an integer, got ${dim}`);
    this.dim = dim;
    this.eps = checkEps(o.eps ?? 1e-12, 'L2Norm eps');
    this.scale = o.scale === undefined ? null : checkFinite(o.scale, 'L2Norm scale');
    this.#numChannels = o.numChannels === undefined ? null : checkPositiveInt(o.numChannels, 'L2Norm numChannels');
    if (this.scale !== null && this.#numChannels !== null) this.#createWeight(this.#numChannels);
  }

  /** The learned per-channel scale (with `scale`), or null. */
  get weight(): Parameter | null {
    return this.#weight;
  }

  /** Entries along `dim` (the weight's size): given, or fixed by the first forward with a scale. */
  get numChannels(): number | null {
    return this.#numChannels;
  }

  #createWeight(c: number): void {
    this.#numChannels = c;
    this.#weight = this.registerParameter('weight', new Parameter(init.constant(Tensor.zeros([c]), this.scale!)));
  }

  toConfig(): ModuleConfig {
    const config: ModuleConfig = { type: 'L2Norm', dim: this.dim, eps: this.eps };
    if (this.scale !== null) config.scale = this.scale;
    if (this.#numChannels !== null) config.numChannels = this.#numChannels;
    return config;
  }

  static fromConfig(config: ModuleConfig): L2Norm {
    return new L2Norm(configOptions(config, 'L2Norm', ['dim', 'eps', 'scale', 'numChannels']));
  }

  /** `[outer, d, inner]` of the input around `dim`, and the weight along it. */
  #layout(x: Tensor): { inner: number; weight: Float32Array } {
    const rank = x.shape.length;
    const dim = this.dim < 0 ? this.dim + rank : this.dim;
    if (dim < 0 || dim >= rank) {
      throw new RangeError(`L2Norm: dim ${this.dim} is out of range for an input of shape ${formatShape(x.shape)}`);
    }
    const d = x.shape[dim]!;
    if (this.#numChannels !== null && d !== this.#numChannels) {
      throw new RangeError(`L2Norm: input of shape ${formatShape(x.shape)} has ${d} entries along dim ${this.dim}, expected ${this.#numChannels} (numChannels)`);
    }
    if (this.scale !== null && this.#weight === null) {
      if (d === 0) throw new RangeError(`L2Norm: input of shape ${formatShape(x.shape)} has no entries along dim ${this.dim} to size the weight by`);
      this.#createWeight(d);
    }
    let weight: Float32Array;
    if (this.#weight) {
      this.#weight.data.checkUsable('L2Norm: weight');
      weight = this.#weight.data.data;
    } else {
      weight = new Float32Array(d).fill(1);
    }
    return { inner: product(x.shape.slice(dim + 1)), weight };
  }

  protected forwardImpl(x: Tensor): Tensor {
    const { inner, weight } = this.#layout(x);
    const y = Tensor.emptyLike(x);
    const norm = new Float32Array(weight.length === 0 ? 0 : x.size / weight.length);
    if (x.size > 0) kernels().l2NormForward(x.data, weight, y.data, norm, inner, this.eps);
    this.#saved = { norm };
    return y;
  }

  protected backwardImpl(gradOutput: Tensor, x: Tensor): Tensor {
    const { inner, weight } = this.#layout(x);
    this.#weight?.grad.checkUsable('L2Norm.backward: weight gradient');
    const dx = Tensor.emptyLike(x);
    if (x.size > 0) {
      kernels().l2NormBackward(x.data, gradOutput.data, weight, this.#saved!.norm, dx.data, this.#weight?.grad.data ?? new Float32Array(weight.length), inner, this.eps);
    }
    return dx;
  }
}
