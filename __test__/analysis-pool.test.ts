// diag.AnalysisPool and per-thread kernel budgets. The pool's workers run the compiled dist/ (a
// worker cannot load the TypeScript sources), so this file tests the built package: `npm run build:ts`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, diag, getBackend, getNumThreads, getThreadBudget, io, manualSeed, nn, setBackend, setNumThreads, setThreadBudget } from '../dist/index.js';
import { native } from '../src/backend/index.js';
import { randomTensor } from './helpers/numeric.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = pathToFileURL(join(root, 'dist', 'index.js')).href;
const backends = native ? (['native', 'js'] as const) : (['js'] as const);

/** A CNN whose conv channel 1 never fires (bias -100), so the report has a dead unit to find. */
function buildModel(): nn.Sequential {
  manualSeed(5);
  const conv = new nn.Conv2d(2, 4, 3, { padding: 1 });
  conv.bias!.data.data[1] = -100;
  return new nn.Sequential(conv, new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(64, 12), new nn.LeakyReLU({ negativeSlope: 0.1 }), new nn.Linear(12, 3), new nn.ReLU());
}

let dir = '';
const file = (name: string) => join(dir, name);
let model: nn.Sequential;
let x: Tensor;

/** What `liven diagnose ... --json` prints, or its one-line error without the "liven diagnose: " prefix. */
function cli(args: string[]): { status: number | null; stdout: string; reason: string } {
  const r = spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), 'diagnose', ...args, '--json'], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, reason: r.stderr.trim().replace(/^liven diagnose: /, '') };
}
/** `cli`'s output for the js backend: the report of the model in eval mode on `x`, `chunk` samples at a time, in this process. */
function inProcess(input: Tensor, chunk = input.shape[0]!): { status: number; stdout: string } {
  const m = nn.Sequential.fromConfig(model.toConfig());
  m.loadStateDict(model.stateDict());
  m.eval();
  const monitor = new diag.ActivationMonitor(m);
  const per = input.size / input.shape[0]!;
  for (let from = 0; from < input.shape[0]!; from += chunk) {
    const n = Math.min(chunk, input.shape[0]! - from);
    m.forward(Tensor.from(input.data.slice(from * per, (from + n) * per), [n, ...input.shape.slice(1)]));
  }
  return { status: 0, stdout: `${JSON.stringify(monitor.report(), null, 2)}\n` };
}
const paths = () => ({ model: { config: file('model.json'), weights: file('model.safetensors') }, input: file('batch.safetensors') });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'liven-pool-'));
  model = buildModel();
  x = Tensor.from(randomTensor([9, 2, 8, 8], 6, -2, 2).data, [9, 2, 8, 8]);
  writeFileSync(file('model.json'), JSON.stringify(model.toConfig()));
  io.saveSafetensors(file('model.safetensors'), model.stateDict());
  io.saveSafetensors(file('batch.safetensors'), { input: x });
  io.saveSafetensors(file('narrow.safetensors'), { input: Tensor.zeros([2, 3, 8, 8]) });
  writeFileSync(file('broken.json'), '{"type": "Sequential", ');
});
const pools: diag.AnalysisPool[] = [];
const open = (o?: diag.AnalysisPoolOptions) => {
  const p = new diag.AnalysisPool(o);
  pools.push(p);
  return p;
};
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe.each(backends)('AnalysisPool on the %s backend', (backend) => {
  const before = getBackend();
  beforeAll(() => setBackend(backend));
  afterAll(() => setBackend(before));

  it('gives what liven diagnose --json prints, from paths, bytes, config objects and tensors', async () => {
    const args = ['--model', file('model.json'), '--weights', file('model.safetensors'), '--input', file('batch.safetensors')];
    // The CLI runs the native kernels when it has them; the js backend's are what it prints without the addon.
    const expected = backend === 'native' ? cli(args) : inProcess(x);
    const chunked = backend === 'native' ? cli([...args, '--chunk', '4']) : inProcess(x, 4);
    expect([expected.status, chunked.status]).toEqual([0, 0]);
    const rows = JSON.parse(expected.stdout) as diag.LayerReport[];
    expect(rows.map((r) => [r.layer, r.dead])).toEqual([['1', 1], ['5', expect.any(Number)], ['7', expect.any(Number)]]);
    // The CLI's kernels use all the cores (a split by thread count decides how float sums
    // round), so the pool's worker gets as many for a bit-for-bit comparison.
    const pool = open({ workers: 2, threadsPerWorker: availableParallelism() });
    const jobs: [diag.AnalysisJob, string][] = [
      [paths(), expected.stdout],
      [{ model: { config: model.toConfig(), weights: readFileSync(file('model.safetensors')) }, input: readFileSync(file('batch.safetensors')) }, expected.stdout],
      [{ model: { config: file('model.json'), weights: io.serializeSafetensors(model.stateDict()) }, input: x }, expected.stdout],
      [{ ...paths(), options: { chunk: 4 } }, chunked.stdout],
    ];
    const reports = await Promise.all(jobs.map(([j]) => pool.analyze(j)));
    reports.forEach((r, i) => expect(`${JSON.stringify(r, null, 2)}\n`).toBe(jobs[i]![1]));
  });

  it('takes ONNX models as a path or as bytes, as liven diagnose --model x.onnx does', async () => {
    const onnx = fileURLToPath(new URL('./fixtures/onnx/toy_opset17.onnx', import.meta.url));
    const batch = fileURLToPath(new URL('./fixtures/onnx/toy_opset17.input.safetensors', import.meta.url));
    const input = io.loadSafetensors(batch).input!;
    // The same report in this process: the imported graph in eval mode under a monitor.
    const graph = io.loadOnnx(onnx);
    const monitor = new diag.ActivationMonitor(graph);
    graph.forward(input);
    const expected = `${JSON.stringify(monitor.report(), null, 2)}\n`;
    monitor.detach();
    const pool = open({ workers: 2, threadsPerWorker: 1 });
    const reports = await Promise.all([pool.analyze({ model: { onnx }, input: batch }), pool.analyze({ model: { onnx: readFileSync(onnx) }, input })]);
    for (const r of reports) {
      const got = JSON.parse(JSON.stringify(r)) as diag.LayerReport[];
      const want = JSON.parse(expected) as diag.LayerReport[];
      expect(got.map((row) => [row.layer, row.kind, row.units, row.dead])).toEqual(want.map((row) => [row.layer, row.kind, row.units, row.dead]));
      got.forEach((row, i) => expect(row.mean).toBeCloseTo(want[i]!.mean, 5));
    }
    await expect(pool.analyze({ model: { onnx: new Uint8Array([1, 2, 3]) }, input })).rejects.toThrow(/the model file \(given\) cannot be imported: not an ONNX model/);
    await expect(pool.analyze({ model: { onnx: 'model.json' }, input })).rejects.toThrow(TypeError);
  });

  it('queues jobs beyond its workers and runs them all', async () => {
    const pool = open({ workers: 1 });
    const all = Array.from({ length: 5 }, () => pool.analyze(paths()));
    expect(pool.pending).toBe(5);
    const reports = await Promise.all(all);
    expect(new Set(reports.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(pool.pending).toBe(0);
  });

  it("rejects a bad job with liven diagnose's one-line reason and keeps serving", async () => {
    const pool = open({ workers: 1 });
    const bad: [string[], diag.AnalysisJob][] = [
      [['--model', file('missing.json'), '--weights', file('model.safetensors'), '--input', file('batch.safetensors')], { ...paths(), model: { config: file('missing.json'), weights: file('model.safetensors') } }],
      [['--model', file('broken.json'), '--weights', file('model.safetensors'), '--input', file('batch.safetensors')], { ...paths(), model: { config: file('broken.json'), weights: file('model.safetensors') } }],
      [['--model', file('model.json'), '--weights', file('batch.safetensors'), '--input', file('batch.safetensors')], { ...paths(), model: { config: file('model.json'), weights: file('batch.safetensors') } }],
      [['--model', file('model.json'), '--weights', file('model.safetensors'), '--input', file('narrow.safetensors')], { ...paths(), input: file('narrow.safetensors') }],
      [['--model', file('model.json'), '--weights', file('model.safetensors'), '--input', file('model.json')], { ...paths(), input: file('model.json') }],
      // Section 4: a model over the memory budget is refused before anything is allocated.
      [['--model', file('model.json'), '--weights', file('model.safetensors'), '--input', file('batch.safetensors'), '--max-model-bytes', '4096'], { ...paths(), options: { maxModelBytes: 4096 } }],
      [['--model', file('model.json'), '--weights', file('model.safetensors'), '--input', file('batch.safetensors'), '--max-input-bytes', '100'], { ...paths(), options: { maxInputBytes: 100 } }],
    ];
    const results = await Promise.allSettled([...bad.map(([, job]) => pool.analyze(job)), pool.analyze(paths())]);
    bad.forEach(([args], i) => {
      const r = results[i]!;
      const expected = cli(args);
      expect(expected.status).toBe(2);
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason as Error;
      expect(e).toBeInstanceOf(diag.AnalysisJobError);
      expect(e.message).toBe(expected.reason);
    });
    expect(results.at(-1)!.status).toBe('fulfilled');
    // In-memory sources are named "(given)"; an input tensor of the wrong shape names the layer.
    await expect(pool.analyze({ model: { config: model.toConfig(), weights: new Uint8Array(7) }, input: x })).rejects.toThrow(/^the weights file \(given\) is not a valid safetensors file: /);
    await expect(pool.analyze({ model: { config: model.toConfig(), weights: readFileSync(file('model.safetensors')) }, input: x, options: { maxModelBytes: 4096 } })).rejects.toThrow(/^the model in \(given\) needs .* more than --max-model-bytes, 4096 bytes \(4 KiB\)$/);
    await expect(pool.analyze({ ...paths(), input: x, options: { maxInputBytes: 100 } })).rejects.toThrow(/^the input tensor of shape \[9, 2, 8, 8\] has .*more than the limit of 100 bytes \(--max-input-bytes raises it\)$/);
    await expect(pool.analyze({ ...paths(), input: Tensor.zeros([2, 3, 8, 8]) })).rejects.toThrow(/^an input of shape \[2, 3, 8, 8\] does not fit the model: layer 0 \(Conv2d\): /);
  });
});

describe('AnalysisPool', () => {
  it('checks its options and the form of a job before queueing it', async () => {
    expect(() => new diag.AnalysisPool({ workers: 0 })).toThrow(RangeError);
    expect(() => new diag.AnalysisPool({ threadsPerWorker: 1.5 })).toThrow(RangeError);
    expect(() => new diag.AnalysisPool({ priority: 20 })).toThrow(/priority must be a nice value/);
    const pool = open({ workers: 1 });
    await expect(pool.analyze({ model: file('model.json') as never, input: x })).rejects.toThrow(/model must be \{ config, weights \}/);
    await expect(pool.analyze({ model: { config: 3 as never, weights: file('model.safetensors') }, input: x })).rejects.toThrow(TypeError);
    await expect(pool.analyze({ ...paths(), input: [1, 2] as never })).rejects.toThrow(/input must be a Tensor, safetensors bytes or a path/);
    await expect(pool.analyze({ ...paths(), options: { chunk: 0 } })).rejects.toThrow(RangeError);
    await expect(pool.analyze({ ...paths(), options: { maxModelBytes: -1 } })).rejects.toThrow(/options.maxModelBytes must be a positive integer/);
    expect(pool.pending).toBe(0);
  });

  it('replaces a worker that dies, rejects its job (no retry) and serves the queue', async () => {
    const pool = open({ workers: 1 });
    // Catch the worker the first job is posted to, and kill it while the job is running.
    let victim: Worker | null = null;
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>) {
      victim ??= this;
      return post.apply(this, args);
    };
    let first: Promise<unknown>;
    let rest: Promise<diag.LayerReport[]>[];
    try {
      first = pool.analyze(paths());
      rest = [pool.analyze(paths()), pool.analyze(paths())];
    } finally {
      Worker.prototype.postMessage = post;
    }
    expect(victim).not.toBeNull();
    void victim!.terminate();
    await expect(first).rejects.toThrow(/^AnalysisPool: the worker running this job stopped \(exit code \d+\); the job was not retried$/);
    const reports = await Promise.all(rest);
    expect(reports[0]).toEqual(reports[1]);
    expect(reports[0]!.length).toBe(3);
  });

  it('gives up (rejecting every job) when its workers keep dying without answering', async () => {
    const pool = open({ workers: 1 });
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>) {
      post.apply(this, args);
      void this.terminate();
    };
    try {
      const results = await Promise.allSettled(Array.from({ length: 4 }, () => pool.analyze(paths())));
      const reasons = results.map((r) => ((r as PromiseRejectedResult).reason as Error).message);
      expect(reasons.slice(0, 3)).toEqual(Array(3).fill(expect.stringMatching(/the worker running this job stopped/)));
      expect(reasons[3]).toMatch(/^AnalysisPool: 3 workers in a row stopped without answering a job .*; the pool gave up$/);
    } finally {
      Worker.prototype.postMessage = post;
    }
    await expect(pool.analyze(paths())).rejects.toThrow(/the pool gave up/);
  });

  it('close() lets running jobs finish, rejects queued ones and later calls', async () => {
    const pool = new diag.AnalysisPool({ workers: 1 });
    const running = pool.analyze(paths());
    const queued = pool.analyze(paths());
    const closed = pool.close();
    await expect(queued).rejects.toThrow(/closed before this job started/);
    await expect(running).resolves.toHaveLength(3);
    await closed;
    await expect(pool.analyze(paths())).rejects.toThrow(/the pool is closed/);
  });
});

describe('monitors are never silently blind', () => {
  it('ModelWorker refuses a model with a monitor attached, and runs it once detached', async () => {
    const m = buildModel();
    const monitor = new diag.ActivationMonitor(m);
    const w = new nn.ModelWorker(m);
    try {
      await expect(w.forward(x)).rejects.toThrow(/forward hooks are attached to "1" \(ReLU\), "5" \(LeakyReLU\), "7" \(ReLU\); they would not see passes on the worker thread/);
      monitor.detach();
      expect((await w.forward(x)).shape).toEqual([9, 3]);
    } finally {
      await w.terminate();
    }
  });
});

/** Runs `code` (an async function body given the package as `liven`) in a worker thread; resolves to what it returns. */
function inWorker(code: string): Promise<unknown> {
  const script = `const { parentPort } = require('node:worker_threads');
import(${JSON.stringify(dist)}).then(async (liven) => { parentPort.postMessage(await (async () => { ${code} })()); });`;
  return new Promise((resolve, reject) => {
    const w = new Worker(script, { eval: true });
    w.once('message', (v) => {
      resolve(v);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

describe.runIf(native)('per-thread kernel budgets (native)', () => {
  // Big enough for every kernel to split its work over threads.
  const work = `
    liven.manualSeed(3);
    const conv = new liven.nn.Conv2d(8, 32, 3, { padding: 1 });
    const fc = new liven.nn.Linear(32 * 32 * 32, 64);
    const x = liven.Tensor.zeros([16, 8, 32, 32]);
    for (let i = 0; i < x.size; i++) x.data[i] = Math.sin(i * 0.37);
    const y = fc.forward(new liven.nn.Flatten().forward(conv.forward(x)));
    return Array.from(new Uint32Array(y.data.buffer, y.data.byteOffset, y.size));`;

  it('a budget is the calling thread\'s own and is checked', () => {
    const global = getNumThreads();
    expect(getThreadBudget()).toBeNull();
    setThreadBudget(1);
    try {
      expect([getThreadBudget(), getNumThreads()]).toEqual([1, 1]);
    } finally {
      setThreadBudget(null);
    }
    expect([getThreadBudget(), getNumThreads()]).toEqual([null, global]);
    expect(() => setThreadBudget(0)).toThrow(RangeError);
    expect(() => setThreadBudget(2.5)).toThrow(RangeError);
    expect(() => setThreadBudget('2' as never)).toThrow(TypeError);
    expect(() => setThreadBudget(1025)).toThrow(RangeError);
  });

  it('a worker at budget 1 computes bit for bit what setNumThreads(1) does; budget 2 uses two threads', async () => {
    const global = getNumThreads();
    const budget1 = (await inWorker(`liven.setThreadBudget(1); return { threads: liven.getNumThreads(), bits: (() => { ${work} })() };`)) as { threads: number; bits: number[] };
    const budget2 = (await inWorker(`liven.setThreadBudget(2); return { threads: liven.getNumThreads(), bits: (() => { ${work} })() };`)) as { threads: number; bits: number[] };
    expect(getNumThreads()).toBe(global); // the workers' budgets left this thread alone
    setNumThreads(1);
    let serial: number[];
    try {
      serial = (await inWorker(work)) as number[];
    } finally {
      setNumThreads(global);
    }
    expect(budget1.threads).toBe(1);
    expect(budget2.threads).toBe(2);
    expect(serial.length).toBe(16 * 64);
    expect(budget1.bits).toEqual(serial);
    // Another split may round differently; it must still be the same function.
    const f = (b: number[]) => new Float32Array(new Uint32Array(b).buffer);
    const [a, s] = [f(budget2.bits), f(serial)];
    for (let i = 0; i < s.length; i++) expect(Math.abs(a[i]! - s[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(s[i]!)));
  });

  it('pool results with threadsPerWorker 1 equal the serial in-process run bit for bit', async () => {
    const global = getNumThreads();
    const pool = open({ workers: 2, threadsPerWorker: 1 });
    const fromPool = await pool.analyze({ model: { config: model.toConfig(), weights: io.serializeSafetensors(model.stateDict()) }, input: x });
    setNumThreads(1);
    try {
      expect(`${JSON.stringify(fromPool, null, 2)}\n`).toBe(inProcess(x).stdout);
    } finally {
      setNumThreads(global);
    }
  });
});
