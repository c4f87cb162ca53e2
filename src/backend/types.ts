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
  /** A plain copy: the memory-bandwidth reference of the benchmarks. */
  copy(x: Float32Array, y: Float32Array): void;
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

export type BackendName = 'native' | 'js';
