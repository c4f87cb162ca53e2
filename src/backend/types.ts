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
  /** A plain copy: the memory-bandwidth reference of the benchmarks. */
  copy(x: Float32Array, y: Float32Array): void;
}

export type BackendName = 'native' | 'js';
