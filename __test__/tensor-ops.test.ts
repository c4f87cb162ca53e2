// Tensor's PyTorch-named helpers against PyTorch's numbers, and their errors.
import { expect, it } from 'vitest';
import { Tensor } from '../src/tensor.js';
import { decode, expectCloseInf } from './fixture-values.js';
import { describeEachBackend } from './helpers/backends.js';
import { loadFixture, tensor, type FixtureTensor } from './helpers/fixtures.js';
import { expectClose } from './helpers/numeric.js';

interface T { shape: number[]; data: number[] }
const fx = loadFixture('tensor-ops.json') as unknown as {
  binary: ({ a: T; b: T } & Record<'add' | 'sub' | 'mul' | 'div', T>)[];
  x: T;
  reductions: { dim: number | number[] | null; keepdim: boolean; sum: T; mean: T }[];
  argmax: { input: T; all: number; dims: Record<string, number[]> };
  views: { input: T; narrow: { dim: number; start: number; length: number; output: T }[]; slice: { dim: number; start: number; end: number | null; output: T }[] };
  specialBinary: Record<'a' | 'b' | 'add' | 'sub' | 'mul' | 'div', FixtureTensor>;
  specialSums: { x: FixtureTensor; reductions: ({ dim: number | number[] } & Record<'sum' | 'mean', FixtureTensor>)[] };
  scalarInput: T;
  scalars: ({ scalar: number } & Record<'add' | 'sub' | 'mul' | 'div', T>)[];
};

/** Equal values, -0 apart from 0 and NaN equal to NaN. */
function expectSameValues(got: Tensor, want: { shape: number[]; data: Float32Array }, what: string): void {
  expect(got.shape, what).toEqual(want.shape);
  const show = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));
  expect([...got.data].map(show), what).toEqual([...want.data].map(show));
}

describeEachBackend('Tensor arithmetic', () => {
  it.each(fx.binary.map((c, i) => [i, c] as const))('broadcasts as PyTorch (case %i)', (_, c) => {
    const a = tensor(c.a);
    const b = tensor(c.b);
    for (const op of ['add', 'sub', 'mul', 'div'] as const) {
      expectClose(a[op](b), c[op], `${op} ${JSON.stringify(c.a.shape)} ${JSON.stringify(c.b.shape)}`, { atol: 0, rtol: 0 });
    }
  });

  it('takes a number as the other operand and never changes its inputs', () => {
    const a = Tensor.from([1, -2, 3], [3]);
    expect([...a.add(1).data]).toEqual([2, -1, 4]);
    expect([...a.sub(0.5).data]).toEqual([0.5, -2.5, 2.5]);
    expect([...a.mul(-2).data]).toEqual([-2, 4, -6]);
    expect([...a.div(0).data]).toEqual([Infinity, -Infinity, Infinity]);
    expect([...a.data]).toEqual([1, -2, 3]);
  });

  it('NaN, ±Infinity and ±0 against each other as PyTorch, the sign of every zero too', () => {
    const f = fx.specialBinary;
    const [a, b] = [decode(f.a), decode(f.b)];
    for (const op of ['add', 'sub', 'mul', 'div'] as const) {
      expectSameValues(Tensor.from(a.data, a.shape)[op](Tensor.from(b.data, b.shape)), decode(f[op]), op);
    }
  });

  it('rounds a number operand to float32 first, bit for bit as PyTorch', () => {
    const x = tensor(fx.scalarInput);
    for (const c of fx.scalars) {
      for (const op of ['add', 'sub', 'mul', 'div'] as const) expectClose(x[op](c.scalar), c[op], `${op} ${c.scalar}`, { atol: 0, rtol: 0 });
    }
  });

  it('names both shapes when they do not broadcast', () => {
    expect(() => Tensor.zeros([2, 3]).add(Tensor.zeros([4]))).toThrow(RangeError);
    expect(() => Tensor.zeros([2, 3]).add(Tensor.zeros([4]))).toThrow(/Tensor\.add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
    expect(() => Tensor.zeros([2]).mul('3' as unknown as number)).toThrow(TypeError);
  });
});

describeEachBackend('Tensor reductions', () => {
  const x = tensor(fx.x);
  it.each(fx.reductions.map((c) => [JSON.stringify(c.dim), c.keepdim, c] as const))('sum and mean over %s (keepdim %s)', (_, keepdim, c) => {
    const dim = c.dim ?? undefined;
    expectClose(x.sum(dim, { keepdim }), c.sum, 'sum', { atol: 1e-6, rtol: 1e-6 });
    expectClose(x.mean(dim, { keepdim }), c.mean, 'mean', { atol: 1e-6, rtol: 1e-6 });
  });

  it('NaN and ±Infinity in sums and means as PyTorch (inf - inf = NaN)', () => {
    const sx = decode(fx.specialSums.x);
    const t = Tensor.from(sx.data, sx.shape);
    for (const c of fx.specialSums.reductions) {
      expectCloseInf(t.sum(c.dim), decode(c.sum), `sum ${JSON.stringify(c.dim)}`, { atol: 1e-5, rtol: 1e-5 });
      expectCloseInf(t.mean(c.dim), decode(c.mean), `mean ${JSON.stringify(c.dim)}`, { atol: 1e-5, rtol: 1e-5 });
    }
  });

  it('accumulates in float64', () => {
    const big = Tensor.from(new Float32Array(1 << 20).fill(0.1), [1 << 20]);
    expect(big.sum().item()).toBe(Math.fround(Math.fround(0.1) * (1 << 20)));
  });

  it('mean of an empty dim is NaN; bad dims are errors', () => {
    expect(Number.isNaN(Tensor.zeros([0, 3]).mean(0).data[0])).toBe(true);
    expect(() => x.sum(3)).toThrow(RangeError);
    expect(() => x.sum(3)).toThrow(/dim 3 is out of range for shape \[2, 3, 4\] \(expected -3\.\.2\)/);
    expect(() => x.sum([0, -3])).toThrow(/names a dim twice/);
    expect(() => x.mean(0.5)).toThrow(TypeError);
    expect(() => x.sum(0, { keepdim: 1 as unknown as boolean })).toThrow(TypeError);
  });
});

describeEachBackend('Tensor.argmax', () => {
  const t = tensor(fx.argmax.input);
  it('picks the first maximum as PyTorch does', () => {
    expect(t.argmax()).toBe(fx.argmax.all);
    for (const [dim, want] of Object.entries(fx.argmax.dims)) expect([...t.argmax(Number(dim))], `dim ${dim}`).toEqual(want);
  });

  it('counts NaN as the largest value', () => {
    expect(Tensor.from([1, NaN, 5, NaN], [4]).argmax()).toBe(1);
    expect([...Tensor.from([3, 1, 2, NaN, 0, 9], [2, 3]).argmax(1)]).toEqual([0, 0]);
  });

  it('refuses an empty tensor and a bad dim', () => {
    expect(() => Tensor.zeros([0]).argmax()).toThrow(RangeError);
    expect(() => t.argmax(-4)).toThrow(/dim -4 is out of range/);
  });
});

describeEachBackend('Tensor views and copies', () => {
  const x = tensor(fx.views.input);
  it.each(fx.views.narrow.map((c) => [c.dim, c.start, c.length, c] as const))('narrow(%i, %i, %i)', (dim, start, length, c) => {
    expectClose(x.narrow(dim, start, length), c.output, 'narrow', { atol: 0, rtol: 0 });
  });
  it.each(fx.views.slice.map((c) => [c.dim, c.start, c.end, c] as const))('slice(%i, %s, %s) is Python slicing', (dim, start, end, c) => {
    expectClose(x.slice(dim, start, end ?? undefined), c.output, 'slice', { atol: 0, rtol: 0 });
  });

  it('shares data along dim 0 and copies elsewhere', () => {
    const t = Tensor.from([0, 1, 2, 3, 4, 5], [3, 2]);
    const rows = t.narrow(0, 1, 2);
    rows.data[0] = 42;
    expect(t.data[2]).toBe(42);
    const col = t.narrow(1, 1, 1);
    col.data[0] = -1;
    expect(t.data[1]).toBe(1);
  });

  it('narrow out of range is a RangeError naming the shape', () => {
    expect(() => x.narrow(1, 2, 2)).toThrow(/start 2 and length 2 do not fit in dim 1 of size 3 \(shape \[2, 3, 4\]\)/);
    expect(() => x.narrow(0, 0, 1.5)).toThrow(TypeError);
  });

  it('clone, toArray and item', () => {
    const t = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
    const c = t.clone();
    c.data[0] = 9;
    expect(t.data[0]).toBe(1);
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(Tensor.from([7], []).toArray()).toBe(7);
    expect(Tensor.from([7], []).sum([]).item()).toBe(7);
    expect(t.sum().item()).toBe(21);
    expect(() => t.item()).toThrow(/Tensor\.item: the tensor of shape \[2, 3\] has 6 elements, not one/);
  });

  it('a detached tensor is refused by every helper', () => {
    const t = Tensor.from([1, 2], [2]);
    structuredClone(t.data.buffer, { transfer: [t.data.buffer as ArrayBuffer] });
    for (const call of [() => t.add(1), () => t.sum(), () => t.argmax(), () => t.narrow(0, 0, 1), () => t.clone(), () => t.toArray(), () => t.item()]) {
      expect(call).toThrow(TypeError);
    }
  });
});
