// Building a model whose weights follow, with its memory checked before it is spent: the model
// is first built shape-only (no memory, no random initialisation) to learn its parameter shapes
// and bytes, those are checked against the weights and a limit, and only then is it built for
// real (still without random initialisation) and the weights read into it.
import { formatShape } from '../check.js';
// nn/index.js, not nn/config.js: importing the index registers the layer types.
import { moduleFromConfig } from '../nn/index.js';
import { Module, type AnyModule, type ModuleConfig } from '../nn/module.js';
import { Tensor, sameShape, withBuildScope } from '../tensor.js';
import { FileLimitError, checkMaxBytes, formatBytes, readRegularFile } from './files.js';
import { safetensorsWeights, type WeightSource } from './safetensors.js';

/** The weights' keys or shapes disagree with the model's; `problems` lists each. */
export class WeightsMismatchError extends Error {
  readonly problems: readonly string[];
  constructor(where: string, problems: string[]) {
    super(`${where}: the weights do not match the model: ${problems.join('; ')}; nothing was built`);
    this.name = 'WeightsMismatchError';
    this.problems = problems;
  }
}

/** The model's tensors (parameters, their gradients, buffers) would take more than `maxBytes`. */
export class ModelTooLargeError extends RangeError {
  readonly bytes: number;
  readonly maxBytes: number;
  constructor(where: string, bytes: number, maxBytes: number) {
    super(`${where}: the model needs ${formatBytes(bytes)} for its parameters, their gradients and its buffers, more than maxBytes, ${formatBytes(maxBytes)}`);
    this.name = 'ModelTooLargeError';
    this.bytes = bytes;
    this.maxBytes = maxBytes;
  }
}

function isWeightSource(w: unknown): w is WeightSource {
  return w !== null && typeof w === 'object' && (w as WeightSource).shapes instanceof Map && typeof (w as WeightSource).read === 'function';
}

/** A state dict as a WeightSource (its tensors are checked to be usable Tensors). */
function stateDictWeights(dict: Record<string, Tensor>, where: string): WeightSource {
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict)) {
    throw new TypeError(`${where}: the weights must be a WeightSource or an object of Tensors by key, got ${dict === null ? 'null' : Array.isArray(dict) ? 'an Array' : typeof dict}`);
  }
  const shapes = new Map<string, readonly number[]>();
  for (const [key, t] of Object.entries(dict)) {
    if (!(t instanceof Tensor)) throw new TypeError(`${where}: the weight ${JSON.stringify(key)} is not a Tensor`);
    t.checkUsable(`${where}: the weight ${JSON.stringify(key)}`);
    shapes.set(key, t.shape);
  }
  return { shapes, read: (key, out) => out.set(dict[key]!.data) };
}

/** A module's parameters and buffers by state-dict key (as `stateDict`, without copying). */
function stateTensors(m: AnyModule): [string, Tensor][] {
  return [...m.namedParameters().map(([k, p]): [string, Tensor] => [k, p.data]), ...m.namedBuffers()];
}

function quoteAll(keys: string[]): string {
  return keys.map((k) => JSON.stringify(k)).join(', ');
}

/** What differs between the model's keys and shapes and the weights': each as a phrase. */
function mismatches(model: [string, Tensor][], weights: ReadonlyMap<string, readonly number[]>): string[] {
  const own = new Map(model.map(([k, t]) => [k, t.shape]));
  const missing = [...own.keys()].filter((k) => !weights.has(k));
  const unexpected = [...weights.keys()].filter((k) => !own.has(k));
  const problems: string[] = [];
  if (missing.length > 0) problems.push(`missing ${missing.length === 1 ? 'key' : 'keys'} ${quoteAll(missing)}`);
  if (unexpected.length > 0) problems.push(`unexpected ${unexpected.length === 1 ? 'key' : 'keys'} ${quoteAll(unexpected)}`);
  for (const [key, shape] of weights) {
    const want = own.get(key);
    if (want !== undefined && !sameShape(shape, want)) problems.push(`${JSON.stringify(key)} has shape ${formatShape(shape)} in the state dict but ${formatShape(want)} in the model`);
  }
  return problems;
}

/**
 * Builds a model with `build` and loads `weights` into it (strictly: every key, of the model's
 * shape, and no other), with the memory checked before it is spent:
 *
 * 1. `build` runs shape-only (`Tensor.zeros` / `Tensor.empty` make tensors without memory and
 *    the `init` functions do nothing), which gives every parameter's and buffer's shape and
 *    the bytes the model needs (parameters, their gradients and buffers) for any layer type;
 * 2. the shapes are checked against the weights' (a WeightsMismatchError lists every problem)
 *    and the bytes against `maxBytes` (a ModelTooLargeError; default 4 GiB, `DEFAULT_MAX_BYTES`);
 * 3. `build` runs again, allocating but with random initialisation skipped (nothing is drawn
 *    from the generator), and each weight is converted straight into its tensor.
 *
 * `build` must build the same model both times, allocating its parameters and buffers with
 * `Tensor.zeros` / `Tensor.empty` (as every liven layer does) and touching no tensor's values
 * outside `init`. An error it throws is thrown as it is. The weights are a WeightSource (see
 * `safetensorsWeights`) or a state dict of Tensors.
 */
export function buildWithWeights<M extends AnyModule>(build: () => M, weights: WeightSource | Record<string, Tensor>, options?: { maxBytes?: number }): M {
  const where = 'buildWithWeights';
  if (typeof build !== 'function') throw new TypeError(`${where}: build must be a function that returns a Module`);
  const maxBytes = checkMaxBytes(options?.maxBytes, where);
  const source = isWeightSource(weights) ? weights : stateDictWeights(weights, where);
  const built = (m: unknown): M => {
    if (!(m instanceof Module)) throw new TypeError(`${where}: build returned ${m === null ? 'null' : typeof m}, not a Module`);
    return m as M;
  };
  const measured = withBuildScope('measure', () => built(build()));
  const problems = mismatches(stateTensors(measured.value), source.shapes);
  if (problems.length > 0) throw new WeightsMismatchError(where, problems);
  if (measured.bytes > maxBytes) throw new ModelTooLargeError(where, measured.bytes, maxBytes);
  const model = withBuildScope('load', () => built(build())).value;
  for (const [key, t] of stateTensors(model)) source.read(key, t.data);
  return model;
}

/**
 * A model from its config (`model.toConfig()`: a Sequential, a Graph or any layer) and its
 * weights: a safetensors file's path or bytes, a WeightSource, or a state dict. Built by
 * `buildWithWeights`, so the config is checked against the weights and `maxBytes` (default
 * 4 GiB) before anything is allocated, and no random initialisation is done. A path must name
 * a regular file of at most `maxBytes` (a FileLimitError otherwise, before it is read).
 */
export function loadModel(config: ModuleConfig, weights: string | Uint8Array | WeightSource | Record<string, Tensor>, options?: { maxBytes?: number }): AnyModule {
  const maxBytes = checkMaxBytes(options?.maxBytes, 'loadModel');
  let source: WeightSource | Record<string, Tensor>;
  if (typeof weights === 'string') {
    const where = `loadModel: the weights file ${JSON.stringify(weights)}`;
    let bytes: Buffer;
    try {
      bytes = readRegularFile(weights, maxBytes);
    } catch (e) {
      if (e instanceof FileLimitError) throw new FileLimitError(e.code, `${where}: ${e.message}`);
      throw e;
    }
    source = safetensorsWeights(bytes, where);
  } else if (weights instanceof Uint8Array) {
    source = safetensorsWeights(weights, 'loadModel: the weights');
  } else {
    source = weights;
  }
  return buildWithWeights(() => moduleFromConfig(config), source, { maxBytes });
}
