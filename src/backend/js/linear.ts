// Linear as plain loops, in the order of the definition; the oracle for the native GEMM.

/** y[r, o] = bias[o] + Σ_i x[r, i] · weight[o, i]. */
export function linearForward(x: Float32Array, weight: Float32Array, bias: Float32Array | null, y: Float32Array, rows: number, inFeatures: number, outFeatures: number): void {
  for (let r = 0; r < rows; r++) {
    const xo = r * inFeatures;
    for (let o = 0; o < outFeatures; o++) {
      const wo = o * inFeatures;
      let acc = 0;
      for (let i = 0; i < inFeatures; i++) acc += x[xo + i] * weight[wo + i];
      y[r * outFeatures + o] = (bias === null ? 0 : bias[o]) + acc;
    }
  }
}

/**
 * dx[r, i] = Σ_o dy[r, o] · weight[o, i] (unless `dx` is null); dweight[o, i] += Σ_r dy[r, o] · x[r, i];
 * dbias[o] += Σ_r dy[r, o].
 */
export function linearBackward(x: Float32Array, weight: Float32Array, dy: Float32Array, dx: Float32Array | null, dweight: Float32Array, dbias: Float32Array | null, rows: number, inFeatures: number, outFeatures: number): void {
  dx?.fill(0, 0, rows * inFeatures);
  for (let r = 0; r < rows; r++) {
    const xo = r * inFeatures;
    for (let o = 0; o < outFeatures; o++) {
      const g = dy[r * outFeatures + o];
      const wo = o * inFeatures;
      if (dx !== null) for (let i = 0; i < inFeatures; i++) dx[xo + i] += g * weight[wo + i];
      for (let i = 0; i < inFeatures; i++) dweight[wo + i] += g * x[xo + i];
      if (dbias !== null) dbias[o] += g;
    }
  }
}
