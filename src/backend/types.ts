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
  /** A plain copy: the memory-bandwidth reference of the benchmarks. */
  copy(x: Float32Array, y: Float32Array): void;
}

export type BackendName = 'native' | 'js';
