import { describe, expect, it } from 'vitest';
import { Tensor, nn } from '../src/index.js';
import { backends, describeEachBackend, withBackend } from './helpers/backends.js';
import { decode } from './fixture-values.js';
import { expectClose, randomTensor, rng } from './helpers/numeric.js';
import { readFileSync } from 'node:fs';

interface LossCase {
  name: string;
  loss: 'CrossEntropyLoss' | 'MSELoss';
  options: Record<string, unknown>;
  input: { shape: number[]; data: number[] };
  target: number[] | { shape: number[]; data: number[] };
  output: number;
  gradInput: { shape: number[]; data: number[] };
}

const fixture: { cases: LossCase[] } = JSON.parse(readFileSync(new URL('./fixtures/loss.json', import.meta.url), 'utf8'));

function make(c: LossCase): nn.Loss {
  return c.loss === 'CrossEntropyLoss' ? new nn.CrossEntropyLoss(c.options) : new nn.MSELoss(c.options);
}

function target(c: LossCase): Int32Array | Tensor {
  return Array.isArray(c.target) ? Int32Array.from(c.target) : Tensor.from(c.target.data, c.target.shape);
}

/** Central differences of `loss.forward(x, t)` w.r.t. each element of x, in float64. */
function numericGrad(loss: nn.Loss, x: Tensor, t: unknown, h = 1e-2): Float64Array {
  const g = new Float64Array(x.size);
  for (let i = 0; i < x.size; i++) {
    const v = x.data[i]!;
    x.data[i] = v + h;
    const up = loss.forward(x, t);
    x.data[i] = v - h;
    const down = loss.forward(x, t);
    x.data[i] = v;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

describeEachBackend('losses match PyTorch', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const loss = make(c);
    const x = decode(c.input);
    const value = loss.forward(Tensor.from(x.data, x.shape), target(c));
    expect(Math.abs(value - c.output)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(c.output)));
    expectClose(loss.backward(), decode(c.gradInput), 'input gradient', { atol: 1e-7, rtol: 1e-4 });
  });

  it('targets may be an Int32Array or an array of numbers', () => {
    const x = randomTensor([3, 4], 1);
    const a = new nn.CrossEntropyLoss().forward(x, [0, 3, 1]);
    const b = new nn.CrossEntropyLoss().forward(x, Int32Array.from([0, 3, 1]));
    expect(a).toBe(b);
  });

  describe('finite-difference gradient checks', () => {
    const t = [2, 0, 4, 4, 1];
    for (const [name, loss] of [
      ['CrossEntropyLoss mean', new nn.CrossEntropyLoss()],
      ['CrossEntropyLoss sum, smoothing 0.3', new nn.CrossEntropyLoss({ reduction: 'sum', labelSmoothing: 0.3 })],
    ] as const) {
      it(name, () => {
        const x = randomTensor([5, 6], 2, -3, 3);
        loss.forward(x, t);
        expectClose(loss.backward(), { data: numericGrad(loss, x, t) }, 'gradient', { atol: 2e-3, rtol: 1e-2 });
      });
    }
    for (const reduction of ['mean', 'sum'] as const) {
      it(`MSELoss ${reduction}`, () => {
        const loss = new nn.MSELoss({ reduction });
        const x = randomTensor([3, 4], 3);
        const y = randomTensor([3, 4], 4);
        loss.forward(x, y);
        expectClose(loss.backward(), { data: numericGrad(loss, x, y) }, 'gradient', { atol: 2e-3, rtol: 1e-2 });
      });
    }
  });

  it('bad targets are errors that name them, thrown before anything changes', () => {
    const ce = new nn.CrossEntropyLoss();
    const x = randomTensor([3, 4], 5);
    const xs = [...x.data];
    expect(() => ce.forward(x, [0, 4, 1])).toThrow('CrossEntropyLoss.forward: class index 4 at target[1] is out of range for 4 classes (input of shape [3, 4])');
    expect(() => ce.forward(x, [0, -1, 1])).toThrow(RangeError);
    expect(() => ce.forward(x, Int32Array.from([0, 1, -100]))).toThrow(/class index -100 at target\[2\]/);
    expect(() => ce.forward(x, [0, 1.5, 1])).toThrow('CrossEntropyLoss.forward: target[1] = 1.5 is not an integer class index');
    expect(() => ce.forward(x, [0, 1])).toThrow('CrossEntropyLoss.forward: target has 2 class indices, but input of shape [3, 4] has 3 samples');
    expect(() => ce.forward(x, [0, '1', 2] as never)).toThrow(TypeError);
    expect(() => ce.forward(x, Float32Array.from([0, 1, 2]) as never)).toThrow(TypeError);
    expect(() => ce.forward(randomTensor([2, 3, 4], 6), [0, 1])).toThrow('CrossEntropyLoss.forward: input of shape [2, 3, 4] must be [N, C] logits with C > 0');
    expect(() => ce.backward()).toThrow('CrossEntropyLoss.backward called before forward: there is no loss to differentiate');
    expect([...x.data]).toEqual(xs);
    const mse = new nn.MSELoss();
    expect(() => mse.forward(x, randomTensor([4, 3], 7))).toThrow('MSELoss.forward: target of shape [4, 3] does not match input of shape [3, 4]');
    expect(() => mse.forward(x, [1, 2] as never)).toThrow(TypeError);
    expect(() => mse.backward()).toThrow(/before forward/);
    // a failed forward keeps the last good one for backward
    ce.forward(x, [1, 2, 3]);
    const g = ce.backward();
    expect(() => ce.forward(x, [1, 2, 9])).toThrow(RangeError);
    expect(ce.backward().data).toEqual(g.data);
  });

  it('bad options', () => {
    expect(() => new nn.CrossEntropyLoss({ reduction: 'none' as never })).toThrow(RangeError);
    expect(() => new nn.MSELoss({ reduction: 1 as never })).toThrow(TypeError);
    expect(() => new nn.CrossEntropyLoss({ labelSmoothing: 1.5 })).toThrow(RangeError);
    expect(() => new nn.CrossEntropyLoss({ labelSmoothing: NaN })).toThrow(RangeError);
    expect(() => new nn.CrossEntropyLoss({ labelSmoothing: '0.1' as never })).toThrow(TypeError);
  });

  it('toConfig and fromConfig round-trip', () => {
    const ce = new nn.CrossEntropyLoss({ reduction: 'sum', labelSmoothing: 0.1 });
    expect(ce.toConfig()).toEqual({ type: 'CrossEntropyLoss', reduction: 'sum', labelSmoothing: 0.1 });
    expect(nn.CrossEntropyLoss.fromConfig(ce.toConfig()).toConfig()).toEqual(ce.toConfig());
    expect(nn.MSELoss.fromConfig({ type: 'MSELoss' }).reduction).toBe('mean');
    expect(() => nn.MSELoss.fromConfig({ type: 'MSELoss', weight: 1 })).toThrow(TypeError);
  });
});

describe.skipIf(backends.length < 2)('losses: native = JS backend', () => {
  it.each([[8, 10], [300, 1000], [2000, 3], [2100, 1000]])('cross entropy [%i, %i], smoothing 0.1 (parallel when large)', (n, c) => {
    const x = randomTensor([n, c], 8, -20, 20);
    const r = rng(9);
    const t = Array.from({ length: n }, () => Math.floor(r() * c));
    const run = (backend: 'native' | 'js') =>
      withBackend(backend, () => {
        const loss = new nn.CrossEntropyLoss({ labelSmoothing: 0.1 });
        return { value: loss.forward(x, t), dx: loss.backward() };
      });
    const a = run('native');
    const b = run('js');
    expect(Math.abs(a.value - b.value)).toBeLessThanOrEqual(1e-5 * Math.abs(b.value));
    expectClose(a.dx, b.dx, 'gradient', { atol: 1e-8, rtol: 1e-4 });
  });

  it('mse on 100k elements (parallel)', () => {
    const x = randomTensor([100, 1000], 10);
    const y = randomTensor([100, 1000], 11);
    const run = (backend: 'native' | 'js') =>
      withBackend(backend, () => {
        const loss = new nn.MSELoss({ reduction: 'sum' });
        return { value: loss.forward(x, y), dx: loss.backward() };
      });
    const a = run('native');
    const b = run('js');
    expect(Math.abs(a.value - b.value)).toBeLessThanOrEqual(1e-5 * b.value);
    expect(a.dx.data).toEqual(b.dx.data);
  });
});
