import { describe, expect, it } from 'vitest';
import { Tensor, init, nn } from '../src/index.js';
import { backends, describeEachBackend, withBackend } from './helpers/backends.js';
import { type FixtureTensor, tensor } from './helpers/fixtures.js';
import { expectClose, gradcheck, randomTensor } from './helpers/numeric.js';
import { readFileSync } from 'node:fs';

/** A tensor of activations-more.json, whose NaN and ±Infinity are written as strings. */
interface SpecialTensor {
  shape: number[];
  data: (number | string)[];
}
interface Case {
  name: string;
  config: nn.ModuleConfig;
  input: SpecialTensor;
  gradOutput: SpecialTensor;
  output: SpecialTensor;
  gradInput: SpecialTensor;
}

const fixture: { cases: Case[] } = JSON.parse(readFileSync(new URL('./fixtures/activations-more.json', import.meta.url), 'utf8'));
const decode = (t: SpecialTensor): FixtureTensor => ({ shape: t.shape, data: t.data.map(Number) });

/** Every new elementwise layer with its options, for the checks that are the same for all. */
const elementwise: [string, () => nn.Module][] = [
  ['ELU', () => new nn.ELU({ alpha: 0.7 })],
  ['CELU', () => new nn.CELU({ alpha: 1.5 })],
  ['SELU', () => new nn.SELU()],
  ['GELU', () => new nn.GELU()],
  ['GELU tanh', () => new nn.GELU({ approximate: 'tanh' })],
  ['SiLU', () => new nn.SiLU()],
  ['Mish', () => new nn.Mish()],
  ['Sigmoid', () => new nn.Sigmoid()],
  ['Tanh', () => new nn.Tanh()],
  ['Softplus', () => new nn.Softplus({ beta: 2, threshold: 3 })],
  ['Hardtanh', () => new nn.Hardtanh({ minVal: -0.5, maxVal: 2 })],
  ['ReLU6', () => new nn.ReLU6()],
  ['Hardswish', () => new nn.Hardswish()],
  ['Hardsigmoid', () => new nn.Hardsigmoid()],
];

describeEachBackend('the layers beyond ReLU match PyTorch', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s (kinks, 0, ±large, ±inf, NaN)', (_name, c) => {
    const m = nn.moduleFromConfig(c.config);
    const y = m.forward(tensor(decode(c.input)));
    expectClose(y, decode(c.output), 'output');
    expectClose(m.backward(tensor(decode(c.gradOutput))), decode(c.gradInput), 'input gradient');
    // The config round trip builds the same layer.
    expect(nn.moduleFromConfig(JSON.parse(JSON.stringify(m.toConfig()))).toConfig()).toEqual(m.toConfig());
  });

  describe('finite-difference gradient checks', () => {
    // Inputs kept away from the kinks of the piecewise layers (0, ±3, the Hardtanh bounds, 6).
    const x = (seed: number): Tensor => {
      const t = randomTensor([2, 3, 4, 5], seed, -5, 5);
      const kinks = [0, 3, -3, -0.5, 2, 6, -1, 1];
      for (let i = 0; i < t.size; i++) {
        for (const k of kinks) if (Math.abs(t.data[i]! - k) < 0.05) t.data[i] = k + 0.05;
      }
      return t;
    };
    it.each(elementwise)('%s', (_name, make) => gradcheck(make(), x(3)));
    it('Identity', () => gradcheck(new nn.Identity(), x(4)));
    it.each([
      [1, [2, 3, 7, 5]],
      [[3, 4], [2, 2, 5, 7]],
      [[4, 6], [1, 2, 3, 4]],
    ] as const)('AdaptiveAvgPool2d(%j) of %j', (size, shape) => gradcheck(new nn.AdaptiveAvgPool2d(size as nn.Size2), randomTensor([...shape], 5)));
  });

  it('AdaptiveAvgPool2d takes [C, H, W] too', () => {
    const x = randomTensor([3, 5, 7], 8);
    const y = new nn.AdaptiveAvgPool2d([2, 3]).forward(x);
    const batched = new nn.AdaptiveAvgPool2d([2, 3]).forward(x.reshape([1, 3, 5, 7]));
    expect(y.shape).toEqual([3, 2, 3]);
    expect([...y.data]).toEqual([...batched.data]);
  });
});

describe('Dropout', () => {
  const count = (t: Tensor, f: (v: number) => boolean): number => t.data.reduce((n, v) => n + (f(v) ? 1 : 0), 0);

  describeEachBackend('training', () => {
    it('keeps about 1 − p of the elements, scaled by 1/(1 − p)', () => {
      init.manualSeed(5);
      const x = Tensor.from(new Float32Array(100_000).fill(1), [100, 1000]);
      const y = new nn.Dropout({ p: 0.3 }).forward(x);
      const kept = count(y, (v) => v !== 0);
      // Binomial(1e5, 0.7): standard deviation 145; 5 of them is a 1-in-3-million false alarm.
      expect(Math.abs(kept - 70_000)).toBeLessThan(5 * 145);
      expect(y.data.every((v) => v === 0 || v === Math.fround(1 / 0.7))).toBe(true);
    });

    it('draws the same mask after the same manualSeed, and another one without', () => {
      const x = randomTensor([4, 50], 1);
      const d = new nn.Dropout();
      init.manualSeed(42);
      const a = d.forward(x);
      const b = d.forward(x);
      init.manualSeed(42);
      const c = d.forward(x);
      expect([...c.data]).toEqual([...a.data]);
      expect([...b.data]).not.toEqual([...a.data]);
    });

    it('backward multiplies by the forward mask', () => {
      init.manualSeed(3);
      const x = randomTensor([8, 16], 2);
      const d = new nn.Dropout({ p: 0.25 });
      const y = d.forward(x);
      const g = randomTensor([8, 16], 3);
      const dx = d.backward(g);
      for (let i = 0; i < x.size; i++) {
        const mask = y.data[i]! / x.data[i]!;
        expect(dx.data[i]).toBeCloseTo(g.data[i]! * mask, 5);
      }
      // Backward twice reuses the same mask (no new draw).
      expect([...d.backward(g).data]).toEqual([...dx.data]);
    });

    it('p = 0 is the identity, p = 1 zeroes everything (a dropped NaN stays NaN, as PyTorch)', () => {
      const x = Tensor.from([1, -2, 3, NaN], [4]);
      expect([...new nn.Dropout({ p: 0 }).forward(x).data]).toEqual([1, -2, 3, NaN]);
      const zero = new nn.Dropout({ p: 1 });
      expect([...zero.forward(x).data]).toEqual([0, -0, 0, NaN]);
      expect([...zero.backward(Tensor.from([1, 1, 1, 1], [4])).data]).toEqual([0, 0, 0, 0]);
    });
  });

  it('is the identity in eval mode (no draw from the generator)', () => {
    const x = randomTensor([3, 7], 4);
    const d = new nn.Dropout({ p: 0.9 });
    d.eval();
    init.manualSeed(9);
    expect(d.forward(x)).toBe(x);
    const g = randomTensor([3, 7], 5);
    expect(d.backward(g)).toBe(g);
    const after = init.uniform(Tensor.zeros([1])).data[0];
    init.manualSeed(9);
    expect(init.uniform(Tensor.zeros([1])).data[0]).toBe(after);
  });

  it('checks p', () => {
    expect(() => new nn.Dropout({ p: 1.5 })).toThrow(RangeError);
    expect(() => new nn.Dropout({ p: -0.1 })).toThrow(/\[0, 1\], got -0.1/);
    expect(() => new nn.Dropout({ p: '0.5' as unknown as number })).toThrow(TypeError);
    expect(nn.moduleFromConfig(new nn.Dropout({ p: 0.2 }).toConfig()).toConfig()).toEqual({ type: 'Dropout', p: 0.2 });
  });
});

describe('options', () => {
  it('are checked with the value in the message', () => {
    expect(() => new nn.ELU({ alpha: NaN })).toThrow(RangeError);
    expect(() => new nn.CELU({ alpha: 0 })).toThrow(/CELU alpha must not be 0/);
    expect(() => new nn.GELU({ approximate: 'erf' as 'none' })).toThrow(/'none' or 'tanh', got "erf"/);
    expect(() => new nn.GELU({ approximate: 1 as unknown as 'none' })).toThrow(TypeError);
    expect(() => new nn.Softplus({ beta: 0 })).toThrow(RangeError);
    expect(() => new nn.Softplus({ threshold: Infinity })).toThrow(RangeError);
    expect(() => new nn.Hardtanh({ minVal: 1, maxVal: 1 })).toThrow(/maxVal \(1\) must be greater than minVal \(1\)/);
    expect(() => new nn.AdaptiveAvgPool2d(0)).toThrow(RangeError);
    expect(() => new nn.AdaptiveAvgPool2d([2, 2, 2] as unknown as nn.Size2)).toThrow(RangeError);
    expect(() => nn.moduleFromConfig({ type: 'SELU', alpha: 1 })).toThrow(/SELU has no argument "alpha"/);
  });

  it('round-trip through configs with their API names', () => {
    expect(new nn.Softplus().toConfig()).toEqual({ type: 'Softplus', beta: 1, threshold: 20 });
    expect(new nn.Hardtanh().toConfig()).toEqual({ type: 'Hardtanh', minVal: -1, maxVal: 1 });
    expect(new nn.GELU().toConfig()).toEqual({ type: 'GELU', approximate: 'none' });
    expect(new nn.AdaptiveAvgPool2d(3).toConfig()).toEqual({ type: 'AdaptiveAvgPool2d', outputSize: [3, 3] });
    expect(new nn.ELU().toConfig()).toEqual({ type: 'ELU', alpha: 1 });
  });

  it('AdaptiveAvgPool2d rejects inputs that are not [N, C, H, W] or [C, H, W] with H, W > 0', () => {
    const m = new nn.AdaptiveAvgPool2d(2);
    expect(() => m.forward(Tensor.zeros([2, 3]))).toThrow(/shape \[2, 3\] must be \[N, C, H, W\]/);
    expect(() => m.forward(Tensor.zeros([1, 2, 0, 3]))).toThrow(RangeError);
  });
});

describe.skipIf(backends.length < 2)('native = JS backend', () => {
  // Sizes around the SIMD widths and past the parallel threshold (2 × 32768 elements).
  const shapes: number[][] = [[17], [3, 5, 7, 9], [4, 8, 64, 33]];
  const layers: [string, () => nn.Module][] = [...elementwise, ['AdaptiveAvgPool2d', () => new nn.AdaptiveAvgPool2d([5, 3])]];
  for (const [name, make] of layers) {
    it.each(shapes.map((s) => [JSON.stringify(s), s] as const))(`${name} %s`, (_label, shape0) => {
      const shape = name === 'AdaptiveAvgPool2d' && shape0.length < 4 ? [2, 3, 4, 5] : shape0;
      const x = randomTensor(shape, 21, -6, 6);
      const run = (backend: 'native' | 'js') =>
        withBackend(backend, () => {
          const m = make();
          const y = m.forward(x);
          const g = randomTensor([...y.shape], 22);
          return { y, dx: m.backward(g) };
        });
      const a = run('native');
      const b = run('js');
      // The JS twin computes in float64 and rounds once; native's vectorised functions are
      // within a few ulp of it.
      expectClose(a.y, b.y, 'output', { atol: 1e-6, rtol: 2e-6 });
      expectClose(a.dx, b.dx, 'input gradient', { atol: 1e-6, rtol: 2e-6 });
    });
  }

  it('Dropout draws the same mask on both backends', () => {
    const x = randomTensor([300, 300], 23);
    const run = (backend: 'native' | 'js') =>
      withBackend(backend, () => {
        init.manualSeed(11);
        const d = new nn.Dropout({ p: 0.4 });
        return { y: d.forward(x), dx: d.backward(x) };
      });
    const a = run('native');
    const b = run('js');
    expect(a.y.data).toEqual(b.y.data);
    expect(a.dx.data).toEqual(b.dx.data);
  });
});
