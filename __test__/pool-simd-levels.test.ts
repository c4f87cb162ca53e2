// The pooling, softmax and loss fixtures at every instruction-set level this CPU supports: the
// level is chosen once per process (LIVEN_SIMD), so each runs in a child process of its own.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { native } from '../src/backend/index.js';
import { decode, expectCloseInf } from './fixture-values.js';
import { loadFixture } from './helpers/fixtures.js';
import { Tensor } from '../src/index.js';

const dist = new URL('../dist/index.js', import.meta.url).href;
const fixtures = ['pool.json', 'softmax.json'].map((f) => new URL(`./fixtures/${f}`, import.meta.url).href);

/** Runs every module fixture case through the built package; NaN and ±inf travel as strings. */
const child = `
import { readFileSync } from 'node:fs';
const { Tensor, nn, simdLevel } = await import(${JSON.stringify(dist)});
const num = (v) => (typeof v === 'string' ? Number(v) : v);
const out = (a) => [...a].map((v) => (Number.isFinite(v) ? v : String(v)));
const results = ${JSON.stringify(fixtures)}.flatMap((url) => JSON.parse(readFileSync(new URL(url), 'utf8')).cases).map((c) => {
  const { kernelSize, ...o } = c.options;
  const m = kernelSize === undefined ? new nn[c.module](o) : new nn[c.module](kernelSize, o);
  const y = m.forward(Tensor.from(c.input.data.map(num), c.input.shape));
  const dx = m.backward(Tensor.from(c.gradOutput.data.map(num), c.gradOutput.shape));
  return { y: out(y.data), dx: out(dx.data) };
});
process.stdout.write(JSON.stringify({ level: simdLevel(), results }));
`;

describe.skipIf(!native)('pooling and softmax at every SIMD level match PyTorch', () => {
  const cases = ['pool.json', 'softmax.json'].flatMap((f) => loadFixture(f).cases);
  it.each(native ? native.supportedSimdLevels() : [])('LIVEN_SIMD=%s', (level) => {
    const text = execFileSync(process.execPath, ['--input-type=module', '-e', child], {
      env: { ...process.env, LIVEN_SIMD: level },
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    const { level: used, results } = JSON.parse(text);
    expect(used).toBe(level);
    expect(results.length).toBe(cases.length);
    cases.forEach((c, i) => {
      const r = results[i];
      const got = (v: (number | string)[], shape: number[]) => Tensor.from(v.map(Number), shape);
      expectCloseInf(got(r.y, c.output.shape), decode(c.output), `${c.name}: output`, { atol: 1e-6, rtol: 2e-6 });
      expectCloseInf(got(r.dx, c.gradInput.shape), decode(c.gradInput), `${c.name}: input gradient`, { atol: 1e-5, rtol: 1e-5 });
    });
  });
});
