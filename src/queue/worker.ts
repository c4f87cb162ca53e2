// The working side of the queue: diag.startAnalysisWorker, what `liven worker` runs.
import type * as BullMQ from 'bullmq';
import { checkOptions, checkPositiveInt } from '../check.js';
import { ClinicRunner, type ClinicJobData } from '../clinic/queue.js';
import { AnalysisJobError, AnalysisPool } from '../diag/analysis-pool.js';
import { loadBullmq, redisConnection } from './bullmq.js';
import { BAD_JOB_MARK, DEFAULT_QUEUE } from './client.js';
import { ANALYSIS_JOB, CLINIC_JOB, decodeAnalysisJob, encodeResult, nameSources } from './job.js';

/** `diag.startAnalysisWorker(options)`: the queue to serve, and how. */
export interface AnalysisWorkerOptions {
  /** The Redis server, as `redis://host:port`. */
  redis: string;
  /** The queue to serve (default `liven`). */
  queue?: string;
  /** Jobs run at once, each on its own thread of the worker's AnalysisPool (default 1). */
  concurrency?: number;
  /** Native kernel threads per job (the pool's `threadsPerWorker`; default 1). */
  threadsPerJob?: number;
  /**
   * Caps on the jobs' limits in bytes (`liven diagnose --max-model-bytes` and so on): a job asking
   * for more, or for nothing, gets the cap. Default: `liven diagnose`'s defaults.
   */
  maxModelBytes?: number;
  maxInputBytes?: number;
  maxConfigBytes?: number;
  /**
   * Milliseconds a worker holds a job without renewing its lock (default 30000): a job whose worker
   * died is run again by another worker after this long, at the next stalled-job check (every
   * `stalledInterval` ms, default 30000), at most `maxStalledCount` times (default 1) before it fails.
   */
  lockDuration?: number;
  stalledInterval?: number;
  maxStalledCount?: number;
  /** Where to log one line per job and per connection problem (default: nowhere). */
  log?: (line: string) => void;
}

/** A running worker (`diag.startAnalysisWorker`). */
export interface AnalysisWorker {
  readonly queue: string;
  /** Stops taking jobs, finishes the running ones, then ends the threads and connections. */
  close(): Promise<void>;
  /**
   * Settles once the worker has stopped: with null after `close()`, or with the reason when it
   * stopped by itself because its `AnalysisPool` gave up (its threads kept dying without answering;
   * the job that found out goes back to the queue for another worker).
   */
  readonly stopped: Promise<Error | null>;
}

/** A failure of the job itself: not retried, and marked for the submitter (`AnalysisJobError`). */
function badJob(Unrecoverable: typeof BullMQ.UnrecoverableError, message: string): Error {
  const e = new Unrecoverable(message);
  e.stack = `${BAD_JOB_MARK}: ${message}`;
  return e;
}

/**
 * Starts a worker serving a queue of `diag.AnalysisQueue` jobs (and the clinic's runs, from
 * `liven clinic --redis`) on its own `AnalysisPool` of `concurrency` threads; resolves once it is
 * connected. Any number of workers on any number of machines may serve one queue.
 *
 * A bad job (a file that cannot be read or parsed, weights that do not match, an input the model
 * cannot take, a model over the memory limit) fails at once with the line `liven diagnose` gives,
 * and the worker takes the next. A job whose thread died is failed for another attempt.
 */
export async function startAnalysisWorker(options: AnalysisWorkerOptions): Promise<AnalysisWorker> {
  const o = checkOptions(options, 'startAnalysisWorker') as AnalysisWorkerOptions;
  if (typeof o.redis !== 'string') throw new TypeError(`startAnalysisWorker: redis must be a URL such as redis://127.0.0.1:6379, got ${typeof o.redis}`);
  const connection = redisConnection(o.redis, 'startAnalysisWorker');
  const queue = o.queue ?? DEFAULT_QUEUE;
  const positive = (key: keyof AnalysisWorkerOptions, fallback: number) => (o[key] === undefined ? fallback : checkPositiveInt(o[key], `startAnalysisWorker: ${key}`));
  const concurrency = positive('concurrency', 1);
  const caps = { maxModelBytes: positive('maxModelBytes', 0), maxInputBytes: positive('maxInputBytes', 0), maxConfigBytes: positive('maxConfigBytes', 0) };
  const lockDuration = positive('lockDuration', 30_000);
  const stalledInterval = positive('stalledInterval', 30_000);
  const maxStalledCount = positive('maxStalledCount', 1);
  const log = o.log ?? (() => {});
  const { Worker, UnrecoverableError } = await loadBullmq();
  const pool = new AnalysisPool({ workers: concurrency, threadsPerWorker: positive('threadsPerJob', 1) });
  const clinic = new ClinicRunner();

  const analyze = async (data: unknown): Promise<string> => {
    let decoded;
    try {
      decoded = decodeAnalysisJob(data);
    } catch (e) {
      throw badJob(UnrecoverableError, (e as Error).message);
    }
    const { job, names } = decoded;
    const limits = { ...job.options };
    for (const [key, cap] of Object.entries(caps) as [keyof typeof caps, number][]) {
      if (cap > 0) limits[key] = Math.min(limits[key] ?? cap, cap);
    }
    try {
      return encodeResult(await pool.analyze({ ...job, options: limits }));
    } catch (e) {
      // The job's own fault (AnalysisJobError), or options of the wrong kind or value.
      if (e instanceof AnalysisJobError || e instanceof TypeError || e instanceof RangeError) throw badJob(UnrecoverableError, nameSources(e.message, names));
      // A pool that gave up would fail every job it took: stop taking them (this one is retried
      // elsewhere, as for a worker that died).
      if (pool.broken !== null) stop(pool.broken);
      throw e;
    }
  };

  const worker = new Worker(
    queue,
    async (job) => {
      if (job.name === ANALYSIS_JOB) return analyze(job.data);
      if (job.name === CLINIC_JOB) {
        try {
          return encodeResult(await clinic.run(job.data as ClinicJobData));
        } catch (e) {
          throw e instanceof AnalysisJobError ? badJob(UnrecoverableError, e.message) : e;
        }
      }
      throw badJob(UnrecoverableError, `a liven worker runs ${ANALYSIS_JOB} and ${CLINIC_JOB} jobs, not ${JSON.stringify(job.name)}`);
    },
    // runRetryDelay: after losing Redis, try again every 2 s (BullMQ's default waits 15 s).
    { connection: { ...connection, maxRetriesPerRequest: null }, concurrency, lockDuration, stalledInterval, maxStalledCount, runRetryDelay: 2000 },
  );
  let lastError = '';
  worker.on('error', (e) => {
    if (e.message !== lastError) log(`${(lastError = e.message)}`);
  });
  worker.on('active', (job) => {
    lastError = '';
    log(`job ${job.id} (${job.name}) started`);
  });
  worker.on('completed', (job) => log(`job ${job.id} done`));
  worker.on('failed', (job, e) => log(`job ${job?.id} failed: ${e.message}`));
  let closing: Promise<void> | null = null;
  let settle!: (reason: Error | null) => void;
  const stopped = new Promise<Error | null>((resolve) => (settle = resolve));
  const stop = (reason: Error | null): Promise<void> => {
    if (closing === null) {
      if (reason !== null) log(`${reason.message}: this worker takes no more jobs and stops`);
      closing = (async () => {
        await worker.close();
        await Promise.all([pool.close(), clinic.close()]);
      })();
      closing.then(
        () => settle(reason),
        (e: unknown) => settle(reason ?? (e as Error)),
      );
    }
    return closing;
  };
  try {
    await worker.waitUntilReady();
  } catch (e) {
    await Promise.all([worker.close(true), pool.close(), clinic.close()]);
    throw e;
  }

  return { queue, close: () => stop(null), stopped };
}
