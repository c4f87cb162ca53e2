// diag.AnalysisPool: `liven diagnose` as a service, on worker threads that never block the event loop.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { getBackend } from '../backend/index.js';
import { checkOptions, checkPositiveInt, describeValue } from '../check.js';
import type { ModuleConfig } from '../nn/module.js';
import { Tensor } from '../tensor.js';
import { checkPriority } from '../thread-priority.js';
import type { LayerReport } from './monitor.js';

/**
 * A model as `{ config, weights }` (each a path to read, or its contents: a config object,
 * safetensors bytes), or an ONNX model as `{ onnx }` (a path to a .onnx file, whose external-data
 * files are read beside it, or the file's bytes).
 */
export type AnalysisModel = { config: ModuleConfig | string; weights: Uint8Array | string } | { onnx: Uint8Array | string };

/** One analysis: what `liven diagnose --model --weights --input [--chunk] --json` takes. */
export interface AnalysisJob {
  model: AnalysisModel;
  /** The batch: a Tensor of shape [N, ...], or safetensors (bytes or a path) with a tensor named "input". */
  input: Tensor | Uint8Array | string;
  /**
   * `chunk`: run this many samples at a time (bounds memory; `--chunk`). The limits in bytes
   * (`--max-model-bytes` and so on; defaults `DIAGNOSE_LIMITS`): the model's weights and the
   * memory its parameters, gradients and buffers would take are checked before anything is
   * allocated, and bytes or files over a limit refuse the job.
   */
  options?: { chunk?: number; maxModelBytes?: number; maxInputBytes?: number; maxConfigBytes?: number };
}

export interface AnalysisPoolOptions {
  /** Worker threads, each running one job at a time. Default: the cores / threadsPerWorker (at least 1). */
  workers?: number;
  /** Native kernel threads per worker (`setThreadBudget` in each worker). Default 1. */
  threadsPerWorker?: number;
  /** The workers' nice value on Linux, 0 to 19 (default 10: the event loop runs first on busy cores). */
  priority?: number;
}

/**
 * A job the pool refused for what it is (a file that cannot be read or parsed, a config that
 * does not match its weights, an input the model cannot take): the message is the one line
 * `liven diagnose` prints for the same inputs. Running it again cannot succeed, so a job queue
 * should not retry it (other rejections, such as a worker that died, may succeed on retry).
 */
export class AnalysisJobError extends Error {
  override name = 'AnalysisJobError';
}

/** A job as it crosses to the worker thread (a Tensor as its shape and data). @internal */
export interface WireJob {
  /** A config (object or path), a .onnx path, or ONNX bytes. */
  model: ModuleConfig | string | { onnx: Uint8Array };
  /** Null for an ONNX model. */
  weights: Uint8Array | string | null;
  input: Uint8Array | string | { shape: readonly number[]; data: Float32Array };
  chunk: number | null;
  limits: { maxModelBytes?: number; maxInputBytes?: number; maxConfigBytes?: number };
}

type Reply = { report: LayerReport[] } | { error: { bad: boolean; name: string; message: string } };

interface Queued {
  job: WireJob;
  /** The job's own copies of its bytes, moved to the worker with it. */
  transfer: ArrayBuffer[];
  resolve: (report: LayerReport[]) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  running: Queued | null;
}

/**
 * Runs `liven diagnose` jobs on a fixed number of worker threads, so that a server can analyse
 * models without blocking its event loop:
 *
 * ```js
 * const pool = new diag.AnalysisPool({ workers: 2, threadsPerWorker: 1 });
 * const rows = await pool.analyze({ model: { config, weights }, input: batch });
 * await pool.close();
 * ```
 *
 * `analyze` resolves to the rows of `ActivationMonitor.report()` for the model in eval mode on
 * the whole input: exactly what `liven diagnose --json` prints for the same files. Jobs run in
 * the order given, one per worker; the rest wait in a queue. Each worker's native kernels use
 * its own thread budget (`threadsPerWorker`), so `workers × threadsPerWorker` threads compute at
 * most: choose it near the number of cores.
 *
 * Failures are the job's own: a bad job rejects its promise with an `AnalysisJobError` (the
 * one-line reason `liven diagnose` gives) and the worker takes the next job. A worker that dies
 * (killed, or out of memory) is replaced; its job is rejected, not retried — the same job would
 * likely kill the next worker too, so retrying is left to the caller (or its job queue).
 *
 * The job's bytes and tensor data are copied once when `analyze` is called (only the bytes a
 * view covers, not its whole buffer) and the copies moved to the worker, so the caller may
 * reuse its buffers at once. Workers hold no model between jobs. Idle workers do not keep the process
 * alive; `close()` ends them.
 */
export class AnalysisPool {
  readonly workers: number;
  readonly threadsPerWorker: number;
  readonly #priority: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Queued[] = [];
  #closed: Promise<void> | null = null;
  /** Workers that died in a row with no job answered between: a pool that cannot start its workers stops trying. */
  #deaths = 0;
  #broken: Error | null = null;

  constructor(options?: AnalysisPoolOptions) {
    const o = checkOptions(options, 'AnalysisPool') as AnalysisPoolOptions;
    this.threadsPerWorker = o.threadsPerWorker === undefined ? 1 : checkPositiveInt(o.threadsPerWorker, 'AnalysisPool: threadsPerWorker');
    this.workers = o.workers === undefined ? Math.max(1, Math.floor(availableParallelism() / this.threadsPerWorker)) : checkPositiveInt(o.workers, 'AnalysisPool: workers');
    if (this.threadsPerWorker > 1024 || this.workers > 1024) throw new RangeError(`AnalysisPool: at most 1024 workers of 1024 threads, got ${this.workers} workers of ${this.threadsPerWorker}`);
    this.#priority = checkPriority(o.priority ?? 10, 'AnalysisPool');
    for (let i = 0; i < this.workers; i++) this.#slots.push(this.#spawn());
  }

  /** Jobs given and not yet settled: running plus queued (for back-pressure). */
  get pending(): number {
    return this.#queue.length + this.#slots.filter((s) => s.running !== null).length;
  }

  /**
   * Why the pool gave up, or null: after more than `2 × workers` workers in a row died without
   * answering a job (they cannot start, or every job kills them), every job rejects with this.
   */
  get broken(): Error | null {
    return this.#broken;
  }

  /** Analyses one model on one batch; see the class for what it resolves to and how it fails. */
  analyze(job: AnalysisJob): Promise<LayerReport[]> {
    if (this.#closed) return Promise.reject(new Error('AnalysisPool: the pool is closed'));
    if (this.#broken) return Promise.reject(this.#broken);
    let wire: { job: WireJob; transfer: ArrayBuffer[] };
    try {
      wire = toWire(job);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ ...wire, resolve, reject });
      this.#dispatch();
    });
  }

  /**
   * Stops taking jobs: queued jobs reject, running jobs finish (their promises settle as usual),
   * then the workers end. Resolves when they have.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const q of this.#queue.splice(0)) q.reject(new Error('AnalysisPool: closed before this job started'));
      await Promise.all(
        this.#slots.map(async (s) => {
          if (s.running !== null) await new Promise<void>((done) => s.worker.once('message', () => setImmediate(done)).once('exit', () => done()));
          await s.worker.terminate();
        }),
      );
    })();
    return this.#closed;
  }

  #spawn(): Slot {
    const worker = new Worker(new URL('./analysis-pool-thread.js', import.meta.url), {
      workerData: { backend: getBackend(), threads: this.threadsPerWorker, priority: this.#priority },
    });
    worker.unref();
    const slot: Slot = { worker, running: null };
    worker.on('message', (reply: Reply) => {
      const q = slot.running;
      if (q === null) return;
      slot.running = null;
      this.#deaths = 0;
      worker.unref();
      if ('report' in reply) q.resolve(reply.report);
      else {
        const { bad, name, message } = reply.error;
        const Err = bad ? AnalysisJobError : name === 'RangeError' ? RangeError : name === 'TypeError' ? TypeError : Error;
        q.reject(new Err(message));
      }
      this.#dispatch();
    });
    let gone = false;
    const die = (why: string) => {
      if (gone) return;
      gone = true;
      const q = slot.running;
      slot.running = null;
      q?.reject(new Error(`AnalysisPool: the worker running this job stopped (${why}); the job was not retried`));
      if (this.#closed || this.#broken) return;
      if (++this.#deaths > 2 * this.workers) {
        this.#broken = new Error(`AnalysisPool: ${this.#deaths} workers in a row stopped without answering a job (the last: ${why}); the pool gave up`);
        for (const r of this.#queue.splice(0)) r.reject(this.#broken);
        return;
      }
      // Replaced in place, so the pool keeps its size.
      this.#slots[this.#slots.indexOf(slot)] = this.#spawn();
      this.#dispatch();
    };
    worker.on('error', (e) => die(e.message));
    worker.on('exit', (code) => die(`exit code ${code}`));
    return slot;
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) return;
      if (slot.running !== null) continue;
      const q = this.#queue.shift()!;
      slot.running = q;
      slot.worker.ref();
      try {
        slot.worker.postMessage(q.job, q.transfer);
      } catch (e) {
        slot.running = null;
        slot.worker.unref();
        q.reject(e as Error);
      }
    }
  }
}

/** Checks a job's form (its contents are the worker's to check) and copies it into the form that crosses threads. */
function toWire(job: AnalysisJob): { job: WireJob; transfer: ArrayBuffer[] } {
  const o = checkOptions(job, 'AnalysisPool.analyze: the job') as Partial<AnalysisJob>;
  const m = o.model as { config?: unknown; weights?: unknown; onnx?: unknown } | undefined;
  const isOnnx = m !== null && typeof m === 'object' && 'onnx' in m;
  if (m === null || typeof m !== 'object' || (!isOnnx && (!('config' in m) || !('weights' in m)))) {
    throw new TypeError(`AnalysisPool.analyze: model must be { config, weights } or { onnx }, got ${describeValue(m)}`);
  }
  if (isOnnx && !(typeof m.onnx === 'string' && /\.onnx$/i.test(m.onnx)) && !(m.onnx instanceof Uint8Array)) {
    throw new TypeError(`AnalysisPool.analyze: model.onnx must be the path of a .onnx file or its bytes, got ${describeValue(m.onnx)}`);
  }
  if (!isOnnx && typeof m.config !== 'string' && (m.config === null || typeof m.config !== 'object' || m.config instanceof Uint8Array)) {
    throw new TypeError(`AnalysisPool.analyze: model.config must be a config object or the path of its JSON file, got ${describeValue(m.config)}`);
  }
  if (!isOnnx && typeof m.weights !== 'string' && !(m.weights instanceof Uint8Array)) {
    throw new TypeError(`AnalysisPool.analyze: model.weights must be safetensors bytes or a path, got ${describeValue(m.weights)}`);
  }
  const x = o.input;
  if (typeof x !== 'string' && !(x instanceof Uint8Array) && !(x instanceof Tensor)) {
    throw new TypeError(`AnalysisPool.analyze: input must be a Tensor, safetensors bytes or a path, got ${describeValue(x)}`);
  }
  const opts = checkOptions(o.options, 'AnalysisPool.analyze: options') as NonNullable<AnalysisJob['options']>;
  const chunk = opts.chunk === undefined ? null : checkPositiveInt(opts.chunk, 'AnalysisPool.analyze: options.chunk');
  const limits: WireJob['limits'] = {};
  for (const key of ['maxModelBytes', 'maxInputBytes', 'maxConfigBytes'] as const) {
    if (opts[key] !== undefined) limits[key] = checkPositiveInt(opts[key], `AnalysisPool.analyze: options.${key}`);
  }
  const transfer: ArrayBuffer[] = [];
  // New arrays, not .slice(): a Buffer's slice is a view of the same memory.
  const own = <T extends Uint8Array | Float32Array>(c: T): T => {
    transfer.push(c.buffer as ArrayBuffer);
    return c;
  };
  const bytesOrPath = (v: unknown): string | Uint8Array => (typeof v === 'string' ? v : own(new Uint8Array(v as Uint8Array)));
  const model: WireJob['model'] = isOnnx
    ? (typeof m.onnx === 'string' ? m.onnx : { onnx: bytesOrPath(m.onnx) as Uint8Array })
    : (m.config as ModuleConfig | string);
  const weights = isOnnx ? null : bytesOrPath(m.weights);
  const input = typeof x === 'string' ? x : x instanceof Tensor ? { shape: [...x.shape], data: own(new Float32Array(x.data)) } : own(new Uint8Array(x));
  return { job: { model, weights, input, chunk, limits }, transfer };
}
