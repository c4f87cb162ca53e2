// The addon from several worker threads at once: each worker's results equal the same work done
// serially in this thread, and the shared kernel thread pool serves them all.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { nn } from '../src/index.js';
import * as pkg from '../dist/index.js';
import { native } from '../src/backend/index.js';
import { withBackend } from './helpers/backends.js';
import { randomTensor } from './helpers/numeric.js';

const dist = new URL('../dist/index.js', import.meta.url).href;

/** Forward and backward of a PReLU stack on `[n, c, h, w]` data from `seed`, as plain arrays. */
const work = `
const { Tensor, nn } = await import(${JSON.stringify(dist)});
export function run(seed, shape, rounds) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31 - 1);
  const size = shape.reduce((a, b) => a * b, 1);
  const x = Tensor.from(Float32Array.from({ length: size }, next), shape);
  const g = Tensor.from(Float32Array.from({ length: size }, next), shape);
  const prelu = new nn.PReLU({ numParameters: shape[1] });
  const relu = new nn.ReLU();
  const leaky = new nn.LeakyReLU({ negativeSlope: 0.1 });
  let y, dx;
  for (let r = 0; r < rounds; r++) {
    y = leaky.forward(relu.forward(prelu.forward(x)));
    dx = prelu.backward(relu.backward(leaky.backward(g)));
  }
  return { y: Array.from(y.data), dx: Array.from(dx.data), dw: Array.from(prelu.weight.grad.data) };
}
`;

const workerSource = `
import { parentPort, workerData } from 'node:worker_threads';
const { run } = await import('data:text/javascript,' + encodeURIComponent(${JSON.stringify(work)}));
parentPort.postMessage(run(workerData.seed, workerData.shape, workerData.rounds));
`;

function inWorker(data: { seed: number; shape: number[]; rounds: number }): Promise<{ y: number[]; dx: number[]; dw: number[] }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(workerSource)}`), { workerData: data });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

describe.skipIf(!native)('concurrency', () => {
  it('four workers at once give the serial results, bit for bit', async () => {
    // Big enough to use the kernel thread pool (past 2 × 32768 elements), small enough to be quick.
    const shape = [4, 8, 48, 48];
    const rounds = 5;
    const seeds = [1, 2, 3, 4];
    const { run } = await import(`data:text/javascript,${encodeURIComponent(work)}`);
    const serial = seeds.map((seed) => run(seed, shape, rounds));
    const parallel = await Promise.all(seeds.map((seed) => inWorker({ seed, shape, rounds })));
    parallel.forEach((p, i) => {
      expect(p.y).toEqual(serial[i].y);
      expect(p.dx).toEqual(serial[i].dx);
      expect(p.dw).toEqual(serial[i].dw);
    });
  });

  it('the JS and native backends agree while workers hammer the addon', async () => {
    const busy = Promise.all([5, 6].map((seed) => inWorker({ seed, shape: [2, 4, 64, 64], rounds: 20 })));
    const x = randomTensor([3, 5, 7, 9], 9);
    const a = withBackend('native', () => new nn.ReLU().forward(x));
    const b = withBackend('js', () => new nn.ReLU().forward(x));
    expect(a.data).toEqual(b.data);
    const results = await busy;
    expect(results.every((r) => r.y.length === 2 * 4 * 64 * 64)).toBe(true);
  });

  it('three ModelWorkers with pending calls, and the main thread, at once: the serial results', async () => {
    // Conv2d, pooling, Linear and a loss share the kernel thread pool from four threads.
    const make = () => {
      pkg.manualSeed(7);
      return new pkg.nn.Sequential(new pkg.nn.Conv2d(1, 8, 3, { padding: 1 }), new pkg.nn.ReLU(), new pkg.nn.MaxPool2d(2), new pkg.nn.Flatten(), new pkg.nn.Linear(8 * 14 * 14, 10));
    };
    const input = (seed: number) => new pkg.Tensor(randomTensor([16, 1, 28, 28], seed).data, [16, 1, 28, 28]);
    const serial = [1, 2, 3].map((seed) => {
      const m = make();
      const y = m.forward(input(seed));
      const dx = m.backward(new pkg.Tensor(new Float32Array(y.size).fill(0.01), y.shape));
      return { y: [...y.data], dx: [...dx.data], dw: [...m.parameters()[0]!.grad.data] };
    });
    const workers = [1, 2, 3].map(() => new pkg.nn.ModelWorker(make()));
    try {
      const pending = workers.map(async (w, i) => {
        const y = await w.forward(input(i + 1));
        const dx = await w.backward(new pkg.Tensor(new Float32Array(y.size).fill(0.01), y.shape));
        return { y: [...y.data], dx: [...dx.data], dw: [...w.model.parameters()[0]!.grad.data] };
      });
      // Meanwhile the main thread computes too, with the same kernels.
      const here = make().forward(input(9));
      const results = await Promise.all(pending);
      results.forEach((r, i) => expect(r).toEqual(serial[i]));
      expect(here.shape).toEqual([16, 10]);
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });
});
