// `liven diagnose`: a saved model's activation health on a batch of inputs (API.md, "Model
// config and the command line").
import { writeFileSync } from 'node:fs';
import { ActivationMonitor, type LayerReport } from './diag/monitor.js';
import { renderReport } from './diag/report.js';
import { DEFAULT_MAX_BYTES, FileLimitError, formatBytes, readRegularFile } from './io/files.js';
import { ModelTooLargeError, WeightsMismatchError, buildWithWeights } from './io/model.js';
import { parseSafetensors, safetensorsWeights } from './io/safetensors.js';
import { moduleFromConfig } from './nn/index.js';
import type { Module, ModuleConfig } from './nn/module.js';
import { Sequential } from './nn/sequential.js';
import { Tensor } from './tensor.js';
import { formatStaticTable, isOnnxPath, loadOnnxModel, staticReport } from './diagnose-onnx.js';
import type { StaticDeadReport } from './diag/static.js';
import type { Graph } from './nn/graph.js';

export const diagnoseUsage = `usage: liven diagnose --model model.json --weights model.safetensors --input batch.safetensors [options]
       liven diagnose --model model.onnx [--input batch.safetensors] [options]

Runs the model in eval mode on the tensor named "input" in the batch file and prints, per
ReLU / LeakyReLU / PReLU layer, its units, dead, nearly dead and dormant units, the fraction of
exact zeros, and the mean, std, min and max of its outputs (diag.ActivationMonitor's report).

  --model FILE     the model config: JSON of model.toConfig() (a Sequential or a single layer),
                   or an ONNX file (torch.onnx.export; external-data files beside it), which
                   carries its weights; without --input, an ONNX model's report lists the units
                   dead on every input, from the weights alone (diag.staticDeadUnits)
  --weights FILE   the state dict as safetensors (io.saveSafetensors, or PyTorch's save_file)
  --input FILE     safetensors with a tensor "input" of shape [N, ...] (N samples)
  --json           print the report array as JSON on stdout instead of the table
  --report FILE    also write the HTML report (diag.renderReport) to FILE
  --chunk N        run N samples at a time (bounds memory); default: all at once
  -h, --help       this text

Limits (each file is read whole, and must be a regular file: not a device, FIFO or directory):
  --max-model-bytes N   the largest weights file, and the most the model's parameters, their
                        gradients and buffers may take (checked before they are allocated);
                        default 4GiB
  --max-input-bytes N   the largest input file; default 4GiB
  --max-config-bytes N  the largest model file; default 64MiB

  N is a number of bytes, or of KiB, MiB, GiB or TiB (e.g. 8GiB).

Exit status: 0 on success, 2 for bad arguments, a file that cannot be read or is over its limit,
a config that does not match the weights, or an input the model cannot take (one line on stderr
says which).`;

/** The default limits of `liven diagnose` on its files and the model, in bytes. */
export const DIAGNOSE_LIMITS = Object.freeze({ maxModelBytes: DEFAULT_MAX_BYTES, maxInputBytes: DEFAULT_MAX_BYTES, maxConfigBytes: 64 * 2 ** 20 });

/** A problem with the user's arguments or files: one line on stderr, exit status 2. */
export class DiagnoseError extends Error {}

export interface DiagnoseOptions {
  model: string;
  /** null for an ONNX model, which carries its weights. */
  weights: string | null;
  /** null: for an ONNX model, the report from the weights alone. */
  input: string | null;
  json: boolean;
  report: string | null;
  chunk: number | null;
  /** The limits (bytes); DIAGNOSE_LIMITS gives the defaults. */
  maxModelBytes: number;
  maxInputBytes: number;
  maxConfigBytes: number;
}

const SIZE_FLAGS = { '--max-model-bytes': 'maxModelBytes', '--max-input-bytes': 'maxInputBytes', '--max-config-bytes': 'maxConfigBytes' } as const;
const UNITS: Record<string, number> = { '': 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };

/** A size flag's value: bytes, or a whole number of KiB, MiB, GiB or TiB. */
export function parseSize(flag: string, text: string): number {
  const m = /^(\d+)(KiB|MiB|GiB|TiB)?$/.exec(text);
  const bytes = m === null ? NaN : Number(m[1]) * UNITS[m[2] ?? '']!;
  if (!Number.isSafeInteger(bytes)) throw new DiagnoseError(`${flag} must be a number of bytes, optionally with KiB, MiB, GiB or TiB (e.g. 8GiB), got ${JSON.stringify(text)}`);
  return bytes;
}

/** Parses `diagnose`'s arguments (`--flag value` or `--flag=value`); a DiagnoseError says what is wrong. */
export function parseDiagnoseArgs(argv: readonly string[]): DiagnoseOptions {
  const values = new Map<string, string>();
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (flag === '--json') {
      if (eq > 0) throw new DiagnoseError('--json takes no value');
      json = true;
      continue;
    }
    if (!['--model', '--weights', '--input', '--report', '--chunk', ...Object.keys(SIZE_FLAGS)].includes(flag)) {
      throw new DiagnoseError(arg.startsWith('-') ? `unknown option ${JSON.stringify(flag)}` : `unexpected argument ${JSON.stringify(arg)}`);
    }
    if (values.has(flag)) throw new DiagnoseError(`${flag} is given twice`);
    const value = eq > 0 && flag !== arg ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '' || (flag === arg && value.startsWith('--'))) throw new DiagnoseError(`${flag} needs a value`);
    values.set(flag, value);
  }
  const onnx = values.has('--model') && isOnnxPath(values.get('--model')!);
  if (onnx && values.has('--weights')) throw new DiagnoseError('--weights is for a JSON config; an .onnx model carries its weights');
  if (onnx && values.has('--report') && !values.has('--input')) throw new DiagnoseError('--report needs --input (the report without data is the table or --json)');
  const missing = (onnx ? ['--model'] : ['--model', '--weights', '--input']).filter((f) => !values.has(f));
  if (missing.length > 0) throw new DiagnoseError(`missing ${missing.join(', ')}`);
  let chunk: number | null = null;
  if (values.has('--chunk')) {
    const text = values.get('--chunk')!;
    chunk = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(chunk) || chunk < 1) throw new DiagnoseError(`--chunk must be a positive integer, got ${JSON.stringify(text)}`);
  }
  const limits = { ...DIAGNOSE_LIMITS };
  for (const [flag, key] of Object.entries(SIZE_FLAGS)) {
    if (values.has(flag)) limits[key] = parseSize(flag, values.get(flag)!);
  }
  return { model: values.get('--model')!, weights: values.get('--weights') ?? null, input: values.get('--input') ?? null, json, report: values.get('--report') ?? null, chunk, ...limits };
}

/** An error's message on one line. */
function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
}

function why(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return oneLine(e);
}

/**
 * Where diagnose reads something from: a file's path, or its contents already in memory
 * (safetensors bytes), as diag.AnalysisPool's jobs may give them. Messages name a path as the
 * CLI does, and contents in memory as "(given)".
 */
export type DiagnoseSource = string | Uint8Array;

function named(source: unknown): string {
  return typeof source === 'string' ? JSON.stringify(source) : '(given)';
}

/** A whole file of at most `maxBytes`, which must be a regular file (or bytes in memory, held to the same limit); `flag` raises the limit. */
export function readFile(path: DiagnoseSource, what: string, maxBytes: number, flag: string): Uint8Array {
  try {
    if (typeof path !== 'string' && path.length > maxBytes) throw new FileLimitError('EFBIG', `it has ${formatBytes(path.length)}, more than the limit of ${formatBytes(maxBytes)}`);
    return typeof path === 'string' ? readRegularFile(path, maxBytes) : path;
  } catch (e) {
    const hint = e instanceof FileLimitError && e.code === 'EFBIG' ? ` (${flag} raises it)` : '';
    throw new DiagnoseError(`cannot read the ${what} file ${named(path)}: ${why(e)}${hint}`);
  }
}

/** A safetensors reader's message without the name it was given. */
function reason(e: unknown, where: string): string {
  const message = oneLine(e);
  return message.startsWith(`${where}: `) ? message.slice(where.length + 2) : message;
}

/** The model config of a file: JSON of a Sequential, a Graph or a single layer (a config object is taken as it is). */
export function readConfig(path: string | ModuleConfig, maxBytes = DIAGNOSE_LIMITS.maxConfigBytes): ModuleConfig {
  if (typeof path !== 'string') return path;
  const text = new TextDecoder().decode(readFile(path, 'model', maxBytes, '--max-config-bytes'));
  try {
    return JSON.parse(text) as ModuleConfig;
  } catch (e) {
    throw new DiagnoseError(`the model file ${JSON.stringify(path)} is not valid JSON: ${oneLine(e)}`);
  }
}

/**
 * Builds the model of the config in `modelPath` with the weights in `weightsPath` (strictly:
 * every key, of the right shape, and no other), checking both and the memory limit before
 * anything is allocated (io.buildWithWeights).
 */
export function loadModel(modelPath: string | ModuleConfig | OnnxBytes, weightsPath: DiagnoseSource | null, limits: Partial<Pick<DiagnoseOptions, 'maxModelBytes' | 'maxConfigBytes'>> = {}): Module {
  const maxModelBytes = limits.maxModelBytes ?? DIAGNOSE_LIMITS.maxModelBytes;
  if (typeof modelPath === 'string' && isOnnxPath(modelPath)) return loadOnnxFile(modelPath, maxModelBytes);
  if (isOnnxBytes(modelPath)) return loadOnnxFile(null, maxModelBytes, modelPath.onnx);
  if (weightsPath === null) throw new DiagnoseError(`missing --weights for the model config ${named(modelPath)}`);
  const config = readConfig(modelPath, limits.maxConfigBytes);
  const bytes = readFile(weightsPath, 'weights', maxModelBytes, '--max-model-bytes');
  const notSafetensors = (e: unknown) => new DiagnoseError(`the weights file ${named(weightsPath)} is not a valid safetensors file: ${reason(e, 'weights')}`);
  let weights;
  try {
    weights = safetensorsWeights(bytes, 'weights');
  } catch (e) {
    throw notSafetensors(e);
  }
  const build = (): Module => {
    try {
      const type = config !== null && typeof config === 'object' ? (config as { type?: unknown }).type : undefined;
      return type === 'Sequential' ? Sequential.fromConfig(config) : moduleFromConfig(config);
    } catch (e) {
      throw new DiagnoseError(`the model file ${named(modelPath)} is not a valid model config: ${oneLine(e)}`);
    }
  };
  try {
    return buildWithWeights(build, weights, { maxBytes: maxModelBytes });
  } catch (e) {
    if (e instanceof DiagnoseError) throw e;
    if (e instanceof WeightsMismatchError) {
      throw new DiagnoseError(`the weights in ${named(weightsPath)} do not match the model in ${named(modelPath)}: ${e.problems.join('; ')}`);
    }
    if (e instanceof ModelTooLargeError) {
      throw new DiagnoseError(`the model in ${named(modelPath)} needs ${formatBytes(e.bytes)} for its parameters, their gradients and its buffers, more than --max-model-bytes, ${formatBytes(e.maxBytes)}`);
    }
    // A tensor that cannot be converted (an I64 beyond 2^53).
    throw notSafetensors(e);
  }
}

/**
 * An ONNX model (io.loadOnnx) read under --max-model-bytes: the .onnx file and each external-data
 * file beside it must be regular files within the limit.
 */
function loadOnnxFile(path: string | null, maxModelBytes: number, given?: Uint8Array): Graph {
  const bytes = readFile(path ?? given!, 'model', maxModelBytes, '--max-model-bytes');
  const name = named(path ?? given);
  try {
    return loadOnnxModel(path, bytes, (p) => readRegularFile(p, maxModelBytes), maxModelBytes);
  } catch (e) {
    if (e instanceof ModelTooLargeError) {
      throw new DiagnoseError(`the model in ${name} needs ${formatBytes(e.bytes)} for its parameters, their gradients and its buffers, more than --max-model-bytes, ${formatBytes(e.maxBytes)}`);
    }
    throw new DiagnoseError(`the model file ${name} cannot be imported: ${oneLine(e).replace(/^loadOnnx: /, '')}`);
  }
}

/** An ONNX model given as bytes (diag.AnalysisPool's `{ onnx }`); external-data files need a path. */
export interface OnnxBytes {
  onnx: Uint8Array;
}

function isOnnxBytes(m: unknown): m is OnnxBytes {
  return m !== null && typeof m === 'object' && (m as { onnx?: unknown }).onnx instanceof Uint8Array;
}

/** The tensor named "input" of a batch file (or the tensor given), with at least one dimension and one sample. */
export function loadInput(path: DiagnoseSource | Tensor, maxBytes = DIAGNOSE_LIMITS.maxInputBytes): Tensor {
  let tensors: Record<string, Tensor>;
  if (path instanceof Tensor) {
    if (path.size * 4 > maxBytes) throw new DiagnoseError(`the input tensor of shape [${path.shape.join(', ')}] has ${formatBytes(path.size * 4)}, more than the limit of ${formatBytes(maxBytes)} (--max-input-bytes raises it)`);
    tensors = { input: path };
  } else {
    const bytes = readFile(path, 'input', maxBytes, '--max-input-bytes');
    try {
      tensors = parseSafetensors(bytes, 'input').tensors;
    } catch (e) {
      throw new DiagnoseError(`the input file ${named(path)} is not a valid safetensors file: ${reason(e, 'input')}`);
    }
  }
  const names = Object.keys(tensors);
  const x = Object.hasOwn(tensors, 'input') ? tensors.input! : undefined;
  if (x === undefined) {
    const has = names.length === 0 ? 'no tensors' : `only ${names.slice(0, 5).map((n) => JSON.stringify(n)).join(', ')}${names.length > 5 ? ', ...' : ''}`;
    throw new DiagnoseError(`the input file ${named(path)} has no tensor named "input" (it has ${has})`);
  }
  if (x.shape.length === 0 || x.shape[0] === 0 || x.size === 0) {
    throw new DiagnoseError(`the tensor "input" in ${path instanceof Tensor ? 'the input given' : named(path)} has shape [${x.shape.join(', ')}]; it needs a first dimension of N >= 1 samples and no empty dimension`);
  }
  return x;
}

/** Runs `x` through the model, naming the top-level layer that refused it. */
function forward(model: Module, x: Tensor): void {
  const layers = model instanceof Sequential ? [...model] : [model];
  let y = x;
  layers.forEach((m, i) => {
    try {
      y = m.forward(y);
    } catch (e) {
      const at = model instanceof Sequential ? `layer ${i} (${m.kind})` : m.kind;
      throw new DiagnoseError(`an input of shape [${x.shape.join(', ')}] does not fit the model: ${at}: ${oneLine(e)}`);
    }
  });
}

export interface DiagnoseResult {
  model: Module;
  monitor: ActivationMonitor;
  report: LayerReport[];
  /** The input's shape, and the number of forwards it took. */
  inputShape: readonly number[];
  chunks: number;
}

/**
 * Builds, loads and runs the model in eval mode on the whole input (in chunks of `chunk`
 * samples when given) with an ActivationMonitor attached. Every problem with the files is a
 * DiagnoseError. `onProgress(done, total)` is called after each chunk.
 */
export function diagnose(
  o: { model: string | ModuleConfig | OnnxBytes; weights: DiagnoseSource | null; input: DiagnoseSource | Tensor | null } & Pick<DiagnoseOptions, 'chunk'> & Partial<Pick<DiagnoseOptions, 'maxModelBytes' | 'maxInputBytes' | 'maxConfigBytes'>>,
  onProgress?: (done: number, total: number) => void,
): DiagnoseResult {
  if (o.input === null) throw new DiagnoseError('missing --input');
  const model = loadModel(o.model, o.weights, o);
  const x = loadInput(o.input, o.maxInputBytes);
  model.eval();
  const monitor = new ActivationMonitor(model);
  const n = x.shape[0]!;
  const rest = x.shape.slice(1);
  const perSample = x.size / n;
  const chunk = Math.min(o.chunk ?? n, n);
  const chunks = Math.ceil(n / chunk);
  for (let from = 0; from < n; from += chunk) {
    const count = Math.min(chunk, n - from);
    // A view of the samples: the chunk is not copied.
    const part = count === n ? x : Tensor.from(x.data.subarray(from * perSample, (from + count) * perSample), [count, ...rest]);
    forward(model, part);
    onProgress?.(from + count, n);
  }
  monitor.detach();
  return { model, monitor, report: monitor.report(), inputShape: x.shape, chunks };
}

/**
 * The report without data of an ONNX model: per ReLU, ReLU6, LeakyReLU and PReLU layer, the
 * units dead on every input, from the weights alone (diag.staticDeadUnits, which states the rule).
 */
export function diagnoseWithoutData(o: Pick<DiagnoseOptions, 'model'> & Partial<Pick<DiagnoseOptions, 'maxModelBytes'>>): { model: Graph; report: StaticDeadReport[] } {
  if (!isOnnxPath(o.model)) throw new DiagnoseError('missing --input (only an .onnx model can be judged from its weights alone)');
  const model = loadOnnxFile(o.model, o.maxModelBytes ?? DIAGNOSE_LIMITS.maxModelBytes);
  return { model, report: staticReport(model) };
}

function num(v: number): string {
  if (Number.isNaN(v)) return '-';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-3 ? v.toExponential(3) : Number(v.toPrecision(4)).toString();
}

function pct(f: number): string {
  return Number.isFinite(f) ? `${(100 * f).toFixed(1)}%` : '-';
}

/** The report as an aligned text table: text columns left-aligned, numbers right-aligned. */
export function formatDiagnoseTable(report: readonly LayerReport[]): string {
  // Saturating activations (Sigmoid, Tanh, Hardtanh, Hardsigmoid, ReLU6) report `saturated` units.
  const saturated = (r: LayerReport): number | undefined => (r as { saturated?: number }).saturated;
  const withSaturated = report.some((r) => typeof saturated(r) === 'number');
  const head = ['layer', 'kind', 'units', 'dead', 'dead %', 'nearly dead', 'dormant', ...(withSaturated ? ['saturated'] : []), 'zeros %', 'mean', 'std', 'min', 'max'];
  const rows = report.map((r) => [r.layer || '(model)', r.kind, String(r.units), String(r.dead), pct(r.deadFraction), String(r.nearlyDead), String(r.dormant), ...(withSaturated ? [saturated(r) === undefined ? '-' : String(saturated(r))] : []), pct(r.zeroFraction), num(r.mean), num(r.std), num(r.min), num(r.max)]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: string[]) => cells.map((s, c) => (c < 2 ? s.padEnd(widths[c]!) : s.padStart(widths[c]!))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A progress bar on stderr, only on a terminal and only when there is more than one chunk. */
function progressBar(): { update(done: number, total: number): void; end(): void } {
  let drawn = false;
  return {
    update(done, total) {
      if (!process.stderr.isTTY || total <= 0) return;
      const width = 30;
      const filled = Math.round((width * done) / total);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} samples`);
      drawn = true;
    },
    end() {
      if (drawn) process.stderr.write('\r\x1b[K');
    },
  };
}

/** `liven diagnose ...`: returns the exit status; output goes to stdout, one-line errors to stderr. */
export function runDiagnose(argv: readonly string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(diagnoseUsage);
    return 0;
  }
  const bar = progressBar();
  try {
    let o: DiagnoseOptions;
    try {
      o = parseDiagnoseArgs(argv);
    } catch (e) {
      throw new DiagnoseError(`${(e as Error).message} (see liven diagnose --help)`);
    }
    if (o.input === null) {
      const { report } = diagnoseWithoutData(o);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return 0;
      }
      console.log(`${o.model}, eval mode, no input: the units dead on every input, judged from the weights alone\n`);
      if (report.length === 0) console.log('No ReLU, ReLU6, LeakyReLU or PReLU layer has a unit count the weights fix.');
      else console.log(formatStaticTable(report));
      return 0;
    }
    const input = o.input;
    let multi = false;
    const result = diagnose(o, (done, total) => {
      multi ||= done < total;
      if (multi) bar.update(done, total);
    });
    bar.end();
    if (o.report !== null) {
      const html = renderReport({ monitor: result.monitor, title: `liven diagnose: ${o.model} on ${input}` });
      try {
        writeFileSync(o.report, html);
      } catch (e) {
        throw new DiagnoseError(`cannot write the report ${JSON.stringify(o.report)}: ${why(e)}`);
      }
    }
    if (o.json) {
      process.stdout.write(`${JSON.stringify(result.report, null, 2)}\n`);
      return 0;
    }
    const n = result.inputShape[0]!;
    console.log(`${o.model}${o.weights === null ? '' : ` with ${o.weights}`}, eval mode, on ${n} sample${n === 1 ? '' : 's'} of shape [${result.inputShape.slice(1).join(', ')}] from ${input}${result.chunks > 1 ? ` (${result.chunks} chunks)` : ''}\n`);
    if (result.report.length === 0) console.log('The model has no ReLU, LeakyReLU or PReLU layer to watch.');
    else console.log(formatDiagnoseTable(result.report));
    if (o.report !== null) console.log(`\nreport written to ${o.report}`);
    return 0;
  } catch (e) {
    bar.end();
    if (!(e instanceof DiagnoseError)) throw e;
    console.error(`liven diagnose: ${e.message}`);
    return 2;
  }
}
