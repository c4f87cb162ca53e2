// Per-unit activation statistics in plain TypeScript: the same functions as liven-core's
// stats.rs (see there for the accumulator layout), the reference the native kernels are tested
// against. JS numbers are float64, so the sums here are exact up to ordering.

/** Accumulator fields per unit, field-major: `acc[field * units + unit]`. */
export const STAT_FIELDS = { active: 0, zeros: 1, maxAbs: 2, sumAbs: 3, sum: 4, sumSq: 5, min: 6, max: 7, saturated: 8 } as const;
export const STAT_FIELD_COUNT = 9;
/** |y| in [2^e, 2^(e+1)) has a bin of its own for e in [HIST_MIN_EXP, HIST_MAX_EXP]. */
export const HIST_MIN_EXP = -14;
export const HIST_MAX_EXP = 9;
const OCTAVES = HIST_MAX_EXP - HIST_MIN_EXP + 1;
/** OCTAVES negative bins (most negative first), one for ±0, OCTAVES positive bins. */
export const HIST_BINS = 2 * OCTAVES + 1;

/** `lo`, `hi`: outputs `<= lo` or `>= hi` count as saturated (NaN bounds: none). */
export function unitStats(pre: Float32Array, y: Float32Array, units: number, inner: number, acc: Float64Array, lo: number, hi: number): void {
  const satLo = Math.fround(lo);
  const satHi = Math.fround(hi);
  const block = units * inner;
  const outer = y.length / block;
  const F = STAT_FIELDS;
  for (let u = 0; u < units; u++) {
    let active = 0;
    let zeros = 0;
    let saturated = 0;
    let maxAbs = 0;
    let sumAbs = 0;
    let sum = 0;
    let sumSq = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let n = 0; n < outer; n++) {
      const start = n * block + u * inner;
      for (let i = start; i < start + inner; i++) {
        const p = pre[i]!;
        const v = y[i]!;
        if (!(p <= 0)) active++;
        if (v === 0) zeros++;
        if (v <= satLo || v >= satHi) saturated++;
        const a = Math.abs(v);
        if (a > maxAbs) maxAbs = a;
        if (v < min) min = v;
        if (v > max) max = v;
        sumAbs += a;
        sum += v;
        sumSq += v * v;
      }
    }
    acc[F.active * units + u]! += active;
    acc[F.zeros * units + u]! += zeros;
    acc[F.saturated * units + u]! += saturated;
    acc[F.maxAbs * units + u] = Math.max(acc[F.maxAbs * units + u]!, maxAbs);
    acc[F.sumAbs * units + u]! += sumAbs;
    acc[F.sum * units + u]! += sum;
    acc[F.sumSq * units + u]! += sumSq;
    acc[F.min * units + u] = Math.min(acc[F.min * units + u]!, min);
    acc[F.max * units + u] = Math.max(acc[F.max * units + u]!, max);
  }
}

const bits = new Uint32Array(1);
const asFloat = new Float32Array(bits.buffer);

/** The histogram bin of `v` (a float32 value), or -1 for NaN. */
export function histogramBin(v: number): number {
  if (Number.isNaN(v)) return -1;
  if (v === 0) return OCTAVES;
  asFloat[0] = v;
  const exp = ((bits[0]! >>> 23) & 0xff) - 127;
  const octave = Math.min(Math.max(exp, HIST_MIN_EXP), HIST_MAX_EXP) - HIST_MIN_EXP;
  return v > 0 ? OCTAVES + 1 + octave : OCTAVES - 1 - octave;
}

export function sampledHistogram(y: Float32Array, maxSamples: number, seed: number, hist: Float64Array): void {
  const len = y.length;
  if (len <= maxSamples) {
    for (let i = 0; i < len; i++) {
      const b = histogramBin(y[i]!);
      if (b >= 0) hist[b]!++;
    }
    return;
  }
  // xorshift32 and one element per block, as liven-core's sample_indices: block widths by
  // carrying the remainder (no division), the offset from the top 16 bits (exact in a double).
  let s = seed >>> 0 || 1;
  const q = Math.floor(len / maxSamples);
  const r = len % maxSamples;
  let start = 0;
  let rem = 0;
  for (let i = 0; i < maxSamples; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    rem += r;
    let width = q;
    if (rem >= maxSamples) {
      width++;
      rem -= maxSamples;
    }
    const b = histogramBin(y[start + Math.floor(((s >>> 16) * width) / 65536)]!);
    if (b >= 0) hist[b]!++;
    start += width;
  }
}
