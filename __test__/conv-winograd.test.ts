// PyTorch's numbers for 3×3 layers large enough for the native backend's Winograd path, too
// large to store whole. Inputs, weights, bias and the output gradient come from a formula that
// scripts/make_fixtures.py (conv_winograd) and this file compute bit for bit; the fixture keeps
// ~256 entries of y, dx, dW and db at fixed indices (plane corners and edges among them) and
// their sums. Native runs Winograd (at 1 and 2 threads), js the direct loops.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { native } from '../src/backend/index.js';
import { Tensor, getNumThreads, nn, setNumThreads } from '../src/index.js';
import { backends, withBackend } from './helpers/backends.js';
import { expectClose, gradcheck } from './helpers/numeric.js';

interface Sampled {
  at: number[];
  values: number[];
  sum: number;
  sumAbs: number;
  maxAbs: number;
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
  tensors: Record<'output' | 'gradInput' | 'gradWeight', Sampled> & { gradBias?: Sampled };
}

const cases: WinogradCase[] = JSON.parse(readFileSync(new URL('./fixtures/conv-winograd.json', import.meta.url), 'utf8')).cases;

/**
 * Element i is k/2^bits - 1/2 for k the top `bits` (<= 24) bits of a 32-bit hash of (seed, i):
 * exact in float32 (hash_values in scripts/make_fixtures.py).
 */
function hashValues(seed: number, n: number, bits: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let h = (Math.imul(i, 0x9e3779b1) + seed) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    out[i] = (h >>> (32 - bits)) / 2 ** bits - 0.5;
  }
  return out;
}

function formulaTensor(c: WinogradCase, key: string, shape: number[]): Tensor {
  return Tensor.from(hashValues(c.seeds[key]!, shape.reduce((a, b) => a * b, 1), c.bits), shape);
}

/** The layer of case `c` with the formula's weights, and its formula input and output gradient. */
function build(c: WinogradCase): { m: nn.Conv2d; x: Tensor; dy: Tensor } {
  const m = new nn.Conv2d(c.inChannels, c.outChannels, 3, { padding: 1, bias: c.bias });
  m.weight.data.data.set(formulaTensor(c, 'weight', [...m.weight.data.shape]).data);
  if (m.bias) m.bias.data.data.set(formulaTensor(c, 'bias', [c.outChannels]).data);
  const [n, , h, w] = c.inputShape as [number, number, number, number];
  return { m, x: formulaTensor(c, 'input', c.inputShape), dy: formulaTensor(c, 'gradOutput', [n, c.outChannels, h, w]) };
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

describe('the formula rebuilds the fixture inputs bit for bit', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { m, x, dy } = build(c);
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
    const { m, x, dy } = build(c);
    const got: Record<string, Float32Array> = {};
    try {
      setNumThreads(t);
      withBackend(backend, () => {
        got.output = m.forward(x).data;
        got.gradInput = m.backward(dy).data;
      });
    } finally {
      setNumThreads(threads);
    }
    got.gradWeight = m.weight.grad.data;
    if (m.bias) got.gradBias = m.bias.grad.data;
    expect(Object.keys(got).sort()).toEqual(Object.keys(c.tensors).sort());
    for (const [key, ref] of Object.entries(c.tensors) as [string, Sampled][]) {
      const data = got[key]!;
      // Samples: within 1e-4 of the tensor's scale (its max-abs). Measured: 0 for 6-bit values
      // (every result is exact in float32, on both paths), at most 6.4e-7 for 24-bit ones.
      const scale = ref.maxAbs;
      expectClose(Float32Array.from(ref.at, (i) => data[i]!), { data: ref.values }, `${key} samples`, { atol: 1e-4 * scale, rtol: 0 });
      // Sums: were every entry off by 1e-6 of its own magnitude (float32 carries 6e-8; the
      // samples above see at most 1.2e-6 of the scale, PyTorch's float32 too), the sum would be off
      // by at most 1e-6·Σ|entries|. Measured: 7e-8·Σ|entries| (js's bias gradient), Winograd 7e-9.
      expect(Math.abs(sum(data) - ref.sum), `${key}: sum ${sum(data)}, PyTorch ${ref.sum}`).toBeLessThanOrEqual(1e-6 * ref.sumAbs);
      let maxAbs = 0;
      for (const v of data) maxAbs = Math.max(maxAbs, Math.abs(v));
      expect(Math.abs(maxAbs - ref.maxAbs), `${key}: max-abs ${maxAbs}, PyTorch ${ref.maxAbs}`).toBeLessThanOrEqual(1e-4 * scale);
    }
  });
});

describe.runIf(native)('finite differences on the smallest Winograd layer (native)', () => {
  it('48->48 on 24x24, batch 1: 48 random entries of x, weight and bias', () => {
    const c = cases.find((k) => k.name.startsWith('48->48 on 24x24'))!;
    const { m, x } = build(c);
    withBackend('native', () => gradcheck(m, x, { coordinates: 48 }));
  });
});
