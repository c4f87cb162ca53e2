// What a queued job carries through Redis: BullMQ keeps job data and results as JSON, so bytes
// travel in base64 (up to a size limit) or as paths the workers read.
import { checkOptions, checkPositiveInt, describeValue } from '../check.js';
import type { AnalysisJob } from '../diag/analysis-pool.js';
import { formatBytes } from '../io/files.js';
import { serializeSafetensors } from '../io/safetensors.js';
import type { ModuleConfig } from '../nn/module.js';
import { Tensor } from '../tensor.js';

/** The default limit on the bytes a job carries (model, weights and input together): 64 MiB. */
export const DEFAULT_MAX_JOB_BYTES = 64 * 2 ** 20;

/** Bytes on the wire: a path every worker can read, or the bytes themselves with the path they came from (for messages). */
export type WireSource = { path: string } | { base64: string; name?: string };

/** An analysis job's data in Redis (the job name is `ANALYSIS_JOB`). */
export interface AnalysisJobData {
  /** A config as a path every worker can read, or the config itself (with the path it came from). */
  model: { config: { path: string } | { inline: ModuleConfig; name?: string }; weights: WireSource } | { onnx: WireSource };
  input: WireSource;
  options: NonNullable<AnalysisJob['options']>;
}

/** The name of an analysis job (data: AnalysisJobData) in a liven queue. */
export const ANALYSIS_JOB = 'liven-analysis';
/** The name of a clinic run (data: ClinicJobData) in a liven queue. */
export const CLINIC_JOB = 'liven-clinic-run';

/**
 * The paths the submitter read a job's bytes from, so that a worker's message names the file as
 * `liven diagnose` would (a reader of bytes in memory calls them "(given)").
 */
export interface SourceNames {
  model?: string;
  weights?: string;
  input?: string;
}

/** A job in its Redis form; a TypeError or RangeError says what is wrong with it. */
export function encodeAnalysisJob(job: AnalysisJob, maxJobBytes: number, names: SourceNames = {}, what = 'AnalysisQueue.submit'): AnalysisJobData {
  const o = checkOptions(job, `${what}: the job`) as Partial<AnalysisJob>;
  const m = o.model as { config?: unknown; weights?: unknown; onnx?: unknown } | undefined;
  const isOnnx = m !== null && typeof m === 'object' && 'onnx' in m;
  if (m === null || typeof m !== 'object' || (!isOnnx && (!('config' in m) || !('weights' in m)))) {
    throw new TypeError(`${what}: model must be { config, weights } or { onnx }, got ${describeValue(m)}`);
  }
  if (!isOnnx && typeof m.config !== 'string' && (m.config === null || typeof m.config !== 'object' || m.config instanceof Uint8Array)) {
    throw new TypeError(`${what}: model.config must be a config object or the path of its JSON file, got ${describeValue(m.config)}`);
  }
  const options = checkOptions(o.options, `${what}: options`) as AnalysisJobData['options'];
  for (const key of ['chunk', 'maxModelBytes', 'maxInputBytes', 'maxConfigBytes'] as const) {
    if (options[key] !== undefined) checkPositiveInt(options[key], `${what}: options.${key}`);
  }
  // Bytes counted before any is encoded: a job over the limit costs no base64.
  const raw = (v: unknown, field: string): string | Uint8Array => {
    if (typeof v === 'string' || v instanceof Uint8Array) return v;
    if (field === 'input' && v instanceof Tensor) return serializeSafetensors({ input: v });
    throw new TypeError(`${what}: ${field} must be ${field === 'input' ? 'a Tensor, ' : ''}bytes or a path, got ${describeValue(v)}`);
  };
  const modelBytes = raw(isOnnx ? m.onnx : m.weights, isOnnx ? 'model.onnx' : 'model.weights');
  const inputBytes = raw(o.input, 'input');
  const bytes = [modelBytes, inputBytes].reduce((n, v) => n + (typeof v === 'string' ? 0 : v.length), 0);
  if (bytes > maxJobBytes) {
    throw new RangeError(`${what}: the job carries ${formatBytes(bytes)} of model and input, more than the limit of ${formatBytes(maxJobBytes)} (maxJobBytes raises it; or pass paths the workers can read)`);
  }
  const wire = (v: string | Uint8Array, name: string | undefined): WireSource =>
    typeof v === 'string' ? { path: v } : { base64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'), ...(name === undefined ? {} : { name }) };
  const model: AnalysisJobData['model'] = isOnnx
    ? { onnx: wire(modelBytes, names.model) }
    : {
        config: typeof m.config === 'string' ? { path: m.config } : { inline: m.config as ModuleConfig, ...(names.model === undefined ? {} : { name: names.model }) },
        weights: wire(modelBytes, names.weights),
      };
  const input = wire(inputBytes, names.input);
  return { model, input, options };
}

function isSource(v: unknown): v is WireSource {
  if (v === null || typeof v !== 'object') return false;
  const s = v as Record<string, unknown>;
  return typeof s.path === 'string' || (typeof s.base64 === 'string' && (s.name === undefined || typeof s.name === 'string'));
}

/** A job back in AnalysisPool's form, with the names its messages should use; a TypeError if it is not a liven analysis job. */
export function decodeAnalysisJob(data: unknown): { job: AnalysisJob; names: SourceNames } {
  const d = (data ?? {}) as Partial<AnalysisJobData>;
  const m = d.model as Record<string, unknown> | undefined;
  const c = m?.config as { path?: unknown; inline?: unknown; name?: unknown } | null | undefined;
  const configOk = c !== null && typeof c === 'object' && (typeof c.path === 'string' || (c.inline !== null && typeof c.inline === 'object' && (c.name === undefined || typeof c.name === 'string')));
  const ok = m !== null && typeof m === 'object' && isSource(d.input) && (isSource(m.onnx) || (isSource(m.weights) && configOk));
  if (!ok || (d.options !== undefined && (d.options === null || typeof d.options !== 'object'))) throw new TypeError(`the job's data is not a liven analysis job: ${describeValue(data)}`);
  const names: SourceNames = {};
  const bytesOrPath = (s: WireSource, field: keyof SourceNames): string | Uint8Array => {
    if ('path' in s) return s.path;
    if (s.name !== undefined) names[field] = s.name;
    return new Uint8Array(Buffer.from(s.base64, 'base64'));
  };
  let model: AnalysisJob['model'];
  if (isSource(m.onnx)) model = { onnx: bytesOrPath(m.onnx, 'model') };
  else if (typeof c!.path === 'string') model = { config: c!.path, weights: bytesOrPath(m.weights as WireSource, 'weights') };
  else {
    if (typeof c!.name === 'string') names.model = c!.name;
    model = { config: c!.inline as ModuleConfig, weights: bytesOrPath(m.weights as WireSource, 'weights') };
  }
  return { job: { model, input: bytesOrPath(d.input!, 'input'), options: d.options ?? {} }, names };
}

/**
 * A message from `liven diagnose`'s loader with each "(given)" (its name for bytes in memory)
 * replaced by the path the submitter read those bytes from.
 */
export function nameSources(message: string, names: SourceNames): string {
  return message.replace(/\b(model|weights|input)("?)( file| in) \(given\)/g, (all, what: keyof SourceNames, quote: string, sep: string) =>
    names[what] === undefined ? all : `${what}${quote}${sep} ${JSON.stringify(names[what])}`,
  );
}

/** A result as JSON that keeps NaN, ±Infinity and -0 (JSON alone makes them null and 0). */
export function encodeResult(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0)) ? { $number: Object.is(v, -0) ? '-0' : String(v) } : v));
}

/** The value `encodeResult` encoded. */
export function decodeResult<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      const n = (v as { $number?: unknown }).$number;
      if (keys.length === 1 && typeof n === 'string' && ['NaN', 'Infinity', '-Infinity', '-0'].includes(n)) return Number(n);
    }
    return v;
  }) as T;
}
