import { expect } from 'vitest';
import { Tensor, type nn } from '../../src/index.js';

/** Expects equal shapes and |a - b| <= atol + rtol·|b| everywhere (NaN matches NaN, ±∞ itself). */
export function expectClose(actual: Tensor | Float32Array, expected: { shape?: readonly number[]; data: ArrayLike<number> }, what: string, { atol = 1e-6, rtol = 1e-5 } = {}): void {
  const a = actual instanceof Tensor ? actual.data : actual;
  if (actual instanceof Tensor && expected.shape) expect(actual.shape, `${what}: shape`).toEqual(expected.shape);
  expect(a.length, `${what}: length`).toBe(expected.data.length);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = expected.data[i]!;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const err = Math.abs(x - y) - (atol + rtol * Math.abs(y));
    if (!(err <= 0) && (worst < 0 || err > worstErr)) {
      worst = i;
      worstErr = Number.isNaN(err) ? Infinity : err;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} is ${a[worst]}, expected ${expected.data[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

/** A deterministic generator for test data (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [lo, hi). */
export function randomTensor(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  const r = rng(seed);
  const t = Tensor.zeros(shape);
  for (let i = 0; i < t.size; i++) t.data[i] = lo + (hi - lo) * r();
  return t;
}

/**
 * Finite-difference check of a module's backward. With a fixed random `r`, the loss
 * L = Σ r ⊙ forward(x) has dL/dx = backward(r) and dL/dθ = the gradients backward adds; each is
 * compared with central differences (x ± h), computed in float64 from float32 forwards.
 * Inputs should keep away from kinks by more than h. For a module of several inputs (`nn.Add`,
 * a graph) pass them as an array; several outputs each get their own `r` (L sums over them).
 * With `coordinates`, only that many seeded random entries of each input and parameter are
 * differenced (two forwards each): for layers too large to difference whole.
 */
export function gradcheck(module: nn.AnyModule, x: Tensor | Tensor[], { h = 1e-2, atol = 2e-3, rtol = 1e-2, seed = 7, coordinates = Infinity } = {}): void {
  const xs = Array.isArray(x) ? x : [x];
  const outputs = (): Tensor[] => {
    const y: Tensor | Tensor[] = module.forward(...xs);
    return Array.isArray(y) ? y : [y];
  };
  const several = Array.isArray(module.forward(...xs));
  const rs = outputs().map((y, i) => randomTensor([...y.shape], seed + i));
  const loss = (): number => {
    let s = 0;
    outputs().forEach((y, j) => {
      for (let i = 0; i < y.size; i++) s += y.data[i]! * rs[j]!.data[i]!;
    });
    return s;
  };
  const pick = rng(seed + 1000);
  /** The entries to difference: all, or `coordinates` distinct random ones in increasing order. */
  const entries = (size: number): number[] => {
    if (size <= coordinates) return Array.from({ length: size }, (_, i) => i);
    const chosen = new Set<number>();
    while (chosen.size < coordinates) chosen.add(Math.floor(pick() * size));
    return [...chosen].sort((a, b) => a - b);
  };
  /** Central differences at `at` of the entries of `values`. */
  const numeric = (values: Float32Array, at: number[]): Float64Array => {
    const g = new Float64Array(at.length);
    for (const [j, i] of at.entries()) {
      const v = values[i]!;
      values[i] = v + h;
      const up = loss();
      values[i] = v - h;
      const down = loss();
      values[i] = v;
      g[j] = (up - down) / (2 * h);
    }
    return g;
  };
  /** Compares `analytic` with the differences of `values` at the chosen entries. */
  const check = (analytic: Float32Array, values: Float32Array, what: string): void => {
    const at = entries(values.length);
    const chosen = at.length === analytic.length ? analytic : Float32Array.from(at, (i) => analytic[i]!);
    expectClose(chosen, { data: numeric(values, at) }, what + (at.length === analytic.length ? '' : ` (at entries ${at.join(',')})`), { atol, rtol });
  };

  module.zeroGrad();
  module.forward(...xs);
  const dx: Tensor | Tensor[] = module.backward(several ? rs : rs[0]);
  const dxs = Array.isArray(dx) ? dx : [dx];
  expect(dxs).toHaveLength(xs.length);
  const analyticParams = module.namedParameters().map(([name, p]) => [name, Float32Array.from(p.grad.data)] as const);

  xs.forEach((xi, i) => check(dxs[i]!.data, xi.data, `gradcheck: input gradient${xs.length > 1 ? ` ${i}` : ''}`));
  for (const [name, grad] of analyticParams) {
    const p = module.namedParameters().find(([n]) => n === name)![1];
    check(grad, p.data.data, `gradcheck: gradient of ${name}`);
  }
}

/** Values in [lo, hi) kept at least `gap` away from 0, where the activations have their kink. */
export function awayFromZero(shape: number[], seed: number, gap = 0.05): Tensor {
  const t = randomTensor(shape, seed, -2, 2);
  for (let i = 0; i < t.size; i++) {
    const v = t.data[i]!;
    if (Math.abs(v) < gap) t.data[i] = v < 0 ? -gap : gap;
  }
  return t;
}

/** Detaches the array's buffer, as a transfer to a worker would. */
export function detach(data: Float32Array): void {
  structuredClone(data.buffer, { transfer: [data.buffer as ArrayBuffer] });
}
