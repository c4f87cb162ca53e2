// The clinic over a Redis queue (`liven clinic --redis URL`): each (experiment, run, seed) is a
// job; `liven worker`s run them on clinic worker threads, as the local run does, so the same
// seeds give the same numbers.
import { Worker } from 'node:worker_threads';
import { describeValue } from '../check.js';
import { AnalysisJobError } from '../diag/analysis-pool.js';
import { JobQueue } from '../queue/client.js';
import { CLINIC_JOB } from '../queue/job.js';
import type { RunResult } from './train.js';
import type { Task, WorkerReply, WorkerSetup } from './worker.js';

/** A clinic job's data: the run and the setting its worker thread starts with. */
export interface ClinicJobData {
  setup: WorkerSetup;
  task: Omit<Task, 'task'>;
}

/** Runs clinic jobs on clinic worker threads, keeping idle threads for the next job of the same setting. @internal */
export class ClinicRunner {
  readonly #idle = new Map<string, Worker[]>();
  readonly #busy = new Set<Worker>();

  /**
   * Runs one clinic run on a thread of its setting; rejects with an AnalysisJobError when the run
   * throws or the job is not a clinic run, with an Error when its thread dies.
   */
  async run(data: ClinicJobData): Promise<RunResult> {
    const { setup, task } = (data ?? {}) as Partial<ClinicJobData>;
    if (setup === null || typeof setup !== 'object' || task === null || typeof task !== 'object') throw new AnalysisJobError(`the job's data is not a clinic run: ${describeValue(data)}`);
    const key = JSON.stringify([setup.splitSeed, setup.quick, setup.threads]);
    const w = this.#idle.get(key)?.pop() ?? new Worker(new URL('./worker.js', import.meta.url), { workerData: { splitSeed: setup.splitSeed, quick: setup.quick, threads: setup.threads } });
    this.#busy.add(w);
    return new Promise<RunResult>((resolve, reject) => {
      const done = (error: Error | null, result?: RunResult) => {
        w.off('message', onMessage).off('error', onError).off('exit', onExit);
        this.#busy.delete(w);
        if (error === null) {
          this.#idle.set(key, [...(this.#idle.get(key) ?? []), w]);
          resolve(result!);
        } else {
          void w.terminate();
          reject(error);
        }
      };
      const onMessage = (m: WorkerReply) => {
        if ('result' in m) done(null, m.result);
        // The run itself threw: running it again would throw again.
        else if ('error' in m) done(new AnalysisJobError(`${task.id} run ${task.index}, seed ${task.seed}: ${m.error}`));
      };
      const onError = (e: Error) => done(e);
      const onExit = (code: number) => done(new Error(`the clinic thread stopped (exit code ${code})`));
      w.on('message', onMessage).on('error', onError).on('exit', onExit);
      w.postMessage({ task: 0, ...task } satisfies Task);
    });
  }

  /** Ends every thread, running or idle. */
  async close(): Promise<void> {
    const all = [...this.#busy, ...[...this.#idle.values()].flat()];
    this.#idle.clear();
    await Promise.all(all.map((w) => w.terminate()));
  }
}

/**
 * Runs the clinic's tasks as jobs on the queue `queue` of the Redis server `redis`, all queued at
 * once; resolves with the results in the tasks' order.
 */
export async function runOnQueue(tasks: Omit<Task, 'task'>[], setup: WorkerSetup, redis: string, queue: string, progress: (done: number, label: string) => void): Promise<RunResult[]> {
  const jobs = new JobQueue(redis, queue, 'liven clinic');
  try {
    const ids = await Promise.all(tasks.map((task) => jobs.add(CLINIC_JOB, { setup, task } satisfies ClinicJobData, 2)));
    if ((await jobs.workers()) === 0) progress(0, `no liven worker serves queue ${JSON.stringify(queue)} yet: the runs wait for one`);
    let finished = 0;
    return await Promise.all(
      ids.map(async (id, k) => {
        const result = await jobs.wait<RunResult>(id);
        progress(++finished / tasks.length, `${tasks[k]!.id} run ${tasks[k]!.index}, seed ${tasks[k]!.seed}`);
        return result;
      }),
    );
  } finally {
    await jobs.close();
  }
}
