// nn.ModelWorker runs passes on a worker thread, whose script is the compiled dist/ (a worker
// cannot load the TypeScript sources), so this file tests the built package: `npm run build:ts`.
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, getBackend, nn, setBackend, setNumThreads, getNumThreads } from '../dist/index.js';
import { native } from '../src/backend/index.js';

const backends = native ? (['native', 'js'] as const) : (['js'] as const);

function random(shape: number[], seed: number): Tensor {
  let s = seed >>> 0;
  const t = Tensor.zeros(shape);
  for (let i = 0; i < t.size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    t.data[i] = s / 2 ** 31 - 1;
  }
  return t;
}
const bits = (t: Tensor) => [...new Uint32Array(t.data.buffer, t.data.byteOffset, t.size)];

const workers: nn.ModelWorker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
});
const start = (m: nn.Module, options?: { modules?: (string | URL)[]; priority?: number }) => {
  const w = new nn.ModelWorker(m, options);
  workers.push(w);
  return w;
};

const makeModel = () =>
  new nn.Sequential(new nn.PReLU({ numParameters: 4, init: 0.1 }), new nn.Sequential(new nn.LeakyReLU({ negativeSlope: 0.3 }), new nn.Flatten()), new nn.PReLU({ init: -0.2 }));

for (const backend of backends) {
  describe(`ModelWorker [${backend}]`, () => {
    it('gives the synchronous results bit for bit: outputs, input gradients, parameter gradients', async () => {
      const previous = getBackend();
      setBackend(backend);
      try {
        const sync = makeModel();
        const remote = makeModel();
        const w = start(remote);
        for (let step = 0; step < 3; step++) {
          const x = random([6, 4, 5], 10 + step);
          const g = random([6, 20], 20 + step);
          const yAsync = await w.forward(x);
          const dxAsync = await w.backward(g);
          const y = sync.forward(x);
          const dx = sync.backward(g);
          expect(bits(yAsync), `output ${step}`).toEqual(bits(y));
          expect(yAsync.shape).toEqual([6, 20]);
          expect(bits(dxAsync), `input gradient ${step}`).toEqual(bits(dx));
          // Gradients accumulate across steps as they do synchronously.
          expect(remote.parameters().map((p) => bits(p.grad))).toEqual(sync.parameters().map((p) => bits(p.grad)));
          // A training step: SGD on the main thread, picked up by the next forward.
          for (const m of [sync, remote]) {
            for (const p of m.parameters()) for (let i = 0; i < p.data.size; i++) p.data.data[i]! -= 0.1 * p.grad.data[i]!;
          }
        }
        // Calls queue in order without awaiting each one.
        const x = random([2, 4, 5], 99);
        const [a, b] = await Promise.all([w.forward(x), w.forward(random([3, 4, 1], 98))]);
        expect(bits(a)).toEqual(bits(sync.forward(x)));
        expect(b.shape).toEqual([3, 4]);
      } finally {
        setBackend(previous);
      }
    });
  });
}

describe('ModelWorker', () => {
  it('keeps the event loop answering (timer lag < 20 ms) during a forward of about a second', async () => {
    const previous = [getBackend(), getNumThreads()] as const;
    // One kernel thread leaves the other core to the main thread on this 2-core machine.
    setNumThreads(1);
    try {
      const x = random([16, 8, 64, 64], 1);
      const layer = () => new nn.LeakyReLU({ negativeSlope: 0.5 });
      // Calibrate the depth to about a second of forward on this machine (the fastest of three
      // probes, as other test files share the cores).
      const probe = new nn.Sequential(...Array.from({ length: 10 }, layer));
      probe.forward(x);
      let perLayer = Infinity;
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        probe.forward(x);
        perLayer = Math.min(perLayer, (performance.now() - t0) / 10);
      }
      const depth = Math.max(10, Math.min(5000, Math.round(1000 / perLayer)));
      const model = new nn.Sequential(new nn.PReLU({ numParameters: 8 }), ...Array.from({ length: depth }, layer));

      // The lowest priority: this machine's cores are shared with other test files and builds.
      const w = start(model, { priority: 19 });
      await w.forward(random([1, 8, 2, 2], 2)); // the worker is up

      // The instrument: how late each tick of a 5 ms interval timer fires. `lag` is the worst,
      // `p95` the 95th percentile.
      const measure = async (run: () => Promise<unknown> | unknown) => {
        let last = performance.now();
        const lags: number[] = [];
        const timer = setInterval(() => {
          const now = performance.now();
          lags.push(Math.max(0, now - last - 5));
          last = now;
        }, 5);
        const start = performance.now();
        const result = await run();
        const elapsed = performance.now() - start;
        await new Promise((r) => setTimeout(r, 20));
        clearInterval(timer);
        lags.sort((a, b) => a - b);
        const p95 = lags[Math.floor(0.95 * (lags.length - 1))] ?? Infinity;
        return { result: result as Tensor, lag: lags[lags.length - 1] ?? Infinity, p95, ticks: lags.length, elapsed };
      };

      // This machine's own jitter: the same timer while nothing runs.
      const idle = await measure(() => new Promise((r) => setTimeout(r, 1000)));
      const async = await measure(() => w.forward(x));
      const sync = await measure(() => model.forward(x));
      const report = `forward ${async.elapsed.toFixed(0)} ms in the worker: ${async.ticks} ticks, timer lag p95 ${async.p95.toFixed(1)} ms, max ${async.lag.toFixed(1)} ms (idle: p95 ${idle.p95.toFixed(1)} ms, max ${idle.lag.toFixed(1)} ms); on the main thread ${sync.elapsed.toFixed(0)} ms with lag ${sync.lag.toFixed(0)} ms`;
      console.log(`ModelWorker: ${depth} layers, ${report}`);
      expect(async.elapsed).toBeGreaterThan(300);
      // The loop kept answering: 95% of ticks within 20 ms of due, none delayed by more than a
      // tenth of a second. On a shared 2-core machine other processes alone delay an idle timer
      // (CI runs test files side by side), so the bars widen by the idle timer's own lateness;
      // a blocked loop would still fail them by far, showing the forward's whole length (about a
      // second) as the synchronous run does.
      expect(async.p95, report).toBeLessThan(20 + 2 * idle.p95);
      expect(async.lag, report).toBeLessThan(Math.max(100, 2 * idle.lag));
      expect(async.ticks).toBeGreaterThan(async.elapsed / 25);
      expect(sync.lag).toBeGreaterThan(sync.elapsed * 0.8);
      expect(bits(async.result)).toEqual(bits(sync.result));
    } finally {
      setBackend(previous[0]);
      setNumThreads(previous[1]);
    }
  });

  it('writes back the buffers a training forward changes, and follows train/eval', async () => {
    // @ts-expect-error: a plain JavaScript test fixture without types
    const { Affine } = (await import('./fixtures/affine-layer.mjs')) as { Affine: new (f: number) => nn.Module };
    const make = () => new nn.Sequential(new nn.LeakyReLU(), new Affine(3), new nn.PReLU());
    const sync = make();
    const remote = make();
    const w = start(remote, { modules: [new URL('./fixtures/affine-layer.mjs', import.meta.url)] });
    const snapshot = (m: nn.Module) => Object.entries(m.stateDict()).map(([k, t]) => [k, bits(t)]);
    for (const [step, mode] of (['train', 'train', 'eval', 'train'] as const).entries()) {
      sync[mode]();
      remote[mode]();
      const x = random([4, 3], 30 + step);
      expect(bits(await w.forward(x)), `step ${step}`).toEqual(bits(sync.forward(x)));
      expect(snapshot(remote), `step ${step}`).toEqual(snapshot(sync));
      const g = random([4, 3], 40 + step);
      expect(bits(await w.backward(g))).toEqual(bits(sync.backward(g)));
      expect(remote.parameters().map((p) => bits(p.grad))).toEqual(sync.parameters().map((p) => bits(p.grad)));
    }
    expect(remote.stateDict()['1.num_batches_tracked']!.data[0]).toBe(3);
    // A child's own mode counts, not only the root's.
    sync.train();
    remote.train();
    sync.at(1).eval();
    remote.at(1).eval();
    const x = random([4, 3], 50);
    expect(bits(await w.forward(x))).toEqual(bits(sync.forward(x)));
    expect(snapshot(remote)).toEqual(snapshot(sync));
    expect(remote.stateDict()['1.num_batches_tracked']!.data[0]).toBe(3);
    // Without the modules option the custom layer is refused up front.
    expect(() => new nn.ModelWorker(make())).toThrow(/the module at "1" is a Affine, which nn.moduleFromConfig cannot build/);
    // A module file that does not provide the type: the first call says so.
    await expect(start(make(), { modules: [new URL('./fixtures/affine-layer.mjs', import.meta.url).href.replace('affine-layer', 'missing-layer')] }).forward(random([4, 3], 1))).rejects.toThrow(/Cannot find module|could not be built|ERR_MODULE_NOT_FOUND/);
  });

  it('backward with inputGrad: false resolves to null and writes the synchronous parameter gradients', async () => {
    const sync = makeModel();
    const remote = makeModel();
    const w = start(remote);
    const x = random([6, 4, 5], 3);
    const g = random([6, 20], 4);
    await w.forward(x);
    sync.forward(x);
    expect(await w.backward(g, { inputGrad: false })).toBeNull();
    expect(sync.backward(g, { inputGrad: false })).toBeNull();
    const grads = (m: nn.Module) => m.parameters().map((p) => bits(p.grad));
    expect(grads(remote)).toEqual(grads(sync));
    expect(sync.parameters().every((p) => p.grad.data.some((v) => v !== 0))).toBe(true);
    expect(() => w.backward(g, { inputGrad: 'no' } as never)).toThrow(/inputGrad must be a boolean, got string no/);
  });

  it("rejects with the synchronous call's error class and message", async () => {
    const m = makeModel();
    const w = start(m);
    const bad = Tensor.zeros([2, 5]);
    let syncError: Error | null = null;
    try {
      makeModel().forward(bad);
    } catch (e) {
      syncError = e as Error;
    }
    await expect(w.forward(bad)).rejects.toThrow(syncError!.message);
    await expect(w.forward(bad)).rejects.toBeInstanceOf(RangeError);
    await expect(start(makeModel()).backward(Tensor.zeros([1]))).rejects.toThrow(/backward called before forward/);
    // After an error the worker still works.
    expect((await w.forward(random([1, 4, 2], 4))).shape).toEqual([1, 8]);
    expect(() => w.forward([1, 2] as unknown as Tensor)).toThrow(TypeError);
  });

  it('copies inputs when the call is made, or moves them with transfer: true', async () => {
    const w = start(makeModel());
    const x = random([2, 4, 3], 5);
    const want = bits(makeModel().forward(x));
    const pending = w.forward(x);
    x.data.fill(7); // the caller may reuse x at once
    expect(bits(await pending)).toEqual(want);
    const moved = random([2, 4, 3], 5);
    const y = await w.forward(moved, { transfer: true });
    expect(bits(y)).toEqual(want);
    expect(moved.data.length).toBe(0); // detached: it now belongs to the worker
    // The same tensor moved twice: the second call cannot send it and rejects (and the
    // worker carries on).
    const twice = random([2, 4, 3], 5);
    const results = await Promise.allSettled([w.forward(twice, { transfer: true }), w.forward(twice, { transfer: true })]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(TypeError);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/ModelWorker.forward: input.*detached/);
    expect(bits(await w.forward(random([2, 4, 3], 5)))).toEqual(want);
    // A view of part of a larger buffer is copied even with transfer: true.
    const big = new Float32Array(100);
    const view = new Tensor(big.subarray(10, 34), [2, 4, 3]);
    await w.forward(view, { transfer: true });
    expect(big.length).toBe(100);
  });

  it('refuses models it cannot rebuild in the worker, and rejects after terminate', async () => {
    class Custom extends nn.ReLU {}
    expect(() => new nn.ModelWorker(new nn.Sequential(new nn.ReLU(), new Custom()))).toThrow(/the module at "1" is a Custom/);
    expect(() => new nn.ModelWorker({} as nn.Module)).toThrow(TypeError);
    expect(() => new nn.ModelWorker(new nn.ReLU(), { priority: -5 })).toThrow(RangeError);
    const w = new nn.ModelWorker(new nn.ReLU());
    await w.terminate();
    await expect(w.forward(Tensor.zeros([1]))).rejects.toThrow(/terminated/);
  });
});
