import { describe, expect, it } from 'vitest';
import { Tensor, getNumThreads, manualSeed, nn, setNumThreads } from '../src/index.js';
import { backends, describeEachBackend, withBackend } from './helpers/backends.js';
import { loadFixture } from './helpers/fixtures.js';
import { expectMatchesFixture, randomizeParameters, snapshotParameters } from './helpers/modules.js';
import { expectClose, gradcheck, randomTensor } from './helpers/numeric.js';

const fixture = loadFixture('linear.json');

function linear(i: number, o: number, bias: boolean, seed: number): nn.Linear {
  return randomizeParameters(new nn.Linear(i, o, { bias }), seed);
}


describeEachBackend('Linear matches PyTorch', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expectMatchesFixture(nn.Linear.fromConfig({ type: 'Linear', ...c.options }), c, { atol: 1e-5, rtol: 1e-4, gradAtol: 1e-5 });
  });

  it.each([
    ['[N, in] with bias', [3, 5], true],
    ['[N, *, in] without bias', [2, 2, 5], false],
  ] as const)('finite differences agree with backward: %s', (_n, shape, bias) => {
    gradcheck(linear(5, 4, bias, 21), randomTensor([...shape], 22));
  });

  it('backward adds into the gradients', () => {
    const m = linear(6, 3, true, 1);
    const x = randomTensor([4, 6], 2);
    const g = randomTensor([4, 3], 3);
    m.forward(x);
    m.backward(g);
    const once = m.parameters().map((p) => Float32Array.from(p.grad.data));
    m.backward(g);
    m.parameters().forEach((p, i) => expectClose(p.grad, { data: once[i]!.map((v) => 2 * v) }, 'accumulated', { atol: 1e-6, rtol: 1e-6 }));
  });

  it.each([
    ['last dimension that is not inFeatures', [3, 5]],
    ['no dimensions', []],
  ] as const)('forward on an input with %s throws a RangeError and changes nothing', (_n, shape) => {
    const m = linear(4, 3, true, 5);
    m.forward(randomTensor([2, 4], 6));
    m.backward(randomTensor([2, 3], 7));
    const before = snapshotParameters(m);
    expect(() => m.forward(Tensor.zeros([...shape]))).toThrow(RangeError);
    expect(() => m.forward(Tensor.zeros([...shape]))).toThrow(`[${shape.join(', ')}] must have 4 features`);
    expect(() => m.backward(randomTensor([2, 4], 7))).toThrow(/gradOutput has shape \[2, 4\]/);
    expect(snapshotParameters(m)).toEqual(before);
  });

  it('rejects bad arguments', () => {
    expect(() => new nn.Linear(0, 3)).toThrow(RangeError);
    expect(() => new nn.Linear(3, 1.5)).toThrow(/outFeatures must be a positive integer, got 1.5/);
    expect(() => new nn.Linear(3, 2, { bias: 'yes' as unknown as boolean })).toThrow(TypeError);
  });
});

describe('Linear', () => {
  it('initialises as PyTorch does: weight and bias in ±1/√inFeatures, reproducibly', () => {
    manualSeed(9);
    const m = new nn.Linear(50, 400);
    const bound = 1 / Math.sqrt(50);
    for (const p of m.parameters()) {
      const values = [...p.data.data];
      expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...values)).toBeGreaterThan(0.9 * bound);
      expect(Math.min(...values)).toBeLessThan(-0.9 * bound);
    }
    const variance = m.weight.data.data.reduce((a, b) => a + b * b, 0) / m.weight.data.size;
    expect(variance).toBeCloseTo((bound * bound) / 3, 3);
    manualSeed(9);
    expect([...new nn.Linear(50, 400).bias!.data.data]).toEqual([...m.bias!.data.data]);
  });

  it('toConfig gives the constructor arguments and fromConfig rebuilds the layer', () => {
    const config = new nn.Linear(7, 2, { bias: false }).toConfig();
    expect(config).toEqual({ type: 'Linear', inFeatures: 7, outFeatures: 2, bias: false });
    const back = nn.Linear.fromConfig(JSON.parse(JSON.stringify(config)));
    expect(back.weight.data.shape).toEqual([2, 7]);
    expect(back.bias).toBeNull();
    expect(nn.Linear.fromConfig({ type: 'Linear', inFeatures: 3, outFeatures: 1 }).bias).not.toBeNull();
  });

  it.runIf(backends.includes('native'))('native equals the JS backend on random shapes, one thread and all', () => {
    const shapes: [number, number, boolean, number[]][] = [
      [1, 1, true, [1, 1]],
      [17, 33, true, [5, 17]],
      [300, 250, true, [128, 300]], // past the parallel threshold (2^23 multiply-adds)
      [96, 130, false, [3, 11, 96]],
    ];
    const threads = getNumThreads();
    try {
      for (const [i, [inF, outF, bias, shape]] of shapes.entries()) {
        const x = randomTensor(shape, 100 + i);
        const run = (backend: 'native' | 'js', t: number) => {
          setNumThreads(t);
          return withBackend(backend, () => {
            const m = linear(inF, outF, bias, 200 + i);
            const y = m.forward(x);
            const dx = m.backward(randomTensor([...y.shape], 300 + i));
            return [y, dx, ...m.parameters().map((p) => p.grad)];
          });
        };
        const want = run('js', 1);
        for (const t of [1, Math.max(2, threads)]) {
          run('native', t).forEach((got, j) => expectClose(got, want[j]!, `shape ${i} output ${j}, ${t} threads`, { atol: 2e-4, rtol: 1e-4 }));
        }
      }
    } finally {
      setNumThreads(threads);
    }
  });
});
