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
  /** y `[rows, out]` = x `[rows, in]` · weightᵀ + bias, weight `[out, in]`. */
  linearForward(x: Float32Array, weight: Float32Array, bias: Float32Array | null, y: Float32Array, rows: number, inFeatures: number, outFeatures: number): void;
  /** Writes dx = dy · weight; adds dyᵀ · x into `dweight` and the column sums of dy into `dbias`. */
  linearBackward(x: Float32Array, weight: Float32Array, dy: Float32Array, dx: Float32Array, dweight: Float32Array, dbias: Float32Array | null, rows: number, inFeatures: number, outFeatures: number): void;
  /** y `[N, out, outH, outW]` = conv2d(x `[N, in, H, W]`, weight `[out, in/groups, kh, kw]`) + bias. */
  conv2dForward(x: Float32Array, weight: Float32Array, bias: Float32Array | null, y: Float32Array, shape: Conv2dShape): void;
  /** Writes dx; adds the weight and bias gradients into `dweight` and `dbias`. */
  conv2dBackward(x: Float32Array, weight: Float32Array, dy: Float32Array, dx: Float32Array, dweight: Float32Array, dbias: Float32Array | null, shape: Conv2dShape): void;
  /** A plain copy: the memory-bandwidth reference of the benchmarks. */
  copy(x: Float32Array, y: Float32Array): void;
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
