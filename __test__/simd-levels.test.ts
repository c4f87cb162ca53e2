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
