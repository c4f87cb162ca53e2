// The elementwise kernels (liven-core's elementwise.rs and src/backend/js/elementwise.ts) behind
// Tensor's add/sub/mul/div, sum/mean and argmax, nn.Add, nn.Mul and a graph's gradient fan-out:
// native = JS on random shapes and broadcasts with NaN, ±Infinity and -0 mixed in, sizes past the
// parallel and streaming thresholds, determinism across thread counts, the raw exports' own
// checks, and the modules' gradients by finite differences.
import { describe, expect, it } from 'vitest';
import { Tensor, getNumThreads, nn, setNumThreads } from '../src/index.js';
import { native } from '../src/backend/index.js';
import { jsKernels } from '../src/backend/js/index.js';
import { BINARY_OPS } from '../src/backend/types.js';
import { describeEachBackend, withBackend } from './helpers/backends.js';
import { detach, expectClose, gradcheck, randomTensor, rng } from './helpers/numeric.js';

const OPS = ['add', 'sub', 'mul', 'div'] as const;
const SPECIALS = [NaN, Infinity, -Infinity, -0, 0];

/** Values in [-2, 2) with exact zeros, ±0, NaN and ±Infinity sprinkled in. */
function values(shape: number[], seed: number, specials = true): Tensor {
  const r = rng(seed);
  const t = randomTensor(shape, seed, -2, 2);
  if (specials) for (let i = 0; i < t.size; i++) if (r() < 0.08) t.data[i] = SPECIALS[Math.floor(r() * SPECIALS.length)]!;
  return t;
}

/** Two shapes that broadcast: a random output shape, each operand dropping leading dims and setting some to 1. */
function broadcastPair(r: () => number): [number[], number[]] {
  const rank = Math.floor(r() * 5);
  const out = Array.from({ length: rank }, () => 1 + Math.floor(r() * 6));
  const operand = (): number[] => out.slice(Math.floor(r() * (rank + 1)) % (rank + 1)).map((d) => (r() < 0.35 ? 1 : d));
  return [operand(), operand()];
}

/** Equal bits but for NaN's payload: -0 is not 0 here. */
function expectSameValues(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) {
      expect.fail(`${what}: element ${i} is ${Object.is(got[i], -0) ? '-0' : got[i]}, expected ${Object.is(want[i], -0) ? '-0' : want[i]}`);
    }
  }
}

const both = <T>(f: () => T): [T, T] => [withBackend('native', f), withBackend('js', f)];

describe.skipIf(!native)('native = JS', () => {
  it('add, sub, mul and div on 300 random broadcasts, bit for bit (NaN, ±Infinity and -0 included)', () => {
    const r = rng(1);
    for (let k = 0; k < 300; k++) {
      const [sa, sb] = broadcastPair(r);
      const [a, b] = [values(sa, 2 * k + 1), values(sb, 2 * k + 2)];
      for (const op of OPS) {
        const [n, j] = both(() => a[op](b));
        expect(n.shape).toEqual(j.shape);
        expectSameValues(n.data, j.data, `${op} [${sa}] [${sb}]`);
      }
    }
  });

  it('past the parallel and streaming thresholds: ResNet and squeeze-and-excitation shapes, a 1M-float add', () => {
    const cases: [number[], number[]][] = [
      [[1 << 20], [1 << 20]],
      [[16, 64, 48, 48], [16, 64, 48, 48]],
      [[16, 64, 48, 48], [16, 64, 1, 1]],
      [[16, 64, 48, 48], [64, 1, 1]],
      [[3, 70001], [70001]],
      [[70001, 1], [1, 3]],
    ];
    cases.forEach(([sa, sb], k) => {
      const [a, b] = [values(sa, 10 + k), values(sb, 20 + k)];
      for (const op of ['add', 'mul'] as const) {
        const [n, j] = both(() => a[op](b));
        expectSameValues(n.data, j.data, `${op} [${sa}] [${sb}]`);
      }
    });
  });

  it('a number operand, rounded to float32 first on both', () => {
    const a = values([1000], 3);
    for (const c of [0.1, 1 / 3, -0, NaN, Infinity, 1e40]) {
      for (const op of OPS) {
        const [n, j] = both(() => a[op](c));
        expectSameValues(n.data, j.data, `${op} ${c}`);
      }
    }
  });

  it('sum and mean over every set of dims of random shapes, and past the parallel threshold', () => {
    const shapes = [[3, 5, 7], [2, 1, 9, 4], [6], [], [4, 0, 3], [300, 257], [5, 70000], [70000, 3], [2, 40000, 2]];
    shapes.forEach((shape, k) => {
      const x = values(shape, 30 + k, k < 4);
      for (let mask = 0; mask < 1 << shape.length; mask++) {
        const dims = shape.map((_, d) => d).filter((d) => (mask >> d) & 1);
        for (const keepdim of [false, true]) {
          for (const f of ['sum', 'mean'] as const) {
            const [n, j] = both(() => x[f](dims.length === 0 ? [] : dims, { keepdim }));
            expect(n.shape).toEqual(j.shape);
            // Both accumulate in float64 and round once; the orders differ (the native one in
            // lanes), which can move the float32 result by an ulp.
            expectClose(n, j, `${f} [${shape}] over [${dims}] keepdim ${keepdim}`, { atol: 1e-6, rtol: 1e-6 });
          }
        }
      }
    });
  });

  it('argmax along every dim, with ties and NaN', () => {
    const r = rng(5);
    const x = Tensor.from(Array.from({ length: 4 * 50 * 3 }, () => (r() < 0.05 ? NaN : Math.floor(r() * 4))), [4, 50, 3]);
    for (const dim of [0, 1, 2, -1]) {
      const [n, j] = both(() => x.argmax(dim));
      expect([...n], `dim ${dim}`).toEqual([...j]);
    }
    const big = values([3, 1 << 16], 6, false);
    const [n, j] = both(() => big.argmax(0));
    expect([...n]).toEqual([...j]);
    expect(withBackend('native', () => big.argmax())).toBe(withBackend('js', () => big.argmax()));
  });

  it('addInto (nn.Add of three or more, a graph fan-out), also past the parallel threshold', () => {
    for (const size of [0, 1, 17, 100_003]) {
      const [a, b, c] = [values([size], 1), values([size], 2), values([size], 3)];
      const [n, j] = both(() => new nn.Add().forward(a, b, c));
      expectSameValues(n.data, j.data, `Add of three, ${size}`);
    }
  });

  it('nn.Cat forward and backward along every dim of random shapes, short rows and long, past the parallel threshold', () => {
    const r = rng(9);
    const shapes: number[][][] = [[[70000, 2], [70000, 3]], [[2, 40000], [2, 30000], [2, 1]], [[3, 0, 4], [3, 2, 4]]];
    for (let k = 0; k < 60; k++) {
      const rank = 1 + Math.floor(r() * 4);
      const base = Array.from({ length: rank }, () => 1 + Math.floor(r() * 5));
      const dim = Math.floor(r() * rank);
      shapes.push(Array.from({ length: 1 + Math.floor(r() * 3) }, () => base.map((d, i) => (i === dim ? Math.floor(r() * 4) : d))));
    }
    shapes.forEach((group, k) => {
      const dim = group[0]!.findIndex((_, i) => group.some((s) => s[i] !== group[0]![i]));
      const xs = group.map((s, j) => values(s, 100 * k + j));
      const run = (): Float32Array[] => {
        const cat = new nn.Cat({ dim: Math.max(dim, 0) });
        const y = cat.forward(...xs);
        return [y.data, ...cat.backward(values([...y.shape], k)).map((g) => g.data)];
      };
      const [n, j] = both(run);
      n.forEach((a, i) => expectSameValues(a, j[i]!, `Cat of ${JSON.stringify(group)}: array ${i}`));
    });
  });

  it('sums are the same bits at one thread and at several', () => {
    const x = values([64, 33, 40], 8, false);
    const threads = getNumThreads();
    const run = (n: number): Float32Array[] => {
      setNumThreads(n);
      try {
        return [x.sum(1).data, x.sum([0, 2]).data, x.sum().data, x.mean(2).data];
      } finally {
        setNumThreads(threads);
      }
    };
    const [one, four] = [run(1), run(4)];
    one.forEach((r, i) => expectSameValues(four[i]!, r, `reduction ${i}`));
  });
});

describe.skipIf(!native)('the raw native exports check what the TypeScript layer already did', () => {
  const k = native!;
  const f = (n: number): Float32Array => new Float32Array(n);
  const u = (...d: number[]): Uint32Array => Uint32Array.from(d);
  it('binaryBroadcast', () => {
    const a = f(6);
    expect(() => k.binaryBroadcast(a, u(2, 3), f(3), u(3), a, BINARY_OPS.add)).toThrow(/binaryBroadcast: out shares memory with a/);
    expect(() => k.binaryBroadcast(a, u(2, 3), f(4), u(4), f(6), BINARY_OPS.add)).toThrow(/shapes \[2, 3\] and \[4\] cannot be broadcast together/);
    expect(() => k.binaryBroadcast(a, u(2, 2), f(3), u(3), f(6), BINARY_OPS.add)).toThrow(/a has 6 elements but its shape \[2, 2\] needs 4/);
    expect(() => k.binaryBroadcast(a, u(2, 3), f(3), u(3), f(5), BINARY_OPS.add)).toThrow(/out has 5 elements, expected 6 \(shape \[2, 3\]\)/);
    expect(() => k.binaryBroadcast(a, u(2, 3), f(3), u(3), f(6), 4)).toThrow(/op 4 is not 0 \(add\)/);
    expect(() => k.binaryBroadcast(f(0), u(2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1, 0), f(1), u(), f(0), 0)).toThrow(/more than fit in memory/);
  });
  it('copyRows', () => {
    const x = f(6);
    expect(() => k.copyRows(x, 3, x.subarray(3), 3, 1, 3)).toThrow(/copyRows: dst shares memory with src/);
    expect(() => k.copyRows(x, 3, f(6), 4, 2, 3)).toThrow(/dst has 6 elements, too few for 2 rows of 3 elements 4 apart/);
    expect(() => k.copyRows(x, 4, f(9), 4, 2, 3)).toThrow(/src has 6 elements, too few/);
    expect(() => k.copyRows(x, 3, f(9), 2, 2, 3)).toThrow(/dst rows of 3 elements 2 apart overlap/);
  });
  it('sumDims, addInto and argmaxAlong', () => {
    const x = f(6);
    expect(() => k.sumDims(x, u(2, 3), u(1), x.subarray(0, 2), 1)).toThrow(/sumDims: out shares memory with x/);
    expect(() => k.sumDims(x, u(2, 3), u(1, 0), f(1), 1)).toThrow(/distinct dims of shape \[2, 3\] in increasing order/);
    expect(() => k.sumDims(x, u(2, 3), u(2), f(6), 1)).toThrow(/distinct dims/);
    expect(() => k.sumDims(x, u(2, 3), u(0), f(2), 1)).toThrow(/out has 2 elements, expected 3/);
    expect(() => k.addInto(x, x)).toThrow(/addInto: target shares memory with source/);
    expect(() => k.addInto(x, f(5))).toThrow(/addInto: source has 5 elements, expected 6/);
    expect(() => k.argmaxAlong(x, 2, 0, 3, new Int32Array(6))).toThrow(/argmaxAlong: x has 6 elements, not \[2, 0, 3\]/);
    expect(() => k.argmaxAlong(x, 2, 3, 1, new Int32Array(3))).toThrow(/out has 3 elements, expected 2/);
  });
  it('agree with the JS twin on a direct call', () => {
    const [a, b] = [values([4, 1, 5], 1).data, values([3, 1], 2).data];
    const [n, j] = [f(60), f(60)];
    k.binaryBroadcast(a, u(4, 1, 5), b, u(3, 1), n, BINARY_OPS.div);
    jsKernels.binaryBroadcast(a, u(4, 1, 5), b, u(3, 1), j, BINARY_OPS.div);
    expectSameValues(n, j, 'div');
  });
});

describeEachBackend('the merge layers on the elementwise kernels', () => {
  it('nn.Mul broadcasts, and its gradients (summed back over the broadcast dims) pass finite differences', () => {
    for (const [sa, sb] of [[[2, 3, 4, 5], [2, 3, 1, 1]], [[2, 3, 4, 5], [3, 1, 1]], [[4, 1], [1, 3]], [[3], []]] as [number[], number[]][]) {
      gradcheck(new nn.Mul(), [randomTensor(sa, 1), randomTensor(sb, 2)]);
    }
  });

  it('nn.Add of one input is a copy, of several their sum in input order', () => {
    const a = values([5, 7], 1, false);
    const y = new nn.Add().forward(a);
    expect(y.data).not.toBe(a.data);
    expectSameValues(y.data, a.data, 'Add of one');
    const [b, c] = [values([5, 7], 2, false), values([5, 7], 3, false)];
    const want = Float32Array.from(a.data, (v, i) => Math.fround(Math.fround(v + b.data[i]!) + c.data[i]!));
    expectSameValues(new nn.Add().forward(a, b, c).data, want, 'Add of three');
    gradcheck(new nn.Add(), [randomTensor([2, 3], 1), randomTensor([2, 3], 2), randomTensor([2, 3], 3)]);
  });

  it("a graph's fan-out sums the gradients of a value's consumers into a tensor of its own", () => {
    const g = new nn.Graph({ inputs: ['x'] }).node('a', new nn.Identity(), ['x']).node('b', new nn.Identity(), ['x']).node('c', new nn.Identity(), ['x']).node('s', new nn.Add(), ['a', 'b', 'c']).output('s');
    const x = randomTensor([3, 4], 1);
    g.forward(x);
    const dy = randomTensor([3, 4], 2);
    const dx = g.backward(dy) as Tensor;
    expectSameValues(dx.data, Float32Array.from(dy.data, (v) => Math.fround(Math.fround(v + v) + v)), 'dx = 3 dy');
    expect(dx.data).not.toBe(dy.data);
  });

  it('a detached operand is refused before anything is written', () => {
    const a = randomTensor([4], 1);
    const b = randomTensor([4], 2);
    detach(b.data);
    expect(() => a.add(b)).toThrow(TypeError);
    expect(() => new nn.Add().forward(a, b)).toThrow(TypeError);
  });
});
