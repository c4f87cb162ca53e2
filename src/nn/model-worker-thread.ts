// The worker thread of nn.ModelWorker: holds a copy of the model and runs its passes.
import { parentPort } from 'node:worker_threads';
import { setBackend, type BackendName } from '../backend/index.js';
import { lowerPriority } from '../thread-priority.js';
import { Tensor } from '../tensor.js';
import { moduleFromConfig, registerLayers } from './config.js';
import './index.js'; // registers liven's layers as config types
import type { AnyModule, ModuleConfig } from './module.js';

interface Wire {
  shape: number[];
  data: Float32Array;
}

const tensor = (w: Wire) => new Tensor(w.data, w.shape);
const copy = (t: Tensor): Wire => ({ shape: [...t.shape], data: t.data.slice() });

let model: AnyModule | null = null;
let initError: Error | null = null;

async function handle(msg: Record<string, unknown>): Promise<{ value: unknown; transfer: ArrayBuffer[] }> {
  setBackend(msg.backend as BackendName);
  if (msg.op === 'init') {
    lowerPriority(msg.priority as number);
    try {
      for (const url of msg.modules as string[]) registerLayers((await import(url)) as Record<string, unknown>);
      model = moduleFromConfig(msg.config as ModuleConfig);
    } catch (e) {
      initError = e as Error;
      throw e;
    }
    return { value: null, transfer: [] };
  }
  if (model === null) throw new Error(`ModelWorker: the model could not be built in the worker: ${initError?.message}`);
  if (msg.op === 'forward') {
    const state = msg.state as Record<string, Wire>;
    model.loadStateDict(Object.fromEntries(Object.entries(state).map(([k, w]) => [k, new Tensor(w.data, w.shape)])));
    // Pre-order, so each module's own mode overrides what its parent's train() set.
    const modes = msg.training as boolean[];
    model.namedModules().forEach(([, m], i) => m.train(modes[i]));
    const y: Tensor | Tensor[] = model.forward(...(msg.inputs as Wire[]).map(tensor));
    // Copies: the layers keep their outputs (the next layer's saved input) for backward, so
    // the originals must stay here.
    const outputs = (Array.isArray(y) ? y : [y]).map(copy);
    const buffers = model.namedBuffers().map(([k, b]) => [k, b.data.slice()] as [string, Float32Array]);
    return { value: { outputs, several: Array.isArray(y), buffers }, transfer: [...outputs.map((w) => w.data.buffer as ArrayBuffer), ...buffers.map(([, d]) => d.buffer as ArrayBuffer)] };
  }
  if (msg.op === 'backward') {
    const params = new Map(model.namedParameters());
    for (const [k, g] of msg.grads as [string, Float32Array][]) params.get(k)?.grad.data.set(g);
    const gs = (msg.gradOutputs as Wire[]).map(tensor);
    const dx: Tensor | Tensor[] | null = model.backward(msg.several ? gs : gs[0]!, { inputGrad: msg.inputGrad as boolean });
    const gradInputs = dx === null ? null : (Array.isArray(dx) ? dx : [dx]).map(copy);
    const grads = [...params].map(([k, p]) => [k, p.grad.data.slice()] as [string, Float32Array]);
    return { value: { gradInputs, several: Array.isArray(dx), grads }, transfer: [...(gradInputs ?? []).map((w) => w.data.buffer as ArrayBuffer), ...grads.map(([, d]) => d.buffer as ArrayBuffer)] };
  }
  throw new Error(`ModelWorker: unknown operation ${String(msg.op)}`);
}

// One message at a time, in order (init may await imports).
let queue = Promise.resolve();
parentPort!.on('message', (msg: Record<string, unknown>) => {
  queue = queue.then(async () => {
    try {
      const { value, transfer } = await handle(msg);
      parentPort!.postMessage({ id: msg.id, value }, transfer);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      parentPort!.postMessage({ id: msg.id, error: { name: err.name, message: err.message } });
    }
  });
});
