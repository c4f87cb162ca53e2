// NaN and ±Infinity through every kernel family, against PyTorch's numbers
// (special_values() in scripts/make_fixtures.py writes fixtures/special-values.json): where a
// NaN spreads, which sums become ±Infinity, 0·∞ = NaN, -Infinity log-probabilities, and the
// slope gradient of PReLU over NaN inputs. NaN must be NaN, ±Infinity must be equal, finite
// values within the usual fixture tolerances.
//
// Where PyTorch leaves the result unspecified, the fixture pins the choice liven made: an
// infinite Conv2d weight meeting the zero padding gives NaN (0·∞) on PyTorch's im2col path,
// which the fixture's batch of one takes, and a finite sum on its mkldnn path (larger batches),
// which skips padded taps. liven always multiplies the zeros, as im2col does.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tensor, nn } from '../src/index.js';
import { describeEachBackend } from './helpers/backends.js';
import type { FixtureTensor } from './helpers/fixtures.js';
import { decode, expectCloseInf } from './fixture-values.js';

interface LayerCase {
  name: string;
  config: nn.ModuleConfig;
  train: boolean;
  input: FixtureTensor;
  gradOutput: FixtureTensor;
  output: FixtureTensor;
  gradInput: FixtureTensor;
  params: Record<string, FixtureTensor>;
  paramGrads: Record<string, FixtureTensor>;
  buffersBefore: Record<string, FixtureTensor>;
  buffers: Record<string, FixtureTensor>;
}

interface LossCase {
  name: string;
  loss: 'CrossEntropyLoss' | 'MSELoss';
  options: Record<string, unknown>;
  input: FixtureTensor;
  target: number[] | FixtureTensor;
  output: FixtureTensor;
  gradInput: FixtureTensor;
}

const fixture: { torch: string; cases: LayerCase[]; losses: LossCase[] } = JSON.parse(readFileSync(new URL('./fixtures/special-values.json', import.meta.url), 'utf8'));

const tensorOf = (t: FixtureTensor): Tensor => Tensor.from(decode(t).data, t.shape);
const TOL = { atol: 1e-5, rtol: 1e-4 };
const nonFinite = (t: FixtureTensor): number => decode(t).data.filter((v) => !Number.isFinite(v)).length;

describe('the special-values fixture', () => {
  it('puts NaN or ±Infinity into every case and covers every kernel family', () => {
    for (const c of fixture.cases) {
      const inParams = Object.values(c.params).reduce((n, p) => n + nonFinite(p), 0);
      expect(nonFinite(c.input) + nonFinite(c.gradOutput) + inParams, c.name).toBeGreaterThan(0);
    }
    for (const c of fixture.losses) expect(nonFinite(c.input), c.name).toBeGreaterThan(0);
    const types = new Set(fixture.cases.map((c) => c.config.type));
    for (const t of ['ReLU', 'LeakyReLU', 'PReLU', 'MaxPool2d', 'AvgPool2d', 'GlobalAvgPool2d', 'GlobalMaxPool2d', 'BatchNorm1d', 'BatchNorm2d', 'GroupNorm', 'LayerNorm', 'L2Norm', 'Softmax', 'LogSoftmax', 'Linear', 'Conv2d']) {
      expect(types, t).toContain(t);
    }
    expect(new Set(fixture.losses.map((c) => c.loss))).toEqual(new Set(['CrossEntropyLoss', 'MSELoss']));
  });

  it("records PReLU's slope gradient as NaN where a channel's input has a NaN", () => {
    const c = fixture.cases.find((k) => k.name === 'prelu per channel [N, C], NaN in channel 2 only')!;
    // [4, 3] with the NaN at flat index 5: channel 2. Its slope's gradient is NaN, the others' not.
    expect([...decode(c.paramGrads.weight!).data].map(Number.isNaN)).toEqual([false, false, true]);
  });
});

describeEachBackend('special values match PyTorch', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const m = nn.moduleFromConfig(c.config);
    expect(m.namedParameters().map(([n]) => n)).toEqual(Object.keys(c.params));
    for (const [name, p] of m.namedParameters()) p.data.data.set(decode(c.params[name]!).data);
    const buffers = m.namedBuffers().filter(([n]) => n in c.buffersBefore);
    expect(buffers.map(([n]) => n).sort()).toEqual(Object.keys(c.buffersBefore).sort());
    for (const [name, b] of buffers) b.data.set(decode(c.buffersBefore[name]!).data);
    m.train(c.train);

    expectCloseInf(m.forward(tensorOf(c.input)), decode(c.output), 'output', TOL);
    expectCloseInf(m.backward(tensorOf(c.gradOutput)), decode(c.gradInput), 'input gradient', TOL);
    for (const [name, p] of m.namedParameters()) expectCloseInf(p.grad, decode(c.paramGrads[name]!), `gradient of ${name}`, TOL);
    for (const [name, b] of buffers) expectCloseInf(b, decode(c.buffers[name]!), `buffer ${name}`, TOL);
  });

  it.each(fixture.losses.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const loss = c.loss === 'CrossEntropyLoss' ? new nn.CrossEntropyLoss(c.options) : new nn.MSELoss(c.options);
    const target = Array.isArray(c.target) ? Int32Array.from(c.target) : tensorOf(c.target);
    const value = loss.forward(tensorOf(c.input), target);
    expectCloseInf(Tensor.from([value], [1]), decode(c.output), 'loss', TOL);
    expectCloseInf(loss.backward(), decode(c.gradInput), 'input gradient', TOL);
  });
});
