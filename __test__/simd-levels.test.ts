// Every instruction-set level this CPU supports runs the PyTorch fixtures: the level is chosen
// once per process (LIVEN_SIMD), so each runs in a child process of its own.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { native } from '../src/backend/index.js';
import { loadFixture } from './helpers/fixtures.js';
import { expectClose } from './helpers/numeric.js';

const dist = new URL('../dist/index.js', import.meta.url).href;
const levels = native ? native.supportedSimdLevels() : [];

/** Runs `script` (which prints `{ level, results }`) in a child process at `level`; its results. */
function resultsAt(level: string, script: string): { y: unknown[]; dx: unknown[]; grads?: number[][] }[] {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, LIVEN_SIMD: level }, encoding: 'utf8' });
  const { level: used, results } = JSON.parse(out);
  expect(used).toBe(level);
  return results;
}
const fixtureUrl = new URL('./fixtures/activations.json', import.meta.url).href;

/** Runs the fixture cases through the built package and prints outputs and gradients. */
const child = `
import { readFileSync } from 'node:fs';
const { Tensor, nn, simdLevel } = await import(${JSON.stringify(dist)});
const { cases } = JSON.parse(readFileSync(new URL(${JSON.stringify(fixtureUrl)}), 'utf8'));
const results = cases.map((c) => {
  const m = new nn[c.module](c.options);
  if (c.params.weight) m.weight.data.data.set(c.params.weight.data);
  const y = m.forward(Tensor.from(c.input.data, c.input.shape));
  const dx = m.backward(Tensor.from(c.gradOutput.data, c.gradOutput.shape));
  return { y: [...y.data], dx: [...dx.data], grads: m.parameters().map((p) => [...p.grad.data]) };
});
process.stdout.write(JSON.stringify({ level: simdLevel(), results }));
`;

describe.skipIf(!native)('every SIMD level matches PyTorch', () => {
  const { cases } = loadFixture('activations.json');
  it.each(levels)('LIVEN_SIMD=%s', (level) => {
    const results = resultsAt(level, child);
    cases.forEach((c, i) => {
      const r = results[i]!;
      expectClose(Float32Array.from(r.y as number[]), c.output, `${c.name}: output`);
      expectClose(Float32Array.from(r.dx as number[]), c.gradInput, `${c.name}: input gradient`);
      Object.values(c.paramGrads).forEach((g, j) => expectClose(Float32Array.from(r.grads![j]!), g, `${c.name}: weight gradient`, { atol: 1e-5 }));
    });
  });
});

const moreUrl = new URL('./fixtures/activations-more.json', import.meta.url).href;

/** The same for the layers beyond ReLU, whose fixture writes NaN and ±Infinity as strings. */
const moreChild = `
import { readFileSync } from 'node:fs';
const { Tensor, nn, simdLevel } = await import(${JSON.stringify(dist)});
const { cases } = JSON.parse(readFileSync(new URL(${JSON.stringify(moreUrl)}), 'utf8'));
const t = (f) => Tensor.from(f.data.map(Number), f.shape);
const str = (v) => (Number.isFinite(v) ? v : String(v));
const results = cases.map((c) => {
  const m = nn.moduleFromConfig(c.config);
  const y = m.forward(t(c.input));
  const dx = m.backward(t(c.gradOutput));
  return { y: [...y.data].map(str), dx: [...dx.data].map(str) };
});
process.stdout.write(JSON.stringify({ level: simdLevel(), results }));
`;

describe.skipIf(!native)('every SIMD level matches PyTorch on the layers beyond ReLU', () => {
  const { cases } = JSON.parse(readFileSync(new URL(moreUrl), 'utf8')) as { cases: { name: string; output: { data: (number | string)[] }; gradInput: { data: (number | string)[] } }[] };
  const num = (d: (number | string)[]): number[] => d.map(Number);
  it.each(levels)('LIVEN_SIMD=%s', (level) => {
    const results = resultsAt(level, moreChild);
    cases.forEach((c, i) => {
      const r = results[i]!;
      expectClose(Float32Array.from(num(r.y as (number | string)[])), { data: num(c.output.data) }, `${c.name}: output`);
      expectClose(Float32Array.from(num(r.dx as (number | string)[])), { data: num(c.gradInput.data) }, `${c.name}: input gradient`);
    });
  });
});

const opsUrl = new URL('./fixtures/tensor-ops.json', import.meta.url).href;

/** Tensor's arithmetic and sums, and nn.Mul's gradients (its sums over broadcast dims), at one level. */
const opsChild = `
import { readFileSync } from 'node:fs';
const { Tensor, nn, simdLevel } = await import(${JSON.stringify(dist)});
const fx = JSON.parse(readFileSync(new URL(${JSON.stringify(opsUrl)}), 'utf8'));
const t = (f) => Tensor.from(f.data, f.shape);
const results = fx.binary.map((c) => {
  const [a, b] = [t(c.a), t(c.b)];
  const mul = new nn.Mul();
  mul.forward(a, b);
  return { y: ['add', 'sub', 'mul', 'div'].map((op) => [...a[op](b).data]), dx: mul.backward(Tensor.from(new Float32Array(a.add(b).size).fill(1), a.add(b).shape)).map((g) => [...g.data]) };
});
const x = t(fx.x);
const sums = fx.reductions.map((c) => [[...x.sum(c.dim ?? undefined, { keepdim: c.keepdim }).data], [...x.mean(c.dim ?? undefined, { keepdim: c.keepdim }).data]]);
process.stdout.write(JSON.stringify({ level: simdLevel(), results: [...results, { y: sums, dx: [] }] }));
`;

describe.skipIf(!native)("every SIMD level matches PyTorch on Tensor's arithmetic and sums", () => {
  const fx = JSON.parse(readFileSync(new URL(opsUrl), 'utf8')) as {
    binary: (Record<'a' | 'b' | 'add' | 'sub' | 'mul' | 'div', { shape: number[]; data: number[] }>)[];
    reductions: Record<'sum' | 'mean', { data: number[] }>[];
  };
  it.each(levels)('LIVEN_SIMD=%s', (level) => {
    const results = resultsAt(level, opsChild);
    fx.binary.forEach((c, i) => {
      const r = results[i]!;
      (['add', 'sub', 'mul', 'div'] as const).forEach((op, k) => expectClose(Float32Array.from(r.y[k] as number[]), c[op], `case ${i}: ${op}`, { atol: 0, rtol: 0 }));
      // d(a·b)/da summed back to a's shape with dy = 1: b summed over a's broadcast dims.
      const ones = (s: { shape: number[] }): number => s.shape.reduce((p, d) => p * d, 1);
      const expectedDa = Float32Array.from({ length: ones(c.a) }, (_, j) => {
        let sum = 0;
        const outShape = c.add.shape;
        const n = ones(c.add);
        for (let o = 0; o < n; o++) if (flatIndex(o, outShape, c.a.shape) === j) sum += c.b.data[flatIndex(o, outShape, c.b.shape)]!;
        return sum;
      });
      expectClose(Float32Array.from(r.dx[0] as number[]), { data: expectedDa }, `case ${i}: Mul's gradient of a`, { atol: 1e-5, rtol: 1e-5 });
    });
    const sums = results[fx.binary.length]!.y as number[][][];
    fx.reductions.forEach((c, i) => {
      expectClose(Float32Array.from(sums[i]![0]!), c.sum, `reduction ${i}: sum`);
      expectClose(Float32Array.from(sums[i]![1]!), c.mean, `reduction ${i}: mean`);
    });
  });
});

/** The flat index into an operand of shape `shape` of output element `o` of the broadcast shape `out`. */
function flatIndex(o: number, out: number[], shape: number[]): number {
  let index = 0;
  let stride = 1;
  for (let d = out.length - 1; d >= 0; d--) {
    const coord = o % out[d]!;
    o = Math.floor(o / out[d]!);
    const k = d - (out.length - shape.length);
    if (k >= 0) {
      if (shape[k] !== 1) index += coord * stride;
      stride *= shape[k]!;
    }
  }
  return index;
}
