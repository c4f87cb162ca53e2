/**
 * The kernels every backend implements, with the signatures of liven-core's functions: plain
 * Float32Arrays in row-major order, outputs written in place (parameter gradients added to).
 * Callers (the nn modules) have already checked every length and shape.
 */
export interface Kernels {
  reluForward(x: Float32Array, y: Float32Array): void;
  reluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  leakyReluForward(x: Float32Array, y: Float32Array, negativeSlope: number): void;
  leakyReluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, negativeSlope: number): void;
  /** `inner`: elements per channel per sample (H·W for `[N, C, H, W]`); ignored for one slope. */
  preluForward(x: Float32Array, weight: Float32Array, y: Float32Array, inner: number): void;
  /** Writes `dx` and adds the slopes' gradient into `dweight`. */
  preluBackward(x: Float32Array, weight: Float32Array, dy: Float32Array, dx: Float32Array, dweight: Float32Array, inner: number): void;
  /** ELU, CELU and SELU: `y = scale·x` where x > 0, else `scale·alpha·(exp(inputScale·x) - 1)`. */
  eluForward(x: Float32Array, y: Float32Array, alpha: number, scale: number, inputScale: number): void;
  eluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, alpha: number, scale: number, inputScale: number): void;
  /** `tanh`: PyTorch's `approximate: 'tanh'`; otherwise the exact erf form. */
  geluForward(x: Float32Array, y: Float32Array, tanh: boolean): void;
  geluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, tanh: boolean): void;
  siluForward(x: Float32Array, y: Float32Array): void;
  siluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  mishForward(x: Float32Array, y: Float32Array): void;
  mishBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  sigmoidForward(x: Float32Array, y: Float32Array): void;
  sigmoidBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  tanhForward(x: Float32Array, y: Float32Array): void;
  tanhBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** Linear where the float32 `beta·x` exceeds `threshold`. */
  softplusForward(x: Float32Array, y: Float32Array, beta: number, threshold: number): void;
  softplusBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, beta: number, threshold: number): void;
  /** clamp(x, min, max); the gradient is 0 at and beyond both bounds. */
  hardtanhForward(x: Float32Array, y: Float32Array, min: number, max: number): void;
  hardtanhBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, min: number, max: number): void;
  hardswishForward(x: Float32Array, y: Float32Array): void;
  hardswishBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  hardsigmoidForward(x: Float32Array, y: Float32Array): void;
  hardsigmoidBackward(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** `y = x · mask` elementwise: Dropout's forward (x) and backward (dy). */
  dropoutApply(x: Float32Array, mask: Float32Array, y: Float32Array): void;
  /**
   * One SGD step in place (PyTorch 1.13's rule). `momentumBuffer` is required when momentum is
   * not 0; `firstStep` says it has not been filled yet (it then becomes a copy of the gradient).
   */
  sgdStep(param: Float32Array, grad: Float32Array, momentumBuffer: Float32Array | null, lr: number, momentum: number, dampening: number, weightDecay: number, nesterov: boolean, firstStep: boolean): void;
  /** One Adagrad step in place; `step` counts from 1. */
  adagradStep(param: Float32Array, grad: Float32Array, stateSum: Float32Array, lr: number, lrDecay: number, weightDecay: number, eps: number, step: number): void;
  /** One Adam step in place (AdamW's decoupled decay when `decoupled`); `step` counts from 1. */
  adamStep(param: Float32Array, grad: Float32Array, expAvg: Float32Array, expAvgSq: Float32Array, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number, decoupled: boolean): void;
  /** The index of the first NaN or infinity, or -1. */
  nonFiniteIndex(x: Float32Array): number;
  /** Σ x², accumulated in float64. */
  sumSquares(x: Float32Array): number;
  /** max |x| (0 when empty, NaN when any element is NaN). */
  maxAbs(x: Float32Array): number;
  /** x = c·x in place. */
  scaleInPlace(x: Float32Array, c: number): void;
  /** x = min(max(x, lo), hi) in place; NaN stays NaN. */
  clampInPlace(x: Float32Array, lo: number, hi: number): void;
  /** Training-mode BatchNorm on `[outer, weight.length, inner]`: writes the batch's per-channel mean and biased variance, and y. */
  batchNormForwardTrain(x: Float32Array, weight: Float32Array, bias: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, inner: number, eps: number): void;
  /** Eval-mode BatchNorm with the given (running) statistics. */
  batchNormForwardEval(x: Float32Array, weight: Float32Array, bias: Float32Array, mean: Float32Array, variance: Float32Array, y: Float32Array, inner: number, eps: number): void;
  /** `training`: the full batch-statistics gradient; otherwise the affine map's. Adds into dweight, dbias. */
  batchNormBackward(x: Float32Array, dy: Float32Array, weight: Float32Array, mean: Float32Array, variance: Float32Array, dx: Float32Array, dweight: Float32Array, dbias: Float32Array, inner: number, eps: number, training: boolean): void;
  /** GroupNorm: mean and biased variance per (sample, group), `[outer, groups]`. */
  groupNormForward(x: Float32Array, weight: Float32Array, bias: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, groups: number, inner: number, eps: number): void;
  groupNormBackward(x: Float32Array, dy: Float32Array, weight: Float32Array, mean: Float32Array, variance: Float32Array, dx: Float32Array, dweight: Float32Array, dbias: Float32Array, groups: number, inner: number, eps: number): void;
  /** LayerNorm over rows of weight.length values: mean and biased variance per row. */
  layerNormForward(x: Float32Array, weight: Float32Array, bias: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, eps: number): void;
  layerNormBackward(x: Float32Array, dy: Float32Array, weight: Float32Array, mean: Float32Array, variance: Float32Array, dx: Float32Array, dweight: Float32Array, dbias: Float32Array, eps: number): void;
  /** y = x / max(‖x‖₂, eps) · weight[k] along the middle dimension of `[outer, weight.length, inner]`; writes the norms `[outer, inner]`. */
  l2NormForward(x: Float32Array, weight: Float32Array, y: Float32Array, norm: Float32Array, inner: number, eps: number): void;
  l2NormBackward(x: Float32Array, dy: Float32Array, weight: Float32Array, norm: Float32Array, dx: Float32Array, dweight: Float32Array, inner: number, eps: number): void;
  /** Max pooling of `planes` planes (N·C): writes `y` and each output's argmax within its plane. */
  maxPool2dForward(x: Float32Array, y: Float32Array, indices: Uint32Array, planes: number, g: Pool2dGeometry): void;
  /** Overwrites `dx` with each output gradient added at its argmax. */
  maxPool2dBackward(dy: Float32Array, indices: Uint32Array, dx: Float32Array, planes: number, g: Pool2dGeometry): void;
  avgPool2dForward(x: Float32Array, y: Float32Array, planes: number, g: Pool2dGeometry, countIncludePad: boolean): void;
  /** Overwrites `dx`. */
  avgPool2dBackward(dy: Float32Array, dx: Float32Array, planes: number, g: Pool2dGeometry, countIncludePad: boolean): void;
  /** `[planes, hw]` → `[planes]`: each plane's mean. */
  globalAvgPoolForward(x: Float32Array, y: Float32Array, hw: number): void;
  globalAvgPoolBackward(dy: Float32Array, dx: Float32Array, hw: number): void;
  /** `[planes, h, w]` → `[planes, oh, ow]`: the mean of each of PyTorch's adaptive bins. */
  adaptiveAvgPool2dForward(x: Float32Array, y: Float32Array, planes: number, h: number, w: number, oh: number, ow: number): void;
  /** `dx` (overwritten): each output gradient spread evenly over its bin, summed where bins overlap. */
  adaptiveAvgPool2dBackward(dy: Float32Array, dx: Float32Array, planes: number, h: number, w: number, oh: number, ow: number): void;
  /** `[planes, hw]` → `[planes]`: each plane's maximum and its index (first max, last NaN). */
  globalMaxPoolForward(x: Float32Array, y: Float32Array, indices: Uint32Array, hw: number): void;
  globalMaxPoolBackward(dy: Float32Array, indices: Uint32Array, dx: Float32Array, hw: number): void;
  /** Softmax of `[outer, dim, inner]` along `dim`. */
  softmaxForward(x: Float32Array, y: Float32Array, outer: number, dim: number, inner: number): void;
  /** From the forward's output `y`. */
  softmaxBackward(y: Float32Array, dy: Float32Array, dx: Float32Array, outer: number, dim: number, inner: number): void;
  logSoftmaxForward(x: Float32Array, y: Float32Array, outer: number, dim: number, inner: number): void;
  /** From the forward's output `y`. */
  logSoftmaxBackward(y: Float32Array, dy: Float32Array, dx: Float32Array, outer: number, dim: number, inner: number): void;
  /** The sum of the `n` rows' cross-entropy losses; `stats` (2n) gets each row's max and log-sum-exp. */
  crossEntropyForward(x: Float32Array, target: Int32Array, stats: Float32Array, n: number, c: number, labelSmoothing: number): number;
  /** `dx = scale · (softmax(x) - (1 - ε)·onehot(target) - ε/C)`, from the forward's `stats`. */
  crossEntropyBackward(x: Float32Array, target: Int32Array, stats: Float32Array, dx: Float32Array, n: number, c: number, labelSmoothing: number, scale: number): void;
  /** Σ (x - target)². */
  mseForward(x: Float32Array, target: Float32Array): number;
  /** `dx = (x - target) · scale`. */
  mseBackward(x: Float32Array, target: Float32Array, dx: Float32Array, scale: number): void;
  /**
   * Merges one forward's per-unit statistics (`pre` → `y`, `[outer, units, inner]`) into the
   * window accumulator `acc` (8 × units float64, field-major: active, zeros, maxAbs, sumAbs, sum,
   * sumSq, min, max). `pre` and `y` may be the same array.
   */
  unitStats(pre: Float32Array, y: Float32Array, units: number, inner: number, acc: Float64Array, lo: number, hi: number): void;
  /** Adds a fixed-bin histogram of at most `maxSamples` elements of `y` (stratified, from `seed`) into `hist`. */
  sampledHistogram(y: Float32Array, maxSamples: number, seed: number, hist: Float64Array): void;
  /** y `[rows, out]` = x `[rows, in]` · weightᵀ + bias, weight `[out, in]`. */
  linearForward(x: Float32Array, weight: Float32Array, bias: Float32Array | null, y: Float32Array, rows: number, inFeatures: number, outFeatures: number): void;
  /**
   * Writes dx = dy · weight (unless `dx` is null: training skips the input's gradient); adds
   * dyᵀ · x into `dweight` and the column sums of dy into `dbias`, the same bits either way.
   */
  linearBackward(x: Float32Array, weight: Float32Array, dy: Float32Array, dx: Float32Array | null, dweight: Float32Array, dbias: Float32Array | null, rows: number, inFeatures: number, outFeatures: number): void;
  /** y `[N, out, outH, outW]` = conv2d(x `[N, in, H, W]`, weight `[out, in/groups, kh, kw]`) + bias. */
  conv2dForward(x: Float32Array, weight: Float32Array, bias: Float32Array | null, y: Float32Array, shape: Conv2dShape): void;
  /**
   * Writes dx (unless null: training skips the input's gradient and its col2im); adds the weight
   * and bias gradients into `dweight` and `dbias`, the same bits either way.
   */
  conv2dBackward(x: Float32Array, weight: Float32Array, dy: Float32Array, dx: Float32Array | null, dweight: Float32Array, dbias: Float32Array | null, shape: Conv2dShape): void;
  /**
   * `out = a op b` elementwise (`op` a `BINARY_OPS` code), `a` and `b` broadcast (shapes
   * right-aligned, as NumPy's) to their common shape, whose size `out` has.
   */
  binaryBroadcast(a: Float32Array, aShape: Uint32Array, b: Float32Array, bShape: Uint32Array, out: Float32Array, op: number): void;
  /** `target += source` elementwise: nn.Add's sum of more than two inputs, a graph's gradient fan-out. */
  addInto(target: Float32Array, source: Float32Array): void;
  /**
   * The sums of `x` (shape `shape`) over `dims` (distinct, increasing), divided by `divisor`
   * (1, or the count for a mean), into `out` (the other dims in order); float64 accumulation.
   */
  sumDims(x: Float32Array, shape: Uint32Array, dims: Uint32Array, out: Float32Array, divisor: number): void;
  /** The first index of the maximum (NaN the largest) along the middle dim of `[outer, size, inner]`, into `out` (`outer·inner`). */
  argmaxAlong(x: Float32Array, outer: number, size: number, inner: number, out: Int32Array): void;
  /** Copies `rows` rows of `len` elements, row r from `src[r·srcStride..]` to `dst[r·dstStride..]` (offsets: pass subarrays); the rest of `dst` is left as it is. */
  copyRows(src: Float32Array, srcStride: number, dst: Float32Array, dstStride: number, rows: number, len: number): void;
  /** A plain copy: the memory-bandwidth reference of the benchmarks. */
  copy(x: Float32Array, y: Float32Array): void;
  /** Parses and validates a whole safetensors file's header; throws an Error that says what is wrong. */
  safetensorsParse(file: Uint8Array): SafetensorsTable;
  /** Converts one tensor's little-endian bytes of `dtype` into `out` (F32, F64, F16, BF16, I64, I32). */
  safetensorsToF32(bytes: Uint8Array, dtype: string, out: Float32Array): void;
}

/** The operation codes of `binaryBroadcast`. */
export const BINARY_OPS = { add: 0, sub: 1, mul: 2, div: 3 } as const;

/** A safetensors file's validated tensor table (absolute byte offsets, file order) and metadata pairs. */
export interface SafetensorsTable {
  tensors: SafetensorsEntry[];
  metadata: string[][];
}

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * A 2-D pooling's geometry: input `h × w`, output `oh × ow` (which also says floor or ceil
 * mode), and kernel, stride, padding and dilation per dimension.
 */
export interface Pool2dGeometry {
  h: number;
  w: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
}

/** One Conv2d call's geometry: every field a positive integer, padding non-negative. */
export interface Conv2dShape {
  batch: number;
  inChannels: number;
  height: number;
  width: number;
  outChannels: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  groups: number;
}

/** Output size along one axis, as PyTorch computes it (0 or less: the kernel does not fit). */
export function convOutSize(input: number, pad: number, kernel: number, stride: number, dilation: number): number {
  return Math.floor((input + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}

export type BackendName = 'native' | 'js';
