// PyTorch's numbers for 3×3 layers large enough for the native backend's Winograd path, too
// large to store whole. Inputs, weights, bias and the output gradient come from a formula that
// scripts/make_fixtures.py (conv_winograd) and __test__/helpers/winograd-formula.mjs compute bit
// for bit; the fixture keeps ~256 entries of y, dx, dW and db at fixed indices (plane corners and
// edges among them), their sums and max-abs. Native runs Winograd (at 1 and 2 threads, and at
// every SIMD level), js the direct loops; two layers just under the thresholds run im2col.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { native } from '../src/backend/index.js';
import { Tensor, getNumThreads, nn, setNumThreads } from '../src/index.js';
import { backends, withBackend } from './helpers/backends.js';
import { expectClose, gradcheck } from './helpers/numeric.js';

/** A result reduced as the fixture stores it (PyTorch's in the fixture, liven's from runCase). */
interface Reduced {
  values: number[];
  sum: number;
  maxAbs: number;
}

interface Sampled extends Reduced {
  at: number[];
  sumAbs: number;
  torch32MaxErr: number;
}

interface WinogradCase {
  name: string;
  inChannels: number;
  outChannels: number;
  bias: boolean;
  inputShape: number[];
  bits: number;
  seeds: Record<string, number>;
  formulaCheck: Record<string, { first: number[]; sum: number; sumAbs: number }>;
  tensors: Record<string, Sampled>;
}

const formulaUrl = new URL('./helpers/winograd-formula.mjs', import.meta.url).href;
const { buildCase, runCase } = (await import(formulaUrl)) as {
  buildCase: (lib: { Tensor: typeof Tensor; nn: typeof nn }, c: WinogradCase) => { m: nn.Conv2d; x: Tensor; dy: Tensor };
  runCase: (lib: { Tensor: typeof Tensor; nn: typeof nn }, c: WinogradCase) => Record<string, Reduced>;
};
const fixtureUrl = new URL('./fixtures/conv-winograd.json', import.meta.url);
const cases: WinogradCase[] = JSON.parse(readFileSync(fixtureUrl, 'utf8')).cases;

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

/** Expects liven's reduced results to match PyTorch's for every tensor of case `c`. */
function expectMatches(got: Record<string, Reduced>, c: WinogradCase, what: string): void {
  expect(Object.keys(got).sort(), what).toEqual(Object.keys(c.tensors).sort());
  for (const [key, ref] of Object.entries(c.tensors)) {
    const { values, sum: total, maxAbs } = got[key]!;
    // Samples: within 1e-4 of the tensor's scale (its max-abs). Measured: 0 for 6-bit values
    // (every result is exact in float32, on both paths), at most 6.4e-7 for 24-bit ones.
    const scale = ref.maxAbs;
    expectClose(Float32Array.from(values), { data: ref.values }, `${what}: ${key} samples`, { atol: 1e-4 * scale, rtol: 0 });
    // Sums: were every entry off by 1e-6 of its own magnitude (float32 carries 6e-8; the
    // samples above see at most 1.2e-6 of the scale, PyTorch's float32 too), the sum would be off
    // by at most 1e-6·Σ|entries|. Measured: 7e-8·Σ|entries| (js's bias gradient), Winograd 7e-9.
    expect(Math.abs(total - ref.sum), `${what}: ${key} sum ${total}, PyTorch ${ref.sum}`).toBeLessThanOrEqual(1e-6 * ref.sumAbs);
    expect(Math.abs(maxAbs - ref.maxAbs), `${what}: ${key} max-abs ${maxAbs}, PyTorch ${ref.maxAbs}`).toBeLessThanOrEqual(1e-4 * scale);
  }
}

describe('the formula rebuilds the fixture inputs bit for bit', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { m, x, dy } = buildCase({ Tensor, nn }, c);
    const tensors: Record<string, Float32Array> = { input: x.data, weight: m.weight.data.data, gradOutput: dy.data };
    if (m.bias) tensors.bias = m.bias.data.data;
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(c.formulaCheck).sort());
    for (const [key, data] of Object.entries(tensors)) {
      const check = c.formulaCheck[key]!;
      // Multiples of 2^-bits, few enough: these float64 sums are exact.
      expect([...data.subarray(0, 8)], key).toEqual(check.first);
      expect(sum(data), `${key}: sum`).toBe(check.sum);
      expect(sum(data.map(Math.abs)), `${key}: sum of |values|`).toBe(check.sumAbs);
    }
  });
});

describe('Conv2d 3x3 on Winograd-sized layers matches PyTorch', () => {
  const threads = getNumThreads();
  const runs = backends.flatMap((backend) => (backend === 'native' ? [1, 2] : [1]).map((t) => [backend, t] as const));
  const table = cases.flatMap((c) => runs.map(([backend, t]) => [c.name, backend, t, c] as const));

  it.each(table)('%s [%s, %i threads]', (_name, backend, t, c) => {
    try {
      setNumThreads(t);
      expectMatches(withBackend(backend, () => runCase({ Tensor, nn }, c)), c, `${backend}, ${t} threads`);
    } finally {
      setNumThreads(threads);
    }
  });
});

// The GEMM under Winograd's products runs the `gemm` crate at the CPU's best level and a loop
// compiled for the level otherwise: each level runs the cases in a child process of its own (the
// level is chosen once per process), through the built package.
const child = `
import { readFileSync } from 'node:fs';
const lib = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)});
const { runCase } = await import(${JSON.stringify(formulaUrl)});
const { cases } = JSON.parse(readFileSync(new URL(${JSON.stringify(fixtureUrl.href)}), 'utf8'));
process.stdout.write(JSON.stringify({ level: lib.simdLevel(), results: cases.map((c) => runCase(lib, c)) }));
`;

describe.runIf(native)('Winograd-sized layers match PyTorch at every SIMD level (native)', () => {
  it.each(native ? native.supportedSimdLevels() : [])('LIVEN_SIMD=%s', (level) => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', child], { env: { ...process.env, LIVEN_SIMD: level }, encoding: 'utf8' });
    const { level: used, results } = JSON.parse(out) as { level: string; results: Record<string, Reduced>[] };
    expect(used).toBe(level);
    cases.forEach((c, i) => expectMatches(results[i]!, c, `${c.name}, LIVEN_SIMD=${level}`));
  });
});

describe.runIf(native)('finite differences on the smallest Winograd layer (native)', () => {
  it('48->48 on 24x24, batch 1: 48 random entries of x, weight and bias', () => {
    const c = cases.find((k) => k.name.startsWith('48->48 on 24x24'))!;
    const { m, x } = buildCase({ Tensor, nn }, c);
    withBackend('native', () => gradcheck(m, x, { coordinates: 48 }));
  });
});
