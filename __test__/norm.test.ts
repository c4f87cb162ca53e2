import { describe, expect, it } from 'vitest';
import { Tensor, getNumThreads, nn, setNumThreads } from '../src/index.js';
import { native } from '../src/backend/index.js';
import { backends, describeEachBackend, withBackend } from './helpers/backends.js';
import { loadFixture, tensor, type FixtureTensor } from './helpers/fixtures.js';
import { expectClose, gradcheck, randomTensor } from './helpers/numeric.js';

interface NormStep {
  mode: 'train' | 'eval';
  input: FixtureTensor;
  gradOutput: FixtureTensor;
  output: FixtureTensor;
  gradInput: FixtureTensor;
  /** The same step computed in float64 by PyTorch. */
  outputF64: FixtureTensor;
  gradInputF64: FixtureTensor;
  buffers: Record<string, FixtureTensor>;
}
interface NormCase {
  name: string;
  module: string;
  args: unknown[];
  options: Record<string, unknown>;
  params: Record<string, FixtureTensor>;
  steps: NormStep[];
  paramGrads: Record<string, FixtureTensor>;
  paramGradsF64: Record<string, FixtureTensor>;
}

const fixture = loadFixture('norm.json') as unknown as { torch: string; cases: NormCase[] };

function build(c: NormCase): nn.Module {
  const a = c.args as never[];
  const o = c.options;
  switch (c.module) {
    case 'BatchNorm1d':
      return new nn.BatchNorm1d(a[0]!, o);
    case 'BatchNorm2d':
      return new nn.BatchNorm2d(a[0]!, o);
    case 'GroupNorm':
      return new nn.GroupNorm(a[0]!, a[1]!, o);
    case 'LayerNorm':
      return new nn.LayerNorm(a[0]!, o);
    case 'L2Norm':
      return new nn.L2Norm(o);
    default:
      throw new Error(`no builder for ${c.module}`);
  }
}

function maxError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!));
  return e;
}

/** Every tensor a module holds (parameters, their gradients, buffers), copied. */
function snapshot(m: nn.Module): Float32Array[] {
  return [...m.namedParameters().flatMap(([, p]) => [p.data.data, p.grad.data]), ...m.namedBuffers().map(([, b]) => b.data)].map((d) => Float32Array.from(d));
}

describeEachBackend('normalisation layers match PyTorch', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const m = build(c);
    expect(m.namedParameters().map(([n]) => n)).toEqual(Object.keys(c.params));
    for (const [name, p] of m.namedParameters()) p.data.data.set(c.params[name]!.data);
    for (const [i, step] of c.steps.entries()) {
      if (step.mode === 'train') m.train();
      else m.eval();
      const what = `step ${i} (${step.mode})`;
      // Inputs near 1e3, where float32's resolution is 6e-5, carry that rounding into every
      // float32 result: PyTorch's own output is up to ~1e-4 from the exact (float64) one there,
      // so those cases are held to the exact answer instead, more tightly than to PyTorch's.
      const offset = c.name.includes('offset');
      const tol = { atol: offset ? 3e-4 : 2e-5, rtol: 1e-4 };
      const exact = { atol: offset ? 1e-4 : 2e-5, rtol: 1e-4 };
      const y = m.forward(tensor(step.input));
      const dx = m.backward(tensor(step.gradOutput));
      expectClose(y, step.output, `${what} output`, tol);
      expectClose(dx, step.gradInput, `${what} input gradient`, tol);
      expectClose(y, step.outputF64, `${what} output against float64`, exact);
      expectClose(dx, step.gradInputF64, `${what} input gradient against float64`, exact);
      if (offset) {
        // The single-read statistics lose no more to cancellation than PyTorch's kernels do.
        expect(maxError(y.data, step.outputF64.data), `${what} output error`).toBeLessThanOrEqual(1.1 * maxError(step.output.data, step.outputF64.data) + 1e-6);
        expect(maxError(dx.data, step.gradInputF64.data), `${what} input gradient error`).toBeLessThanOrEqual(1.1 * maxError(step.gradInput.data, step.gradInputF64.data) + 1e-6);
      }
      expect(m.namedBuffers().map(([n]) => n)).toEqual(Object.keys(step.buffers));
      for (const [name, b] of m.namedBuffers()) {
        expectClose(b, step.buffers[name]!, `${what} buffer ${name}`, { atol: 1e-5, rtol: 1e-5 });
      }
    }
    const offset = c.name.includes('offset');
    for (const [name, p] of m.namedParameters()) {
      expectClose(p.grad, c.paramGrads[name]!, `gradient of ${name}`, { atol: offset ? 5e-3 : 1e-4, rtol: 1e-4 });
      expectClose(p.grad, c.paramGradsF64[name]!, `gradient of ${name} against float64`, { atol: offset ? 1e-3 : 1e-4, rtol: 1e-4 });
    }
  });

  it('BatchNorm buffers are registered under PyTorch names and exposed as properties', () => {
    const bn = new nn.BatchNorm2d(3);
    expect(bn.namedBuffers().map(([n]) => n)).toEqual(['running_mean', 'running_var', 'num_batches_tracked']);
    expect(bn.runningMean!.data).toEqual(new Float32Array(3));
    expect(bn.runningVar!.data).toEqual(new Float32Array([1, 1, 1]));
    expect(bn.numBatchesTracked!.shape).toEqual([]);
    bn.forward(randomTensor([2, 3, 2, 2], 1));
    bn.forward(randomTensor([2, 3, 2, 2], 2));
    expect(bn.numBatchesTracked!.data[0]).toBe(2);
    const eval_ = new nn.BatchNorm1d(3).eval();
    eval_.forward(randomTensor([4, 3], 3));
    expect(eval_.numBatchesTracked!.data[0]).toBe(0);
    const untracked = new nn.BatchNorm1d(3, { trackRunningStats: false, affine: false });
    expect(untracked.namedBuffers()).toEqual([]);
    expect(untracked.parameters()).toEqual([]);
    expect(untracked.runningMean).toBeNull();
  });

  it('eval mode is the affine map of the running statistics', () => {
    const bn = new nn.BatchNorm1d(2, { eps: 0 });
    bn.runningMean!.data.set([1, -2]);
    bn.runningVar!.data.set([4, 0.25]);
    bn.weight!.data.data.set([3, 1]);
    bn.bias!.data.data.set([0.5, 0]);
    bn.eval();
    const y = bn.forward(Tensor.from([3, -1, 5, -3], [2, 2]));
    // (x - mean) / std · w + b
    expect([...y.data]).toEqual([3.5, 2, 6.5, -2]);
    const dx = bn.backward(Tensor.from([1, 1, 2, 2], [2, 2]));
    expect([...dx.data]).toEqual([1.5, 2, 3, 4]);
  });

  it('L2Norm output has unit norm along dim and the weight scales it', () => {
    const x = randomTensor([3, 4, 2], 5);
    const y = new nn.L2Norm({ dim: 1 }).forward(x);
    for (let n = 0; n < 3; n++) {
      for (let i = 0; i < 2; i++) {
        let s = 0;
        for (let c = 0; c < 4; c++) s += y.data[(n * 4 + c) * 2 + i]! ** 2;
        expect(Math.sqrt(s)).toBeCloseTo(1, 5);
      }
    }
    const scaled = new nn.L2Norm({ dim: 1, scale: 20, numChannels: 4 });
    expect([...scaled.weight!.data.data]).toEqual([20, 20, 20, 20]);
    expectClose(scaled.forward(x), { data: y.data.map((v) => 20 * v) }, 'scaled output', { atol: 1e-5, rtol: 1e-6 });
  });

  describe('finite-difference gradient checks', () => {
    const opts = { h: 1e-2, atol: 3e-3, rtol: 2e-2 };
    const withParams = <M extends nn.Module>(m: M, seed: number): M => {
      for (const [i, p] of m.parameters().entries()) p.data.data.set(randomTensor([...p.data.shape], seed + i, 0.5, 1.5).data);
      return m;
    };
    it('BatchNorm1d [N, C] training', () => gradcheck(withParams(new nn.BatchNorm1d(3), 1), randomTensor([5, 3], 11, -2, 2), opts));
    it('BatchNorm1d [N, C, L] training', () => gradcheck(withParams(new nn.BatchNorm1d(2), 2), randomTensor([3, 2, 4], 12, -2, 2), opts));
    it('BatchNorm2d training', () => gradcheck(withParams(new nn.BatchNorm2d(3), 3), randomTensor([2, 3, 3, 2], 13, -2, 2), opts));
    it('BatchNorm2d eval', () => {
      const bn = withParams(new nn.BatchNorm2d(3), 4);
      bn.runningMean!.data.set([0.1, -0.2, 0.3]);
      bn.runningVar!.data.set([0.5, 1.5, 2]);
      gradcheck(bn.eval(), randomTensor([2, 3, 2, 3], 14, -2, 2), opts);
    });
    it('BatchNorm1d trackRunningStats false, eval', () => gradcheck(new nn.BatchNorm1d(2, { trackRunningStats: false }).eval(), randomTensor([4, 2, 3], 15, -2, 2), opts));
    it('GroupNorm 3 groups', () => gradcheck(withParams(new nn.GroupNorm(3, 6), 5), randomTensor([2, 6, 2, 3], 16, -2, 2), opts));
    it('GroupNorm 1 group, affine false', () => gradcheck(new nn.GroupNorm(1, 4, { affine: false }), randomTensor([2, 4, 5], 17, -2, 2), opts));
    it('LayerNorm over 2 dims', () => gradcheck(withParams(new nn.LayerNorm([3, 4]), 6), randomTensor([2, 3, 4], 18, -2, 2), opts));
    it('L2Norm dim 1 with scale', () => gradcheck(withParams(new nn.L2Norm({ scale: 1, numChannels: 4 }), 7), randomTensor([2, 4, 3], 19, -2, 2), opts));
    it('L2Norm dim -1', () => gradcheck(new nn.L2Norm({ dim: -1 }), randomTensor([3, 5], 20, -2, 2), opts));
  });

  describe('errors change nothing', () => {
    const expectUnchanged = (m: nn.Module, call: () => unknown, kind: typeof RangeError | typeof TypeError, message: RegExp) => {
      const before = snapshot(m);
      expect(call).toThrow(kind);
      expect(call).toThrow(message);
      expect(snapshot(m)).toEqual(before);
    };

    it('BatchNorm with one value per channel in training', () => {
      const bn = new nn.BatchNorm1d(3);
      bn.forward(randomTensor([4, 3], 1));
      expectUnchanged(bn, () => bn.forward(randomTensor([1, 3], 2)), RangeError, /more than 1 value per channel.*\[1, 3\]/);
      expectUnchanged(bn, () => new nn.BatchNorm2d(2).forward(randomTensor([1, 2, 1, 1], 3)), RangeError, /\[1, 2, 1, 1\]/);
      // In eval with running statistics a single sample is fine.
      expect(() => bn.eval().forward(randomTensor([1, 3], 4))).not.toThrow();
    });

    it('BatchNorm channel and rank mismatch', () => {
      const bn = new nn.BatchNorm2d(3);
      bn.forward(randomTensor([2, 3, 2, 2], 1));
      expectUnchanged(bn, () => bn.forward(randomTensor([2, 4, 2, 2], 2)), RangeError, /\[2, 4, 2, 2\].*expected 3/);
      expectUnchanged(bn, () => bn.forward(randomTensor([2, 3, 4], 3)), RangeError, /4-D.*\[2, 3, 4\]/);
      const bn1 = new nn.BatchNorm1d(3);
      expectUnchanged(bn1, () => bn1.forward(randomTensor([2, 3, 2, 2], 4)), RangeError, /2-D.*3-D.*\[2, 3, 2, 2\]/);
    });

    it('GroupNorm bad group count and channel mismatch', () => {
      expect(() => new nn.GroupNorm(4, 6)).toThrow(RangeError);
      expect(() => new nn.GroupNorm(4, 6)).toThrow(/numChannels 6 is not divisible by numGroups 4/);
      expect(() => new nn.GroupNorm(0, 6)).toThrow(RangeError);
      const gn = new nn.GroupNorm(2, 4);
      expectUnchanged(gn, () => gn.forward(randomTensor([2, 6, 3], 1)), RangeError, /\[2, 6, 3\].*\[N, 4, \.\.\.\]/);
    });

    it('LayerNorm shape mismatch', () => {
      const ln = new nn.LayerNorm([3, 4]);
      expectUnchanged(ln, () => ln.forward(randomTensor([2, 4, 3], 1)), RangeError, /\[2, 4, 3\].*\[3, 4\]/);
      expect(() => new nn.LayerNorm([])).toThrow(TypeError);
      expect(() => new nn.LayerNorm(0)).toThrow(RangeError);
    });

    it('L2Norm dim out of range, channel mismatch, a weight sized by the first forward', () => {
      const l2 = new nn.L2Norm({ scale: 2, numChannels: 3 });
      expectUnchanged(l2, () => l2.forward(randomTensor([2, 4], 1)), RangeError, /\[2, 4\].*expected 3/);
      expectUnchanged(l2, () => new nn.L2Norm({ dim: 2 }).forward(randomTensor([2, 4], 2)), RangeError, /dim 2.*\[2, 4\]/);
      // Without numChannels the weight is sized by the first forward, then fixed.
      const lazy = new nn.L2Norm({ scale: 2 });
      expect(lazy.parameters()).toEqual([]);
      lazy.forward(randomTensor([2, 5, 3], 3));
      expect(lazy.weight!.data.shape).toEqual([5]);
      expect([...lazy.weight!.data.data]).toEqual([2, 2, 2, 2, 2]);
      expect(lazy.toConfig()).toEqual({ type: 'L2Norm', dim: 1, eps: 1e-12, scale: 2, numChannels: 5 });
      expectUnchanged(lazy, () => lazy.forward(randomTensor([2, 4, 3], 4)), RangeError, /\[2, 4, 3\].*expected 5/);
    });

    it('bad options', () => {
      expect(() => new nn.BatchNorm2d(0)).toThrow(RangeError);
      expect(() => new nn.BatchNorm2d(3, { eps: -1 })).toThrow(RangeError);
      expect(() => new nn.BatchNorm2d(3, { momentum: NaN })).toThrow(RangeError);
      expect(() => new nn.BatchNorm2d(3, { affine: 'yes' as never })).toThrow(TypeError);
      expect(() => new nn.LayerNorm(3, { elementwiseAffine: 1 as never })).toThrow(TypeError);
    });
  });

  it('toConfig / fromConfig round trip', () => {
    const modules = [
      new nn.BatchNorm1d(4, { momentum: null, eps: 1e-3 }),
      new nn.BatchNorm2d(3, { affine: false, trackRunningStats: false }),
      new nn.GroupNorm(2, 6, { eps: 1e-4 }),
      new nn.LayerNorm([2, 3], { elementwiseAffine: false }),
      new nn.L2Norm({ dim: -1, scale: 10, numChannels: 5 }),
    ];
    for (const m of modules) {
      const config = JSON.parse(JSON.stringify(m.toConfig()));
      const cls = (nn as unknown as Record<string, { fromConfig(c: unknown): nn.Module }>)[config.type]!;
      expect(cls.fromConfig(config).toConfig()).toEqual(m.toConfig());
    }
  });
});

describe.skipIf(backends.length < 2)('native = JS backend (normalisation)', () => {
  // Odd sizes and sizes past the parallel threshold (2 × 32768 elements), inputs offset by 1e3.
  const cases: [string, () => nn.Module, number[], number][] = [
    ['BatchNorm1d [N, C]', () => new nn.BatchNorm1d(7), [33, 7], 0],
    ['BatchNorm1d [N, C, L]', () => new nn.BatchNorm1d(5), [3, 5, 17], 0],
    ['BatchNorm1d [N, C] (parallel)', () => new nn.BatchNorm1d(20), [5000, 20], 1e3],
    ['BatchNorm1d [N, C] eval (parallel)', () => new nn.BatchNorm1d(20).eval(), [5000, 20], 0],
    ['BatchNorm2d (parallel)', () => new nn.BatchNorm2d(6), [4, 6, 40, 41], 1e3],
    ['BatchNorm2d eval', () => new nn.BatchNorm2d(6).eval(), [3, 6, 9, 7], 0],
    ['GroupNorm (parallel)', () => new nn.GroupNorm(4, 8), [4, 8, 33, 35], 1e3],
    ['GroupNorm [N, C]', () => new nn.GroupNorm(3, 9), [50, 9], 0],
    ['LayerNorm (parallel)', () => new nn.LayerNorm([5, 31]), [500, 5, 31], 1e3],
    ['L2Norm dim 1 (parallel)', () => new nn.L2Norm({ scale: 3, numChannels: 16 }), [4, 16, 33, 31], 0],
    ['L2Norm dim -1', () => new nn.L2Norm({ dim: -1 }), [37, 19], 0],
    ['L2Norm dim -1 with scale (parallel)', () => new nn.L2Norm({ dim: -1, scale: 2, numChannels: 33 }), [3000, 33], 0],
  ];
  it.each(cases)('%s', (_label, make, shape, offset) => {
    const x = randomTensor(shape, 41, offset - 2, offset + 2);
    const g = randomTensor(shape, 42);
    const run = (backend: 'native' | 'js') =>
      withBackend(backend, () => {
        const m = make();
        for (const [i, p] of m.parameters().entries()) p.data.data.set(randomTensor([...p.data.shape], 50 + i, 0.5, 1.5).data);
        const y = m.forward(x);
        const dx = m.backward(g);
        return { y, dx, grads: m.parameters().map((p) => p.grad.data), buffers: m.namedBuffers().map(([, b]) => b.data) };
      });
    const a = run('native');
    const b = run('js');
    const tol = { atol: 1e-4, rtol: 1e-4 };
    expectClose(a.y, { data: b.y.data }, 'output', tol);
    expectClose(a.dx, { data: b.dx.data }, 'input gradient', tol);
    a.grads.forEach((grad, i) => expectClose(grad, { data: b.grads[i]! }, 'parameter gradient', { atol: 1e-3, rtol: 1e-4 }));
    a.buffers.forEach((buf, i) => expectClose(buf, { data: b.buffers[i]! }, 'buffer', { atol: 1e-5, rtol: 1e-5 }));
  });
});

describe.skipIf(backends.length < 2)('thread count', () => {
  it('outputs and input gradients do not depend on the number of threads', () => {
    const x = randomTensor([4, 8, 40, 41], 61, 998, 1002);
    const g = randomTensor([4, 8, 40, 41], 62);
    const previous = getNumThreads();
    const run = (threads: number) =>
      withBackend('native', () => {
        setNumThreads(threads);
        return [new nn.BatchNorm2d(8), new nn.GroupNorm(4, 8), new nn.LayerNorm([40, 41])].map((m) => {
          const y = m.forward(x);
          return { y: y.data, dx: m.backward(g).data };
        });
      });
    try {
      const one = run(1);
      const four = run(4);
      one.forEach((r, i) => {
        expect(four[i]!.y).toEqual(r.y);
        expect(four[i]!.dx).toEqual(r.dx);
      });
    } finally {
      setNumThreads(previous);
    }
  });
});

describe.skipIf(!native)('the norm kernels of the addon stay memory-safe on direct calls', () => {
  const addon = native!;
  const f = (n: number) => new Float32Array(n);
  it('reject lengths and layouts that do not fit, before writing', () => {
    const y = f(12).fill(7);
    expect(() => addon.batchNormForwardTrain(f(12), f(3), f(3), y, f(3), f(2), 4, 1e-5)).toThrow(/variance has 2 elements, expected 3/);
    expect(() => addon.batchNormForwardTrain(f(12), f(5), f(5), y, f(5), f(5), 2, 1e-5)).toThrow(/not a whole number/);
    expect(() => addon.groupNormForward(f(12), f(6), f(6), y, f(8), f(8), 4, 1, 1e-5)).toThrow(/6 channels are not divisible into 4 groups/);
    expect(() => addon.layerNormBackward(f(12), f(12), f(4), f(3), f(3), f(12), f(4), f(3), 1e-5)).toThrow(/gradBias has 3 elements, expected 4/);
    expect(() => addon.l2NormForward(f(12), f(3), y, f(3), 2, 1e-12)).toThrow(/norm has 3 elements, expected 4/);
    expect([...y]).toEqual(new Array(12).fill(7));
  });
  it('reject outputs that share memory with an input or another output', () => {
    const buf = f(16);
    expect(() => addon.batchNormForwardTrain(buf.subarray(0, 12), f(3), f(3), buf.subarray(4, 16), f(3), f(3), 4, 1e-5)).toThrow(/y shares memory with x/);
    const stats = f(6);
    expect(() => addon.groupNormForward(f(12), f(3), f(3), f(12), stats.subarray(0, 4), stats.subarray(2, 6), 1, 1, 1e-5)).toThrow(/mean shares memory with var/);
    const w = f(3);
    expect(() => addon.batchNormBackward(f(12), f(12), w, f(3), f(3), f(12), w, f(3), 4, 1e-5, true)).toThrow(/gradWeight shares memory with weight/);
  });
});
