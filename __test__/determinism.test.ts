// Determinism: a seeded training run of a small CNN on the bundled MNIST digits (Conv2d, ReLU,
// MaxPool2d, Linear, CrossEntropyLoss, SGD with momentum) gives the same bits every time with
// one thread, in one process and in two others; and what two threads change, measured.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { getNumThreads, manualSeed, nn, setNumThreads } from '../src/index.js';
import { kernels, native } from '../src/backend/index.js';
import { expectClose, randomTensor } from './helpers/numeric.js';

const dist = new URL('../dist/index.js', import.meta.url).href;
const mnist = new URL('../dist/data/mnist.js', import.meta.url).href;

/** Trains for `steps` steps with `threads` kernel threads; returns a SHA-256 of every weight's bits, and the losses. */
const work = `
const { createHash } = await import('node:crypto');
const { Tensor, nn, optim, manualSeed, setNumThreads, setBackend } = await import(${JSON.stringify(dist)});
const { loadDigits } = await import(${JSON.stringify(mnist)});
export function train({ threads, steps, seed, backend = 'native' }) {
  setBackend(backend);
  setNumThreads(threads);
  manualSeed(seed);
  const model = new nn.Sequential(
    new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(16 * 7 * 7, 10),
  );
  const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const loss = new nn.CrossEntropyLoss();
  const d = loadDigits();
  const n = 32;
  const losses = [];
  for (let s = 0; s < steps; s++) {
    const x = Tensor.zeros([n, 1, 28, 28]);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      // A fixed stride through the 10,010 digits: every class, no generator involved.
      const j = (s * n + i) * 313 % d.count;
      x.data.set(d.images.subarray(j * 784, (j + 1) * 784), i * 784);
      y[i] = d.labels[j];
    }
    opt.zeroGrad();
    losses.push(loss.forward(model.forward(x), y));
    model.backward(loss.backward());
    opt.step();
  }
  const h = createHash('sha256');
  for (const p of model.parameters()) h.update(new Uint8Array(p.data.data.buffer, p.data.data.byteOffset, p.data.data.byteLength));
  return { hash: h.digest('hex'), losses };
}
`;
const url = `data:text/javascript,${encodeURIComponent(work)}`;

interface Run {
  hash: string;
  losses: number[];
}

function inChild(o: { threads: number; steps: number; seed: number }): Run {
  const script = `const { train } = await import(${JSON.stringify(url)}); process.stdout.write(JSON.stringify(train(${JSON.stringify(o)})));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
}

const steps = 24;

describe.skipIf(!native)('determinism', () => {
  it('one thread: bit-identical across two runs in this process and in two child processes', async () => {
    const { train } = await import(url);
    const a: Run = train({ threads: 1, steps, seed: 3 });
    const b: Run = train({ threads: 1, steps, seed: 3 });
    const c = inChild({ threads: 1, steps, seed: 3 });
    const d = inChild({ threads: 1, steps, seed: 3 });
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(d).toEqual(a);
    // It trained (the loss fell), and the seed matters: the test can fail.
    expect(a.losses.at(-1)!).toBeLessThan(a.losses[0]!);
    expect(train({ threads: 1, steps, seed: 4 }).hash).not.toBe(a.hash);
  }, 120_000);

  it('two threads: the same run is bit-identical run to run (in this process and another)', async () => {
    const { train } = await import(url);
    const one: Run = train({ threads: 1, steps, seed: 5 });
    const two = [train({ threads: 2, steps, seed: 5 }), train({ threads: 2, steps, seed: 5 }), inChild({ threads: 2, steps, seed: 5 })];
    for (const r of two) expect(r).toEqual(two[0]);
    // Not bit-equal to one thread: the weight gradients' batch sums are chunked by thread count
    // (see the next test); the trajectories agree to float32 rounding at first.
    expect(two[0]!.losses[0]).toBe(one.losses[0]);
    two[0]!.losses.slice(0, 8).forEach((l: number, i: number) => expect(Math.abs(l - one.losses[i]!)).toBeLessThan(1e-5));
  }, 120_000);

  // Sizes past every kernel's parallel threshold, so that two threads really split the work.
  const r = (n: number, seed: number) => randomTensor([n], seed).data;
  const probes: [string, () => { outputs: Float32Array[]; paramGrads: Float32Array[] }][] = [
    ['Conv2d', () => layer(new nn.Conv2d(8, 16, 3, { padding: 1 }), [32, 8, 14, 14])],
    ['Linear', () => layer(new nn.Linear(512, 512), [256, 512])],
    ['MaxPool2d', () => layer(new nn.MaxPool2d(2), [32, 16, 28, 28])],
    ['AvgPool2d', () => layer(new nn.AvgPool2d(3, { stride: 1, padding: 1 }), [32, 16, 28, 28])],
    ['LogSoftmax', () => layer(new nn.LogSoftmax({ dim: 1 }), [4096, 100])],
    ['BatchNorm2d', () => layer(new nn.BatchNorm2d(16), [32, 16, 28, 28])],
    ['LayerNorm', () => layer(new nn.LayerNorm(784), [512, 784])],
    ['GroupNorm', () => layer(new nn.GroupNorm(4, 16), [32, 16, 28, 28])],
    ['PReLU', () => layer(new nn.PReLU({ numParameters: 16 }), [32, 16, 28, 28])],
    ['CrossEntropyLoss', () => {
      const l = new nn.CrossEntropyLoss();
      const v = l.forward(randomTensor([8192, 10], 3), Int32Array.from({ length: 8192 }, (_, i) => i % 10));
      return { outputs: [Float32Array.of(v), l.backward().data], paramGrads: [] };
    }],
    ['SGD and Adam steps', () => {
      const p = r(1 << 19, 1);
      const q = Float32Array.from(p);
      const [buf, m, v] = [new Float32Array(p.length), new Float32Array(p.length), new Float32Array(p.length)];
      kernels().sgdStep(p, r(p.length, 2), buf, 0.1, 0.9, 0, 1e-4, false, true);
      kernels().adamStep(q, r(p.length, 2), m, v, 0.1, 0.9, 0.999, 1e-8, 0, 1, false);
      return { outputs: [p, buf, q, m, v], paramGrads: [] };
    }],
    ['sumSquares (clipGradNorm)', () => ({ outputs: [], paramGrads: [Float32Array.of(kernels().sumSquares(r(1 << 22, 9)))] })],
  ];
  function layer(m: nn.Module, shape: number[]): { outputs: Float32Array[]; paramGrads: Float32Array[] } {
    manualSeed(1);
    m.parameters().forEach((p, i) => p.data.data.set(randomTensor([...p.data.shape], 10 + i).data));
    const y = m.forward(randomTensor(shape, 2));
    const dx = m.backward(randomTensor([...y.shape], 3));
    return { outputs: [y.data, dx.data], paramGrads: m.parameters().map((p) => p.grad.data) };
  }

  it.each(probes)('%s: outputs and input gradients have the same bits with 1 and 2 threads; parameter-gradient sums repeat at 2 threads', (_name, probe) => {
    const before = getNumThreads();
    try {
      setNumThreads(1);
      const one = probe();
      setNumThreads(2);
      const two = probe();
      const again = probe();
      // Compared as bytes: expect's element-wise equality is too slow for millions of floats.
      const bytes = (r: { outputs: Float32Array[]; paramGrads: Float32Array[] }, which: 'outputs' | 'paramGrads') =>
        Buffer.concat(r[which].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
      expect(bytes(two, 'outputs').equals(bytes(one, 'outputs'))).toBe(true);
      expect(bytes(again, 'outputs').equals(bytes(two, 'outputs'))).toBe(true);
      expect(bytes(again, 'paramGrads').equals(bytes(two, 'paramGrads'))).toBe(true);
      // Batch sums split into per-thread chunks: other bits, within float32 rounding of the sums.
      two.paramGrads.forEach((g, i) => expectClose(g, { data: one.paramGrads[i]! }, `parameter gradient ${i}`, { atol: 1e-4, rtol: 1e-4 }));
    } finally {
      setNumThreads(before);
    }
  });
});
