// examples/analysis-server.js as a client sees it: the example in a child process on 127.0.0.1,
// 20 concurrent analyses, and the server's own event-loop lag while it serves them. The server
// runs the compiled dist/ (`npm run build:ts`).
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, diag, getNumThreads, io, manualSeed, nn, setNumThreads } from '../src/index.js';
import { randomTensor } from './helpers/numeric.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * A CNN and a batch that keep a worker busy for tens of milliseconds per job with a small request
 * (1 MB): the server thread's own work is moving the request's bytes.
 */
function buildModel(): nn.Sequential {
  manualSeed(21);
  const conv = new nn.Conv2d(3, 32, 3, { padding: 1 });
  conv.bias!.data.data[5] = -100; // a dead channel for the report to find
  return new nn.Sequential(conv, new nn.ReLU(), new nn.MaxPool2d(2), new nn.Conv2d(32, 64, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(64 * 8 * 8, 32), new nn.ReLU(), new nn.Linear(32, 10));
}

type Lag = { samples: number; p50: number; p95: number; max: number };
let server: ChildProcess;
let base = '';
let model: nn.Sequential;
let x: Tensor;
let body: Buffer;
let sizes: Record<string, string>;
/** The request body of `liven diagnose`'s three files, and the headers that give the first two's sizes. */
function request(config: object, weights: Uint8Array, input: Uint8Array): { body: Buffer; sizes: Record<string, string> } {
  const c = Buffer.from(JSON.stringify(config));
  return { body: Buffer.concat([c, weights, input]), sizes: { 'x-config-bytes': String(c.length), 'x-weights-bytes': String(weights.length) } };
}

beforeAll(async () => {
  model = buildModel();
  x = randomTensor([32, 3, 32, 32], 22);
  ({ body, sizes } = request(model.toConfig(), io.serializeSafetensors(model.stateDict()), io.serializeSafetensors({ input: x })));
  server = spawn(process.execPath, [join(root, 'examples', 'analysis-server.js'), '--port', '0', '--workers', '2', '--threads-per-worker', '1'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  base = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.once('exit', (code) => reject(new Error(`the server exited with ${code} before listening`)));
  });
}, 30_000);
afterAll(() => {
  if (server.exitCode === null) server.kill('SIGKILL');
});

const post = (data = body, headers = sizes, query = '') => fetch(`${base}/analyze${query}`, { method: 'POST', body: data, headers, signal: AbortSignal.timeout(60_000) });
const stats = async (reset = false) => (await (await fetch(`${base}/stats${reset ? '?reset=1' : ''}`)).json()) as { pending: number; lagMs: Lag };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('examples/analysis-server.js', () => {
  it('answers with the report of liven diagnose --json (bit for bit: one kernel thread per worker)', async () => {
    const r = await post();
    expect(r.status).toBe(200);
    const threads = getNumThreads();
    setNumThreads(1);
    try {
      model.eval();
      const monitor = new diag.ActivationMonitor(model);
      model.forward(x);
      monitor.detach();
      expect(await r.text()).toBe(JSON.stringify(monitor.report()));
    } finally {
      setNumThreads(threads);
    }
  });

  it('keeps its event loop responsive while 20 concurrent analyses run', async () => {
    await stats(true);
    await sleep(1000);
    const idle = (await stats(true)).lagMs;
    const started = performance.now();
    const requests: Promise<Response>[] = [];
    for (let i = 0; i < 20; i++) requests.push(post());
    const responses = await Promise.all(requests);
    const elapsed = performance.now() - started;
    const loaded = (await stats()).lagMs;
    const texts = await Promise.all(responses.map((r) => r.text()));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(texts).size).toBe(1);
    const f = (l: Lag) => `p50 ${l.p50.toFixed(2)} ms, p95 ${l.p95.toFixed(2)} ms, max ${l.max.toFixed(2)} ms over ${l.samples} ticks`;
    console.log(`analysis server, 5 ms timer lag: idle ${f(idle)}; serving 20 jobs on 2 workers (${elapsed.toFixed(0)} ms) ${f(loaded)}`);
    // The jobs took long enough for the timer to see them (a server analysing on its own thread
    // would lag by whole jobs, hundreds of ms).
    expect(loaded.samples).toBeGreaterThan(20);
    // A server analysing on its own thread would lag by whole jobs (tens of ms of compute each,
    // 20 of them). On an oversubscribed machine (more runnable threads than cores, as when many
    // builds share it) merely serving the requests' bytes lags by tens of ms, whatever the server
    // does, so there the bound is looser — still below what one blocking job costs — and says so.
    const load = loadavg()[0]!;
    const quiet = load <= availableParallelism() && idle.p95 <= 10 && idle.max <= 50;
    if (!quiet) console.warn(`analysis server lag: the machine is oversubscribed (load average ${load.toFixed(1)} on ${availableParallelism()} cores, idle lag ${f(idle)}); checking p95 <= 100 ms and max <= 400 ms instead of 20 and 100`);
    expect(loaded.p95).toBeLessThanOrEqual(quiet ? 20 : 100);
    expect(loaded.max).toBeLessThanOrEqual(quiet ? 100 : 400);
  }, 120_000);

  it("answers a bad job with liven diagnose's reason (422) and a malformed body with 400", async () => {
    const wrong = request(model.toConfig(), io.serializeSafetensors(model.stateDict()), io.serializeSafetensors({ input: Tensor.zeros([2, 4, 32, 32]) }));
    const r = await post(wrong.body, wrong.sizes);
    expect(r.status).toBe(422);
    expect(((await r.json()) as { error: string }).error).toMatch(/^an input of shape \[2, 4, 32, 32\] does not fit the model: layer 0 \(Conv2d\): /);
    const garbage = request(model.toConfig(), new Uint8Array([1, 2, 3]), new Uint8Array(0));
    expect(((await (await post(garbage.body, garbage.sizes)).json()) as { error: string }).error).toMatch(/^the weights file \(given\) is not a valid safetensors file: /);
    const bad400 = async (data: Buffer, headers: Record<string, string>, query = '') => {
      const res = await post(data, headers, query);
      expect(res.status).toBe(400);
      return ((await res.json()) as { error: string }).error;
    };
    expect(await bad400(body, {})).toMatch(/x-config-bytes header must give a size/);
    expect(await bad400(body, { ...sizes, 'x-weights-bytes': String(body.length) })).toMatch(/exceed the body's/);
    expect(await bad400(Buffer.from('{"type": '), { 'x-config-bytes': '9', 'x-weights-bytes': '0' })).toMatch(/not valid JSON/);
    expect(await bad400(body, sizes, '?chunk=0')).toMatch(/chunk must be a positive integer/);
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
    expect((await fetch(`${base}/analyze`)).status).toBe(405);
    expect((await post(body, sizes, '?chunk=50')).status).toBe(200); // still serving
  });

  it('exits 0 on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
