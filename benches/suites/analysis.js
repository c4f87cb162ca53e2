// Analysis jobs on worker threads (issue 14, section 3): the same CNN forward (what a diagnose
// job computes) as a stream of jobs over 2 workers, with the workers' kernels on the shared
// process-wide pool (each splitting getNumThreads() ways: the cores oversubscribed) against a
// thread budget of 1 each (setThreadBudget), and 1 worker with a budget of every core.
// Figures: milliseconds per job as a worker sees it, and jobs per second overall.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { formatTime, table } from '../harness.js';

const dist = new URL('../../dist/index.js', import.meta.url).href;

/** A worker that runs `jobs` forwards of the CNN on a batch of 64 and reports each one's time. */
const script = `
const { parentPort, workerData } = require('node:worker_threads');
import(${JSON.stringify(dist)}).then((liven) => {
  if (workerData.budget !== null) liven.setThreadBudget(workerData.budget);
  const { nn, Tensor, manualSeed } = liven;
  manualSeed(1);
  const model = new nn.Sequential(new nn.Conv2d(3, 32, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Conv2d(32, 64, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(64 * 8 * 8, 128), new nn.ReLU(), new nn.Linear(128, 10));
  model.eval();
  const x = Tensor.zeros([64, 3, 32, 32]);
  for (let i = 0; i < x.size; i++) x.data[i] = Math.sin(i);
  model.forward(x); // warm-up
  parentPort.postMessage('ready');
  parentPort.once('message', () => {
    const times = [];
    for (let j = 0; j < workerData.jobs; j++) {
      const t = performance.now();
      model.forward(x);
      times.push(performance.now() - t);
    }
    parentPort.postMessage(times);
  });
});`;

async function jobStream(workers, budget, jobs) {
  const ws = Array.from({ length: workers }, () => new Worker(script, { eval: true, workerData: { budget, jobs } }));
  await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
  const start = performance.now();
  const times = (await Promise.all(ws.map((w) => new Promise((r) => { w.once('message', r); w.postMessage('go'); })))).flat();
  const wall = performance.now() - start;
  await Promise.all(ws.map((w) => w.terminate()));
  times.sort((a, b) => a - b);
  return { perJob: times[times.length >> 1] / 1e3, perSecond: (workers * jobs) / (wall / 1e3) };
}

export async function run({ quick = false } = {}) {
  const jobs = quick ? 3 : 12;
  const cores = availableParallelism();
  const cases = [
    ['2 workers, shared pool', 2, null],
    ['2 workers, budget 1 each', 2, 1],
    [`1 worker, budget ${cores}`, 1, cores],
    ['1 worker, budget 1', 1, 1],
    [`1 worker, shared pool (${cores} threads)`, 1, null],
  ];
  const rows = [];
  for (const [name, workers, budget] of cases) {
    const r = await jobStream(workers, budget, jobs);
    rows.push([name, formatTime(r.perJob), r.perSecond.toFixed(2)]);
  }
  console.log(table(['case', 'median per job', 'jobs / s'], rows));
  return {};
}
