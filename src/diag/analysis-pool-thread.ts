// The worker thread of diag.AnalysisPool: runs one analysis job at a time, as `liven diagnose` would.
import { parentPort, workerData } from 'node:worker_threads';
import { setBackend, setThreadBudget, type BackendName } from '../backend/index.js';
import { DiagnoseError, diagnose } from '../diagnose.js';
import { Tensor } from '../tensor.js';
import { lowerPriority } from '../thread-priority.js';
import type { WireJob } from './analysis-pool.js';

const { backend, threads, priority } = workerData as { backend: BackendName; threads: number; priority: number };
setBackend(backend);
setThreadBudget(threads);
lowerPriority(priority);

parentPort!.on('message', (job: WireJob) => {
  try {
    const input = typeof job.input === 'object' && 'shape' in job.input ? new Tensor(job.input.data, job.input.shape) : job.input;
    const { report } = diagnose({ model: job.model, weights: job.weights, input, chunk: job.chunk, ...job.limits });
    parentPort!.postMessage({ report });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    parentPort!.postMessage({ error: { bad: e instanceof DiagnoseError, name: err.name, message: err.message } });
  }
});
