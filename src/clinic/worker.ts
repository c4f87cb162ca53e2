// A clinic worker thread: runs the runs it is sent, one at a time. A run is named by
// (experiment id, run index, seed) and its spec rebuilt here, since closures cannot be sent.
import { parentPort, workerData } from 'node:worker_threads';
import { setNumThreads } from '../backend/index.js';
import { experiments } from './experiments.js';
import { clinicData, run } from './train.js';

/** The setting every worker starts with (its workerData). */
export interface WorkerSetup {
  splitSeed: number;
  quick: boolean;
  threads: number;
}
/** One run to do: `task` numbers it for the reply. */
export interface Task {
  task: number;
  id: string;
  index: number;
  seed: number;
}
/** A worker's messages: progress through a run, its result, or why it failed. */
export type WorkerReply = { task: number; done: number } | { task: number; result: ReturnType<typeof run> } | { task: number; error: string };

const setup = workerData as WorkerSetup;
// One thread per worker: with as many workers as cores, each run has a core to itself.
setNumThreads(setup.threads);
const data = clinicData(setup.splitSeed, setup.quick);

parentPort!.on('message', (t: Task) => {
  const post = (m: WorkerReply) => parentPort!.postMessage(m);
  try {
    const experiment = experiments.find((e) => e.id === t.id);
    const spec = experiment?.specs(setup.quick)[t.index];
    if (!spec) throw new Error(`no run ${t.index} in experiment ${t.id}`);
    let last = 0;
    const result = run(spec, data, {
      seed: t.seed,
      onStep: (step) => {
        // A few progress messages per run, not one per step.
        if (step - last >= spec.steps / 10) post({ task: t.task, done: (last = step) / spec.steps });
      },
    });
    post({ task: t.task, result });
  } catch (e) {
    post({ task: t.task, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
});
