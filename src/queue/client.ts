// The submitting side of the queue: diag.AnalysisQueue, and the job queue the clinic shares with it.
import type * as BullMQ from 'bullmq';
import { checkOptions, checkPositiveInt } from '../check.js';
import { AnalysisJobError, type AnalysisJob } from '../diag/analysis-pool.js';
import type { LayerReport } from '../diag/monitor.js';
import { loadBullmq, redisConnection } from './bullmq.js';
import { ANALYSIS_JOB, DEFAULT_MAX_JOB_BYTES, decodeResult, encodeAnalysisJob, type SourceNames } from './job.js';

/** The queue's name when none is given (`--queue`). */
export const DEFAULT_QUEUE = 'liven';

/** How often a waiting result looks at its job in Redis, in case its event was missed (ms). */
const RECHECK_MS = 5000;

/** A failed job's last stack starts with this when the job itself was bad (not retried). */
export const BAD_JOB_MARK = 'AnalysisJobError';

/**
 * One BullMQ queue and its event stream: jobs in, results out. A result arrives once per job,
 * whatever happened to the workers on the way (BullMQ's locks and stalled-job checks).
 * @internal
 */
export class JobQueue {
  readonly #ready: Promise<{ queue: BullMQ.Queue; events: BullMQ.QueueEvents; Job: typeof BullMQ.Job }>;

  constructor(redis: string, name: string, what: string, connectTimeoutMs = 10_000) {
    const connection = redisConnection(redis, what);
    this.#ready = loadBullmq().then(async ({ Queue, QueueEvents, Job }) => {
      const queue = new Queue(name, { connection });
      // Every waiting result listens for the queue closing: any number may wait at once.
      queue.setMaxListeners(0);
      queue.on('error', () => {});
      // ioredis tries to connect for ever, and BullMQ waits for it before any command.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`cannot reach Redis at ${redis} (no connection within ${connectTimeoutMs / 1000} s)`)), connectTimeoutMs);
      });
      try {
        await Promise.race([queue.waitUntilReady(), timeout]);
      } catch (e) {
        await queue.close().catch(() => {});
        throw e;
      } finally {
        clearTimeout(timer);
      }
      // The events from now on: QueueEvents alone reads from its first read ('$'), and a job
      // that finished between its connection and that read would never be heard of.
      const client = await queue.client;
      client.defineCommand('livenLastEventId', { numberOfKeys: 1, readOnly: true, lua: "local e = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1) if e[1] then return e[1][1] end return '0-0'" });
      const lastEventId = (await client.runCommand('livenLastEventId', [queue.keys.events])) as string;
      const events = new QueueEvents(name, { connection, lastEventId });
      // ioredis reconnects by itself; without a listener an 'error' event would throw.
      events.on('error', () => {});
      return { queue, events, Job };
    });
    // Failures surface in add() and wait(); an unused queue does not crash the process.
    this.#ready.catch(() => {});
  }

  /** Adds a job; resolves to its id. `attempts`: runs in all, when its worker dies or errs (a bad job runs once). */
  async add(name: string, data: object, attempts: number): Promise<string> {
    const { queue } = await this.#ready;
    const job = await queue.add(name, data, { attempts, removeOnComplete: { age: 3600 }, removeOnFail: { age: 24 * 3600 } });
    return job.id!;
  }

  /**
   * The result of job `id` once it is done; rejects with AnalysisJobError for a bad job, an Error
   * otherwise. Listens for the job's event, and looks at the job itself every few seconds too (an
   * event can be missed while the connection to Redis is down).
   */
  async wait<T>(id: string, timeoutMs = Infinity): Promise<T> {
    const { queue, events, Job } = await this.#ready;
    const end = Date.now() + timeoutMs;
    for (;;) {
      const job = await Job.fromId(queue, id);
      if (job === undefined) throw new Error(`no job ${JSON.stringify(id)} in queue ${JSON.stringify(queue.name)} (finished jobs are kept for an hour, failed ones for a day)`);
      const slice = Math.min(RECHECK_MS, end - Date.now());
      if (slice <= 0) throw new Error(`job ${id} did not finish within ${timeoutMs} ms`);
      try {
        return decodeResult<T>((await job.waitUntilFinished(events, slice)) as string);
      } catch (e) {
        const done = await Job.fromId(queue, id);
        // Not finished: the slice ran out (or the queue is closing); look again.
        if (done !== undefined && done.finishedOn === undefined && !queue.closing) continue;
        if (done?.failedReason === undefined) throw e;
        if (done.stacktrace?.at(-1)?.startsWith(BAD_JOB_MARK)) throw new AnalysisJobError(done.failedReason);
        throw new Error(`job ${id} failed after ${done.attemptsMade} attempt(s): ${done.failedReason}`);
      }
    }
  }

  /** How many workers serve the queue now (null when Redis does not say: CLIENT LIST disabled). */
  async workers(): Promise<number | null> {
    const { queue } = await this.#ready;
    return queue.getWorkersCount().catch(() => null);
  }

  /** Closes the connections (jobs stay in Redis). */
  async close(): Promise<void> {
    const r = await this.#ready.catch(() => null);
    if (r) await Promise.all([r.events.close(), r.queue.close()]);
  }
}

/** `new diag.AnalysisQueue(options)`: where the queue is, and how jobs are sent. */
export interface AnalysisQueueOptions {
  /** The Redis server, as `redis://host:port` (with `user:password@` and `/db` if needed; `rediss://` for TLS). */
  redis: string;
  /** The queue's name (default `liven`): workers serving the same name share the jobs. */
  queue?: string;
  /** The most bytes a job may carry in Redis: model, weights and input together (default 64 MiB); paths are not counted. */
  maxJobBytes?: number;
  /** Runs per job when its worker dies or fails it for another reason than the job itself (default 2); a bad job runs once. */
  attempts?: number;
}

/**
 * `liven diagnose` jobs for workers on any number of machines (`liven worker`, or
 * `diag.startAnalysisWorker`), through a BullMQ queue on Redis:
 *
 * ```js
 * const queue = new diag.AnalysisQueue({ redis: 'redis://127.0.0.1:6379' });
 * const rows = await queue.analyze({ model: { config, weights }, input: batch });
 * await queue.close();
 * ```
 *
 * A job is what `AnalysisPool.analyze` takes; its results are the same rows (the ones
 * `liven diagnose --json` prints). Bytes (and a Tensor input) travel in the job, up to
 * `maxJobBytes`; a string is a path that each worker reads itself (a shared disk). A bad job
 * rejects with `diag.AnalysisJobError` carrying the line `liven diagnose` gives, after one run; a
 * job whose worker died is run again by another (BullMQ's stalled-job check) up to `attempts`
 * times. `bullmq` is loaded on first use: without it installed, calls reject with an Error that
 * says what to install.
 */
export class AnalysisQueue {
  /** The queue's name. */
  readonly queue: string;
  /** The most bytes a job may carry. */
  readonly maxJobBytes: number;
  /** Runs per job at most (a bad job runs once). */
  readonly attempts: number;
  readonly #jobs: JobQueue;

  constructor(options: AnalysisQueueOptions) {
    const o = checkOptions(options, 'AnalysisQueue') as AnalysisQueueOptions;
    if (typeof o.redis !== 'string') throw new TypeError(`AnalysisQueue: redis must be a URL such as redis://127.0.0.1:6379, got ${typeof o.redis}`);
    if (o.queue !== undefined && (typeof o.queue !== 'string' || o.queue === '')) throw new TypeError(`AnalysisQueue: queue must be a non-empty string, got ${JSON.stringify(o.queue)}`);
    this.queue = o.queue ?? DEFAULT_QUEUE;
    this.maxJobBytes = o.maxJobBytes === undefined ? DEFAULT_MAX_JOB_BYTES : checkPositiveInt(o.maxJobBytes, 'AnalysisQueue: maxJobBytes');
    this.attempts = o.attempts === undefined ? 2 : checkPositiveInt(o.attempts, 'AnalysisQueue: attempts');
    this.#jobs = new JobQueue(o.redis, this.queue, 'AnalysisQueue');
  }

  /**
   * Queues a job; resolves to its id (for `result`). A job of the wrong form or over
   * `maxJobBytes` rejects here, before anything is queued. `names`: the paths the bytes were read
   * from, for the workers' messages (what `liven submit` passes).
   */
  async submit(job: AnalysisJob, names?: SourceNames): Promise<string> {
    return this.#jobs.add(ANALYSIS_JOB, encodeAnalysisJob(job, this.maxJobBytes, names), this.attempts);
  }

  /** The rows of job `jobId` once a worker has done it (or its AnalysisJobError); `timeoutMs`: give up waiting after that long. */
  result(jobId: string, options?: { timeoutMs?: number }): Promise<LayerReport[]> {
    const timeout = options?.timeoutMs === undefined ? undefined : checkPositiveInt(options.timeoutMs, 'AnalysisQueue.result: timeoutMs');
    return this.#jobs.wait<LayerReport[]>(jobId, timeout);
  }

  /** `submit` then `result`. */
  async analyze(job: AnalysisJob, names?: SourceNames): Promise<LayerReport[]> {
    return this.result(await this.submit(job, names));
  }

  /** How many workers serve the queue now, or null when Redis does not say (CLIENT LIST disabled). */
  workers(): Promise<number | null> {
    return this.#jobs.workers();
  }

  /** Closes the connections to Redis; queued jobs stay for the workers. */
  close(): Promise<void> {
    return this.#jobs.close();
  }
}
