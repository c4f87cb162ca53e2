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
  /**
   * Merges one forward's per-unit statistics (`pre` → `y`, `[outer, units, inner]`) into the
   * window accumulator `acc` (8 × units float64, field-major: active, zeros, maxAbs, sumAbs, sum,
   * sumSq, min, max). `pre` and `y` may be the same array.
   */
  unitStats(pre: Float32Array, y: Float32Array, units: number, inner: number, acc: Float64Array): void;
  /** Adds a fixed-bin histogram of at most `maxSamples` elements of `y` (stratified, from `seed`) into `hist`. */
  sampledHistogram(y: Float32Array, maxSamples: number, seed: number, hist: Float64Array): void;
  /** A plain copy: the memory-bandwidth reference of the benchmarks. */
  copy(x: Float32Array, y: Float32Array): void;
}

export type BackendName = 'native' | 'js';
