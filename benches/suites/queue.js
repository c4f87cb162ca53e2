// Analysis over the queue (issue 18): the same small diagnose jobs through 2 `liven worker`
// processes over a private redis-server (on 127.0.0.1, started here) against one in-process
// diag.AnalysisPool of 2 threads. Figures: jobs per second for the whole batch (all submitted at
// once), and the median time from submitting a job to holding its report.
// Needs redis-server (Debian's package) and the bullmq package (a devDependency).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, diag, io, manualSeed, nn } from '../../dist/index.js';
import { filled, table } from '../harness.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** Spawns `cmd args` and resolves once its stderr (or stdout) shows `ready`. */
function started(cmd, args, ready) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const look = (d) => {
      out += d.toString();
      if (ready.test(out)) resolve(child);
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}):\n${out}`)));
  });
}

/** The jobs: a small MLP on 8 samples, and a small CNN on 16 images of 3×32×32. */
function makeJobs(count) {
  manualSeed(3);
  const models = {
    'MLP 64-256-256-10, 8 samples': [new nn.Sequential(new nn.Linear(64, 256), new nn.ReLU(), new nn.Linear(256, 256), new nn.ReLU(), new nn.Linear(256, 10)), [8, 64]],
    'CNN 2 conv + 2 linear, 16×3×32×32': [new nn.Sequential(new nn.Conv2d(3, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Conv2d(16, 32, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(32 * 8 * 8, 64), new nn.ReLU(), new nn.Linear(64, 10)), [16, 3, 32, 32]],
  };
  return Object.entries(models).map(([name, [model, shape]]) => {
    const config = model.toConfig();
    const weights = io.serializeSafetensors(model.stateDict());
    const size = shape.reduce((a, b) => a * b, 1);
    return [name, Array.from({ length: count }, (_, k) => ({ model: { config, weights }, input: Tensor.from(filled(size, 100 + k, { scale: 2 }), shape) }))];
  });
}

/** Runs every job at once through `analyze`; jobs per second and the median latency in seconds. */
async function throughput(jobs, analyze) {
  const latencies = [];
  const start = performance.now();
  await Promise.all(
    jobs.map(async (job) => {
      const t = performance.now();
      await analyze(job);
      latencies.push(performance.now() - t);
    }),
  );
  const wall = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return { perSecond: jobs.length / (wall / 1e3), median: latencies[latencies.length >> 1] / 1e3 };
}

export async function run({ quick = false } = {}) {
  const redisBin = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (redisBin === '') {
    console.log('skipped: redis-server is not installed (apt-get install redis-server)');
    return {};
  }
  const count = quick ? 20 : 200;
  const dir = mkdtempSync(join(tmpdir(), 'liven-bench-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const children = [];
  try {
    children.push(await started(redisBin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], /Ready to accept connections/));
    for (let i = 0; i < 2; i++) children.push(await started(process.execPath, [cli, 'worker', '--redis', url, '--queue', 'bench'], /serving queue/));
    const queue = new diag.AnalysisQueue({ redis: url, queue: 'bench' });
    const pool = new diag.AnalysisPool({ workers: 2, threadsPerWorker: 1 });
    const rows = [];
    for (const [name, jobs] of makeJobs(count)) {
      // Warm-up: the workers' first jobs load the code and the kernels.
      await Promise.all(jobs.slice(0, 4).map((j) => queue.analyze(j)));
      await Promise.all(jobs.slice(0, 4).map((j) => pool.analyze(j)));
      const q = await throughput(jobs, (j) => queue.analyze(j));
      const p = await throughput(jobs, (j) => pool.analyze(j));
      rows.push([`${name}: 2 workers over Redis`, String(count), q.perSecond.toFixed(1), `${(q.median * 1e3).toFixed(0)} ms`]);
      rows.push([`${name}: AnalysisPool, 2 threads`, String(count), p.perSecond.toFixed(1), `${(p.median * 1e3).toFixed(0)} ms`]);
    }
    await Promise.all([queue.close(), pool.close()]);
    console.log(table(['jobs (all submitted at once)', 'jobs', 'jobs / s', 'median submit → report'], rows));
  } finally {
    for (const c of children.reverse()) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  return {};
}
