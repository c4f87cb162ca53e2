import { describe, expect, it } from 'vitest';
import { Tensor, nn } from '../src/index.js';
import { backends, describeEachBackend, withBackend } from './helpers/backends.js';
import { loadFixture, tensor, type FixtureCase } from './helpers/fixtures.js';
import { awayFromZero, expectClose, gradcheck, randomTensor } from './helpers/numeric.js';

const fixture = loadFixture('activations.json');

function build(c: FixtureCase): nn.Module {
  const o = c.options;
  switch (c.module) {
    case 'ReLU':
      return new nn.ReLU();
    case 'LeakyReLU':
      return new nn.LeakyReLU(o);
    case 'PReLU': {
      const m = new nn.PReLU(o);
      if (c.params.weight) m.weight.data.data.set(c.params.weight.data);
      return m;
    }
    case 'Flatten':
      return new nn.Flatten(o);
    default:
      throw new Error(`no builder for ${c.module}`);
  }
}

describeEachBackend('activations match PyTorch', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const m = build(c);
    const y = m.forward(tensor(c.input));
    expectClose(y, c.output, 'output');
    const dx = m.backward(tensor(c.gradOutput));
    expectClose(dx, c.gradInput, 'input gradient');
    for (const [name, p] of m.namedParameters()) {
      expectClose(p.grad, c.paramGrads[name]!, `gradient of ${name}`, { atol: 1e-5, rtol: 1e-5 });
    }
    expect(m.namedParameters().map(([n]) => n)).toEqual(Object.keys(c.params));
  });

  it('backward adds into the parameter gradients and zeroGrad clears them', () => {
    const m = new nn.PReLU({ numParameters: 3 });
    const x = randomTensor([2, 3, 4], 1);
    const g = randomTensor([2, 3, 4], 2);
    m.forward(x);
    m.backward(g);
    const once = Float32Array.from(m.weight.grad.data);
    m.backward(g);
    expectClose(m.weight.grad, { data: once.map((v) => 2 * v) }, 'accumulated', { atol: 1e-6, rtol: 1e-6 });
    m.zeroGrad();
    expect([...m.weight.grad.data]).toEqual([0, 0, 0]);
  });

  it('ReLU of ±Infinity is as in PyTorch', () => {
    const y = new nn.ReLU().forward(Tensor.from([-Infinity, Infinity, -3e38], [3]));
    expect([...y.data]).toEqual([0, Infinity, 0]);
  });

  it('ReLU gradient at exactly 0 is 0; PReLU and LeakyReLU use the slope there; NaN propagates', () => {
    const x = Tensor.from([0, -0, 1, -1, NaN], [5]);
    const ones = Tensor.from([1, 1, 1, 1, 1], [5]);
    const relu = new nn.ReLU();
    const y = relu.forward(x);
    expect([...y.data.slice(2, 4)]).toEqual([1, 0]);
    expect(Number.isNaN(y.data[4])).toBe(true);
    expect([...relu.backward(ones).data]).toEqual([0, 0, 1, 0, 1]);
    const leaky = new nn.LeakyReLU({ negativeSlope: 0.5 });
    leaky.forward(x);
    expect([...leaky.backward(ones).data]).toEqual([0.5, 0.5, 1, 0.5, 0.5]);
    const prelu = new nn.PReLU({ init: 0.5 });
    prelu.forward(x);
    expect([...prelu.backward(ones).data]).toEqual([0.5, 0.5, 1, 0.5, 0.5]);
  });

  describe('finite-difference gradient checks', () => {
    it('ReLU', () => gradcheck(new nn.ReLU(), awayFromZero([3, 4, 5], 11)));
    it('LeakyReLU', () => gradcheck(new nn.LeakyReLU({ negativeSlope: 0.1 }), awayFromZero([3, 4, 5], 12)));
    it('PReLU, one slope', () => gradcheck(new nn.PReLU(), awayFromZero([2, 3, 4], 13)));
    it('PReLU, per channel 4-D', () => {
      const m = new nn.PReLU({ numParameters: 3 });
      m.weight.data.data.set([0.1, -0.3, 0.7]);
      gradcheck(m, awayFromZero([2, 3, 4, 5], 14));
    });
    it('Flatten', () => gradcheck(new nn.Flatten(), awayFromZero([2, 3, 2, 2], 15)));
  });
});

describe.skipIf(backends.length < 2)('native = JS backend', () => {
  // Sizes around the SIMD widths and past the parallel threshold (2 × 32768 elements).
  const sizes: [string, number[]][] = [
    ['17 elements', [17]],
    ['[3, 5, 7, 9]', [3, 5, 7, 9]],
    ['[4, 8, 64, 33] (parallel)', [4, 8, 64, 33]],
  ];
  const modules: [string, () => nn.Module][] = [
    ['ReLU', () => new nn.ReLU()],
    ['LeakyReLU', () => new nn.LeakyReLU({ negativeSlope: 0.03 })],
    ['PReLU', () => new nn.PReLU({ init: 0.2 })],
  ];
  for (const [mname, make] of modules) {
    it.each(sizes)(`${mname} %s`, (_label, shape) => {
      const x = randomTensor(shape, 21);
      const g = randomTensor(shape, 22);
      const run = (backend: 'native' | 'js') =>
        withBackend(backend, () => {
          const m = make();
          const y = m.forward(x);
          const dx = m.backward(g);
          return { y, dx, grads: m.parameters().map((p) => p.grad.data) };
        });
      const a = run('native');
      const b = run('js');
      expect(a.y.data).toEqual(b.y.data);
      expect(a.dx.data).toEqual(b.dx.data);
      a.grads.forEach((grad, i) => expectClose(grad, { data: b.grads[i]! }, 'parameter gradient', { atol: 1e-4, rtol: 1e-5 }));
    });
  }

  it('per-channel PReLU on a big 4-D input', () => {
    const shape = [4, 16, 40, 41];
    const x = randomTensor(shape, 31);
    const g = randomTensor(shape, 32);
    const w = randomTensor([16], 33, 0, 0.5);
    const run = (backend: 'native' | 'js') =>
      withBackend(backend, () => {
        const m = new nn.PReLU({ numParameters: 16 });
        m.weight.data.data.set(w.data);
        const y = m.forward(x);
        return { y, dx: m.backward(g), dw: m.weight.grad.data };
      });
    const a = run('native');
    const b = run('js');
    expect(a.y.data).toEqual(b.y.data);
    expect(a.dx.data).toEqual(b.dx.data);
    expectClose(a.dw, { data: b.dw }, 'weight gradient', { atol: 1e-3, rtol: 1e-5 });
  });
});
