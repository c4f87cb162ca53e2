import { describe, expect, it } from 'vitest';
import { Tensor, nn } from '../src/index.js';
import { backends, describeEachBackend, withBackend } from './helpers/backends.js';
import { loadFixture } from './helpers/fixtures.js';
import { decode, expectCloseInf } from './fixture-values.js';
import { expectClose, gradcheck, randomTensor } from './helpers/numeric.js';

const fixture = loadFixture('softmax.json');

function make(kind: string, options: Record<string, unknown>): nn.Module {
  return kind === 'Softmax' ? new nn.Softmax(options) : new nn.LogSoftmax(options);
}

describeEachBackend('softmax and log-softmax match PyTorch', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const m = make(c.module, c.options);
    const x = decode(c.input);
    const y = m.forward(Tensor.from(x.data, x.shape));
    // Log-softmax of ±1e4 logits is ~1e4 in size: float32 resolves it to ~1e-3.
    expectCloseInf(y, decode(c.output), 'output', { atol: 1e-6, rtol: 2e-6 });
    const dx = m.backward(Tensor.from(decode(c.gradOutput).data, c.gradOutput.shape));
    expectCloseInf(dx, decode(c.gradInput), 'input gradient', { atol: 2e-6, rtol: 1e-5 });
  });

  it('the fixtures cover dims 0, 1, -1 of 3-D and 4-D inputs and logits of ±1e4', () => {
    const names = fixture.cases.map((c) => c.name);
    for (const kind of ['Softmax', 'LogSoftmax']) {
      for (const shape of ['[3, 4, 5]', '[2, 3, 4, 5]']) for (const d of [0, 1, -1]) expect(names).toContain(`${kind} ${shape} dim ${d}`);
      expect(names).toContain(`${kind} logits of ±1e4`);
    }
  });

  it('rows of ±1e4 logits stay finite; a NaN or +inf logit makes its row NaN only', () => {
    const x = Tensor.from([1e4, -1e4, 0, 1e4, NaN, 1, Infinity, 0, 0], [3, 3]);
    const s = new nn.Softmax().forward(x);
    expect([...s.data.slice(0, 3)]).toEqual([1, 0, 0]);
    expect([...s.data.slice(3, 9)].every(Number.isNaN)).toBe(true);
    const l = new nn.LogSoftmax().forward(x);
    expect([...l.data.slice(0, 3)]).toEqual([0, -2e4, -1e4]);
    expect([...l.data.slice(3, 9)].every(Number.isNaN)).toBe(true);
  });

  describe('finite-difference gradient checks', () => {
    for (const kind of ['Softmax', 'LogSoftmax']) {
      it(`${kind} dim -1 of [3, 7]`, () => gradcheck(make(kind, {}), randomTensor([3, 7], 1, -2, 2)));
      it(`${kind} dim 1 of [2, 3, 4, 5]`, () => gradcheck(make(kind, { dim: 1 }), randomTensor([2, 3, 4, 5], 2, -2, 2)));
      it(`${kind} dim 0 of [4, 3, 2]`, () => gradcheck(make(kind, { dim: 0 }), randomTensor([4, 3, 2], 3, -2, 2)));
    }
  });

  it('toConfig and fromConfig round-trip; bad dims are errors that change nothing', () => {
    expect(new nn.Softmax().toConfig()).toEqual({ type: 'Softmax', dim: -1 });
    expect(nn.LogSoftmax.fromConfig({ type: 'LogSoftmax', dim: 1 }).dim).toBe(1);
    expect(() => nn.Softmax.fromConfig({ type: 'Softmax', axis: 1 })).toThrow(TypeError);
    expect(() => new nn.Softmax({ dim: 0.5 })).toThrow(RangeError);
    expect(() => new nn.LogSoftmax({ dim: '1' as never })).toThrow(TypeError);
    const x = randomTensor([2, 3], 4);
    const before = [...x.data];
    expect(() => new nn.Softmax({ dim: 2 }).forward(x)).toThrow('Softmax.forward: dim 2 is out of range for an input of shape [2, 3]');
    expect(() => new nn.LogSoftmax({ dim: -3 }).forward(x)).toThrow(RangeError);
    expect([...x.data]).toEqual(before);
    expect(() => new nn.Softmax().backward(x)).toThrow(/backward called before forward/);
  });
});

describe.skipIf(backends.length < 2)('softmax: native = JS backend', () => {
  const cases: [string, number[], number][] = [
    ['[37] dim 0', [37], 0],
    ['[5, 33] dim -1', [5, 33], -1],
    ['[3, 17, 5, 7] dim 1', [3, 17, 5, 7], 1],
    ['[9, 4, 6] dim 0', [9, 4, 6], 0],
    ['[300, 1000] dim -1 (parallel)', [300, 1000], -1],
    ['[8, 64, 20, 20] dim 1 (parallel)', [8, 64, 20, 20], 1],
    ['[2100, 1000] dim -1 (16 MB)', [2100, 1000], -1],
  ];
  for (const kind of ['Softmax', 'LogSoftmax']) {
    it.each(cases)(`${kind} %s`, (_label, shape, dim) => {
      const x = randomTensor(shape, 5, -30, 30);
      const g = randomTensor(shape, 6);
      const run = (backend: 'native' | 'js') =>
        withBackend(backend, () => {
          const m = make(kind, { dim });
          return { y: m.forward(x), dx: m.backward(g) };
        });
      const a = run('native');
      const b = run('js');
      expectClose(a.y, b.y, 'output', { atol: 1e-6, rtol: 1e-5 });
      expectClose(a.dx, b.dx, 'input gradient', { atol: 1e-6, rtol: 1e-4 });
    });
  }
});
