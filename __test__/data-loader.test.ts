// TensorDataset, DataLoader and accuracy: batching as PyTorch's DataLoader does it.
import { describe, expect, it } from 'vitest';
import { DataLoader, TensorDataset, accuracy, digitsDataset, loadDigits } from '../src/data/index.js';
import { manualSeed } from '../src/init/rng.js';
import { Tensor } from '../src/tensor.js';

const rows = (n: number) => Tensor.from(Float32Array.from({ length: n * 3 }, (_, i) => i), [n, 3]);
const firstColumn = (x: Tensor) => Array.from({ length: x.shape[0]! }, (_, i) => x.data[i * 3]! / 3);

describe('DataLoader', () => {
  it('batches in order, with a smaller last batch unless dropLast (len(loader) as PyTorch)', () => {
    const ds = new TensorDataset(rows(10), Int32Array.from({ length: 10 }, (_, i) => 100 + i));
    const loader = new DataLoader(ds, { batchSize: 4 });
    expect(loader.length).toBe(3);
    const batches = [...loader];
    expect(batches.map(([x]) => (x as Tensor).shape)).toEqual([[4, 3], [4, 3], [2, 3]]);
    expect(firstColumn(batches[2]![0] as Tensor)).toEqual([8, 9]);
    expect([...(batches[1]![1] as Int32Array)]).toEqual([104, 105, 106, 107]);
    const dropped = new DataLoader(ds, { batchSize: 4, dropLast: true });
    expect(dropped.length).toBe(2);
    expect([...dropped]).toHaveLength(2);
  });

  it('shuffles every pass into a new order that keeps each sample with its label', () => {
    const ds = new TensorDataset(rows(50), Int32Array.from({ length: 50 }, (_, i) => i));
    const loader = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 3 });
    const pass = () => [...loader].flatMap(([x, y]) => {
      expect(firstColumn(x as Tensor)).toEqual([...(y as Int32Array)]);
      return [...(y as Int32Array)];
    });
    const a = pass();
    const b = pass();
    expect([...a].sort((p, q) => p - q)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a).not.toEqual(b);
    // The same seed gives the same sequence of orders.
    const again = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 3 });
    expect([...again].flatMap(([, y]) => [...(y as Int32Array)])).toEqual(a);
  });

  it('without a seed, shuffles from the global generator (manualSeed)', () => {
    const ds = new TensorDataset(Int32Array.from({ length: 20 }, (_, i) => i));
    const order = () => {
      manualSeed(7);
      return [...new DataLoader(ds, { batchSize: 20, shuffle: true })][0]![0];
    };
    expect(order()).toEqual(order());
  });

  it('iterates asynchronously, letting the event loop run between batches', async () => {
    const ds = new TensorDataset(rows(6));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const seen: number[] = [];
    for await (const [x] of new DataLoader(ds, { batchSize: 2 })) {
      seen.push(...firstColumn(x as Tensor));
      await new Promise((r) => setTimeout(r, 2));
    }
    clearInterval(timer);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    expect(ticks).toBeGreaterThan(0);
  });

  it('returns copies: changing a batch leaves the dataset unchanged', () => {
    const x = rows(4);
    const [[batch]] = [...new DataLoader(new TensorDataset(x), { batchSize: 4 })] as Tensor[][];
    batch!.data.fill(-1);
    expect(x.data[0]).toBe(0);
  });

  it('wraps the bundled digits', () => {
    const ds = digitsDataset(loadDigits());
    expect(ds.length).toBe(10_000);
    const [[x, y]] = [...new DataLoader(ds, { batchSize: 5 })].slice(0, 1);
    expect((x as Tensor).shape).toEqual([5, 1, 28, 28]);
    expect([...(y as Int32Array)]).toEqual([0, 0, 0, 0, 0]);
    expect((digitsDataset(loadDigits(), { flat: true }).columns[0] as Tensor).shape).toEqual([10_000, 784]);
  });

  it('refuses bad datasets and options with typed errors', () => {
    expect(() => new TensorDataset()).toThrow(TypeError);
    expect(() => new TensorDataset(rows(3), new Int32Array(4))).toThrow(/same number of samples \(dim 0\), got \[3, 3\], Int32Array\(4\)/);
    expect(() => new TensorDataset(Tensor.from([1], []))).toThrow(RangeError);
    const ds = new TensorDataset(rows(3));
    expect(() => new DataLoader([] as unknown as TensorDataset)).toThrow(TypeError);
    expect(() => new DataLoader(ds, { batchSize: 0 })).toThrow(RangeError);
    expect(() => new DataLoader(ds, { batchSize: 1.5 })).toThrow(RangeError);
    expect(() => new DataLoader(ds, { shuffle: 'yes' as unknown as boolean })).toThrow(new TypeError('DataLoader: shuffle must be a boolean, got string yes'));
    expect(() => new DataLoader(ds, { dropLast: 1 as unknown as boolean })).toThrow(new TypeError('DataLoader: dropLast must be a boolean, got number 1'));
    expect(() => new DataLoader(ds, { seed: NaN })).toThrow(RangeError);
  });
});

describe('accuracy', () => {
  it('counts rows whose argmax is the target (first maximum on ties)', () => {
    const logits = Tensor.from([0.1, 0.9, 0, 2, 2, 1, -1, -2, -3, 0, 0, 0], [4, 3]);
    expect(accuracy(logits, [1, 0, 0, 1])).toBe(0.75);
    expect(accuracy(logits, Int32Array.from([1, 1, 0, 0]))).toBe(0.75);
  });
  it('checks shapes', () => {
    expect(() => accuracy(Tensor.zeros([4]), [0, 0, 0, 0])).toThrow(/logits must be \[N, C\], got \[4\]/);
    expect(() => accuracy(Tensor.zeros([2, 3]), [0])).toThrow(/1 targets for logits of shape \[2, 3\]/);
    expect(() => accuracy(Tensor.zeros([2, 3]), 'ab' as unknown as number[])).toThrow(TypeError);
  });
});
