// Figures over seeds: mean, spread, and whether a claimed difference holds beyond it.

/** A figure over seeds (non-finite values, e.g. of a diverged seed, left out and counted in `n` only when finite). */
export interface Spread {
  mean: number;
  /** Sample standard deviation (n − 1); NaN with fewer than 2 finite values. */
  std: number;
  /** Standard error of the mean, std / √n. */
  se: number;
  min: number;
  max: number;
  /** Finite values it is over. */
  n: number;
}

/** Mean, sample standard deviation, standard error, min and max of the finite `values`. */
export function spread(values: readonly number[]): Spread {
  const v = values.filter(Number.isFinite);
  const n = v.length;
  if (n === 0) return { mean: NaN, std: NaN, se: NaN, min: NaN, max: NaN, n };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  return { mean, std, se: std / Math.sqrt(n), min: Math.min(...v), max: Math.max(...v), n };
}

/**
 * The clinic's rule for a claim "a is larger than b" over seeds: true when mean(a) − mean(b)
 * exceeds the sum of their standard errors, false when mean(b) − mean(a) does, null otherwise
 * (also with fewer than 2 seeds per side: one draw has no spread to judge by).
 */
export function holdsGreater(a: readonly number[], b: readonly number[]): boolean | null {
  const x = spread(a);
  const y = spread(b);
  const margin = x.se + y.se;
  if (!Number.isFinite(margin) || !Number.isFinite(x.mean) || !Number.isFinite(y.mean)) return null;
  if (x.mean - y.mean > margin) return true;
  if (y.mean - x.mean > margin) return false;
  return null;
}

/** Several claims as one: false if any is false, true if all are true, null otherwise. */
export function allHold(results: readonly (boolean | null)[]): boolean | null {
  if (results.includes(false)) return false;
  return results.every((r) => r === true) ? true : null;
}

/** "94.1% ± 0.8%" (a fraction as percent) or "0.123 ± 0.004"; the ± part only with a spread. */
export function formatSpread(s: Spread, percent: boolean, digits = percent ? 1 : 3): string {
  const f = (x: number) => (percent ? `${(100 * x).toFixed(digits)}%` : x.toFixed(digits));
  if (!Number.isFinite(s.mean)) return 'n/a';
  return Number.isFinite(s.std) ? `${f(s.mean)} ± ${f(s.std)}` : f(s.mean);
}
