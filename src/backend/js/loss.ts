// Cross-entropy and mean squared error in plain TypeScript (float64 arithmetic): the reference
// for liven-core's loss.rs. Forwards return the sum over samples; backwards scale by `scale`.

export function crossEntropyForward(x: Float32Array, target: Int32Array, stats: Float32Array, n: number, c: number, labelSmoothing: number): number {
  let total = 0;
  for (let r = 0; r < n; r++) {
    const row = r * c;
    let m = -Infinity;
    for (let j = 0; j < c; j++) if (x[row + j]! > m) m = x[row + j]!;
    let s = 0;
    let shifted = 0;
    for (let j = 0; j < c; j++) {
      s += Math.exp(x[row + j]! - m);
      shifted += x[row + j]! - m;
    }
    const lse = Math.log(s);
    // -log p[t] = lse - (x[t] - m); the smoothing term is the mean of -log p over classes.
    const nll = lse - (x[row + target[r]!]! - m);
    // Without smoothing the term is left out, not multiplied by 0: an infinite logit makes it
    // infinite, and 0·∞ would turn PyTorch's infinite loss into NaN.
    total += labelSmoothing > 0 ? (1 - labelSmoothing) * nll + labelSmoothing * (lse - shifted / c) : nll;
    stats[2 * r] = m;
    stats[2 * r + 1] = lse;
  }
  return total;
}

export function crossEntropyBackward(x: Float32Array, target: Int32Array, stats: Float32Array, dx: Float32Array, n: number, c: number, labelSmoothing: number, scale: number): void {
  const off = labelSmoothing / c;
  for (let r = 0; r < n; r++) {
    const row = r * c;
    const m = stats[2 * r]!;
    const lse = stats[2 * r + 1]!;
    for (let j = 0; j < c; j++) {
      const hit = j === target[r] ? 1 - labelSmoothing : 0;
      dx[row + j] = (Math.exp(x[row + j]! - m - lse) - off - hit) * scale;
    }
  }
}

export function mseForward(x: Float32Array, target: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i]! - target[i]!;
    s += d * d;
  }
  return s;
}

export function mseBackward(x: Float32Array, target: Float32Array, dx: Float32Array, scale: number): void {
  for (let i = 0; i < x.length; i++) dx[i] = (x[i]! - target[i]!) * scale;
}
