import { Worker } from 'node:worker_threads';
import { getBackend } from '../backend/index.js';
import { checkBoolean, formatShape } from '../check.js';
import { Tensor, checkTensor } from '../tensor.js';
import { checkPriority } from '../thread-priority.js';
import { configTypes } from './config.js';
import { Module, type AnyModule } from './module.js';

/** A tensor as it crosses to or from the worker thread. */
interface Wire {
  shape: readonly number[];
  data: Float32Array;
}

/** What `M.backward` returns with the input gradient (its overloads' widest, without null). */
type GradInOf<M extends AnyModule> = Exclude<ReturnType<M['backward']>, null>;

type Reply = { id: number; value: unknown } | { id: number; error: { name: string; message: string } };

/**
 * Runs a model's forward and backward on a worker thread, so that a long pass does not block
 * Node's event loop. The worker holds a copy of the model rebuilt from `model.toConfig()`; the
 * model given here stays the one source of truth:
 *
 * - `forward(x)` sends the model's current parameters and buffers (a copy taken when the call
 *   starts) and every module's train/eval mode, runs forward there, writes the buffers the pass changed
 *   (BatchNorm's running statistics) back into `model`, and resolves to the output.
 * - `backward(gradOutput)` differentiates at the worker's last forward, sending the model's
 *   current parameter gradients and writing the new ones back, so `param.grad` ends exactly
 *   as a synchronous `model.backward` would leave it. Run the optimizer on `model` as usual.
 *
 * Results equal the synchronous calls bit for bit (same backend, same kernels, same order).
 * Calls run one at a time in call order; they need not be awaited before the next is made.
 *
 * Buffer ownership: `x` and `gradOutput` are copied when the call is made, so the caller may
 * reuse them at once; with `{ transfer: true }` a tensor that spans its whole ArrayBuffer is
 * moved instead (no copy) and can no longer be used by the caller (its data is detached). The
 * resolved tensors are new and owned by the caller (the worker copies each result once, as the
 * model keeps its own for backward, and moves the copy). Don't
 * change `model`'s tensors while a call is pending: the call writes into them when it ends.
 *
 * Every module of the model must be one `nn.moduleFromConfig` can build (an `nn` class with a
 * static `fromConfig`). The worker thread keeps the process alive only while calls are pending;
 * `terminate()` ends it.
 */
export class ModelWorker<M extends AnyModule = Module> {
  readonly model: M;
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #dead: Error | null = null;

  /**
   * `modules`: ES modules (paths or file URLs) the worker imports first; every exported class
   * that extends liven's Module and has its own static `fromConfig` is registered there
   * (`registerModuleType`), so models with layers of your own can run in the worker too.
   * `priority`: the worker thread's nice value on Linux (default 10, below the main thread's 0,
   * so that on busy cores the event loop runs first; 19 yields the most). Ignored elsewhere.
   */
  constructor(model: M, options?: { modules?: (string | URL)[]; priority?: number }) {
    if (!(model instanceof Module)) throw new TypeError('ModelWorker: the model must be a Module');
    const priority = checkPriority(options?.priority ?? 10, 'ModelWorker');
    const modules = (options?.modules ?? []).map((m) => (m instanceof URL ? m.href : String(m)));
    const known = new Set(configTypes());
    for (const [path, m] of model.namedModules()) {
      if (!known.has(m.kind) && modules.length === 0) {
        throw new TypeError(`ModelWorker: the module ${path === '' ? '(the model itself)' : `at "${path}"`} is a ${m.kind}, which nn.moduleFromConfig cannot build in the worker (register it, or pass the file that exports it as the modules option)`);
      }
    }
    this.model = model;
    this.#worker = new Worker(new URL('./model-worker-thread.js', import.meta.url));
    this.#worker.unref();
    this.#worker.on('message', (reply: Reply) => {
      const p = this.#pending.get(reply.id);
      if (p === undefined) return;
      this.#settled(reply.id);
      if ('error' in reply) {
        const Err = reply.error.name === 'RangeError' ? RangeError : reply.error.name === 'TypeError' ? TypeError : Error;
        p.reject(new Err(reply.error.message));
      } else {
        p.resolve(reply.value);
      }
    });
    const die = (why: string) => {
      this.#dead ??= new Error(`ModelWorker: the worker thread stopped (${why})`);
      for (const [id, p] of this.#pending) {
        this.#settled(id);
        p.reject(this.#dead);
      }
    };
    this.#worker.on('error', (e) => die(e.message));
    this.#worker.on('exit', (code) => die(`exit code ${code}`));
    // Queued like every call, so that passes wait for the model to be built.
    void this.#enqueue(() => this.#call('init', { config: model.toConfig(), modules, priority }, [])).catch(() => {});
  }

  /**
   * The model's forward, on the worker thread; resolves to the output (an array for a graph of
   * several outputs). A model of several inputs (a graph) takes them as an array. The pass
   * happens on the worker's copy, so forward hooks could not see it: a model with forward hooks
   * attached (an ActivationMonitor, say) is refused with an Error rather than leaving them blind
   * (detach them, or run the monitored passes synchronously or in diag.AnalysisPool).
   * `model.backward` knows nothing of the pass: use `backward` here.
   */
  forward(x: Tensor | readonly Tensor[], options?: { transfer?: boolean }): Promise<ReturnType<M['forward']>> {
    const inputs = wires(x, 'ModelWorker.forward: input', options?.transfer === true);
    return this.#enqueue(async () => {
      const hooked = this.model.namedModules().filter(([, m]) => m.forwardHookCount > 0);
      if (hooked.length > 0) {
        const at = hooked.slice(0, 3).map(([path, m]) => (path === '' ? `the model (${m.kind})` : `"${path}" (${m.kind})`));
        throw new Error(`ModelWorker.forward: forward hooks are attached to ${at.join(', ')}${hooked.length > 3 ? ', ...' : ''}; they would not see passes on the worker thread (an ActivationMonitor would report nothing). Detach them (monitor.detach()), or run monitored passes with model.forward or in diag.AnalysisPool`);
      }
      for (const w of inputs.list) usable(w, 'ModelWorker.forward: input');
      const training = this.model.namedModules().map(([, m]) => m.training);
      const state = this.model.stateDict();
      const sent = Object.fromEntries(Object.entries(state).map(([k, t]) => [k, { shape: t.shape, data: t.data }]));
      const r = (await this.#call('forward', { state: sent, training, inputs: inputs.list }, [...inputs.list.map((w) => w.data.buffer), ...Object.values(state).map((t) => t.data.buffer)])) as { outputs: Wire[]; several: boolean; buffers: [string, Float32Array][] };
      const buffers = new Map(this.model.namedBuffers());
      for (const [key, data] of r.buffers) buffers.get(key)?.data.set(data);
      return unwire(r.outputs, r.several) as ReturnType<M['forward']>;
    });
  }

  /**
   * The model's backward at the worker's last forward (the gradients of several outputs as an
   * array); writes the parameters' new gradients into `model`. Resolves to the input gradient
   * (an array for several inputs), or to null with `inputGrad: false` (as `Module.backward`).
   */
  backward(gradOutput: Tensor | readonly Tensor[], options?: { transfer?: boolean; inputGrad?: true }): Promise<GradInOf<M>>;
  backward(gradOutput: Tensor | readonly Tensor[], options: { transfer?: boolean; inputGrad: false }): Promise<null>;
  backward(gradOutput: Tensor | readonly Tensor[], options?: { transfer?: boolean; inputGrad?: boolean }): Promise<GradInOf<M> | null>;
  backward(gradOutput: Tensor | readonly Tensor[], options?: { transfer?: boolean; inputGrad?: boolean }): Promise<GradInOf<M> | null> {
    const inputGrad = options?.inputGrad ?? true;
    checkBoolean(inputGrad, 'ModelWorker.backward: inputGrad');
    const g = wires(gradOutput, 'ModelWorker.backward: gradOutput', options?.transfer === true);
    return this.#enqueue(async () => {
      for (const w of g.list) usable(w, 'ModelWorker.backward: gradOutput');
      const params = this.model.namedParameters();
      const grads = params.map(([k, p]) => [k, p.grad.data.slice()] as [string, Float32Array]);
      const r = (await this.#call('backward', { gradOutputs: g.list, several: g.several, grads, inputGrad }, [...g.list.map((w) => w.data.buffer), ...grads.map(([, d]) => d.buffer)])) as { gradInputs: Wire[] | null; several: boolean; grads: [string, Float32Array][] };
      const byName = new Map(params);
      for (const [key, data] of r.grads) byName.get(key)?.grad.data.set(data);
      return r.gradInputs === null ? null : (unwire(r.gradInputs, r.several) as GradInOf<M>);
    });
  }

  /** Stops the worker thread; pending and later calls reject. */
  async terminate(): Promise<void> {
    this.#dead ??= new Error('ModelWorker: terminated');
    await this.#worker.terminate();
  }

  #enqueue<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(run, run);
    this.#queue = next.catch(() => {});
    return next;
  }

  #call(op: string, body: object, transfer: ArrayBufferLike[]): Promise<unknown> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.#worker.ref();
      try {
        // Node drops a message whose transfer list holds a detached buffer without a word, so
        // only buffers with bytes are moved (empty ones are cloned), each once.
        const moved = [...new Set(transfer)].filter((b) => b.byteLength > 0) as ArrayBuffer[];
        this.#worker.postMessage({ id, op, backend: getBackend(), ...body }, moved);
      } catch (e) {
        // Not sent (a tensor detached meanwhile, say): nothing will answer this id.
        this.#settled(id);
        reject(e as Error);
      }
    });
  }

  #settled(id: number): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker.unref();
  }
}

/** Throws a TypeError if a tensor moved with `transfer: true` was detached before its call ran. */
function usable(w: Wire, what: string): void {
  if (w.data.length !== w.shape.reduce((a, b) => a * b, 1)) {
    throw new TypeError(`${what}: the tensor of shape ${formatShape(w.shape)} was detached before its call ran (moved by another call with transfer: true?)`);
  }
}

/** One tensor or an array of them (checked), as wires; `several` says which it was. */
function wires(x: Tensor | readonly Tensor[], what: string, transfer: boolean): { list: Wire[]; several: boolean } {
  if (!Array.isArray(x)) return { list: [wire(checkTensor(x, what), transfer)], several: false };
  const list = (x as readonly unknown[]).map((t, i) => checkTensor(t, `${what} ${i}`));
  return { list: list.map((t) => wire(t, transfer)), several: true };
}

function unwire(list: Wire[], several: boolean): Tensor | Tensor[] {
  const tensors = list.map((w) => new Tensor(w.data, w.shape));
  return several ? tensors : tensors[0]!;
}

/** The tensor's data to send: moved when asked and possible (it spans its own ArrayBuffer), else a copy. */
function wire(t: Tensor, transfer: boolean): Wire {
  const d = t.data;
  const whole = d.byteOffset === 0 && d.byteLength === d.buffer.byteLength && !(d.buffer instanceof SharedArrayBuffer);
  return { shape: t.shape, data: transfer && whole ? d : d.slice() };
}
