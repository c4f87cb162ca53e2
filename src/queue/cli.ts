// `liven worker` and `liven submit`: the queue from the command line.
import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { AnalysisJobError, type AnalysisJob } from '../diag/analysis-pool.js';
import { DiagnoseError, formatDiagnoseTable, parseDiagnoseArgs, parseSize, readConfig, readFile } from '../diagnose.js';
import { isOnnxPath } from '../diagnose-onnx.js';
import { formatBytes } from '../io/files.js';
import { AnalysisQueue, DEFAULT_QUEUE } from './client.js';
import { DEFAULT_MAX_JOB_BYTES, type SourceNames } from './job.js';
import { startAnalysisWorker, type AnalysisWorkerOptions } from './worker.js';

/** `liven worker --help`. */
export const workerUsage = `usage: liven worker --redis URL [--queue NAME] [--concurrency N] [--threads-per-job T] [options]

Serves the analysis jobs of a Redis queue (liven submit, diag.AnalysisQueue, liven clinic --redis)
until SIGTERM or SIGINT, which stop it cleanly: it takes no more jobs, finishes the running ones
and exits with status 0. If its analysis threads keep dying without answering a job, it stops
taking jobs and exits with status 1 (restart it). Any number of workers on any number of machines
may serve one queue.

  --redis URL           the Redis server: redis://[user:password@]host[:port][/db], rediss:// for TLS
  --queue NAME          the queue (default ${DEFAULT_QUEUE})
  --concurrency N       jobs at once, each on its own thread (default 1)
  --threads-per-job T   native kernel threads per job (default 1)
  --max-model-bytes N, --max-input-bytes N, --max-config-bytes N
                        caps on what a job may ask for (liven diagnose's limits; default theirs)
  --lock-duration MS    a job whose worker died runs again elsewhere after this long (default 30000)
  --stalled-interval MS how often to look for such jobs (default 30000)
  -h, --help            this text

Needs the bullmq package (npm install bullmq).`;

/** `liven submit --help`. */
export const submitUsage = `usage: liven submit --redis URL --model model.json --weights model.safetensors --input batch.safetensors [options]
       liven submit --redis URL --model model.onnx --input batch.safetensors [options]

Queues a liven diagnose job for the workers of a Redis queue (liven worker) and prints its id, or
with --wait its report: with --json exactly what liven diagnose --json prints for the same files.
The files are read here and travel in the job (up to --max-job-bytes), or with --paths as their
paths, which every worker must be able to read.

  --redis URL          the Redis server (redis://host:port)
  --queue NAME         the queue (default ${DEFAULT_QUEUE})
  --model, --config FILE, --weights FILE, --input FILE, --chunk N, --max-model-bytes N,
  --max-input-bytes N, --max-config-bytes N
                       as for liven diagnose
  --wait               wait for the report (a bad job: its one line on stderr, status 2)
  --json               with --wait, print the report as JSON
  --paths              send the files' absolute paths, not their bytes (a shared disk)
  --max-job-bytes N    the most bytes a job carries (default 64MiB)
  -h, --help           this text

Needs the bullmq package (npm install bullmq).`;

/** Splits `--flag value` / `--flag=value` pairs of `flags` (and the switches in `switches`) from the rest. */
function takeFlags(argv: readonly string[], flags: readonly string[], switches: readonly string[]): { values: Map<string, string>; on: Set<string>; rest: string[] } {
  const values = new Map<string, string>();
  const on = new Set<string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (switches.includes(flag)) {
      if (flag !== arg) throw new DiagnoseError(`${flag} takes no value`);
      on.add(flag);
    } else if (flags.includes(flag)) {
      if (values.has(flag)) throw new DiagnoseError(`${flag} is given twice`);
      const value = flag !== arg ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || value === '' || (flag === arg && value.startsWith('--'))) throw new DiagnoseError(`${flag} needs a value`);
      values.set(flag, value);
    } else {
      rest.push(arg);
    }
  }
  return { values, on, rest };
}

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new DiagnoseError(`${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

/** `liven worker`'s options from its arguments (a DiagnoseError says what is wrong). */
export function parseWorkerArgs(argv: readonly string[]): AnalysisWorkerOptions {
  const numbers = { '--concurrency': 'concurrency', '--threads-per-job': 'threadsPerJob', '--lock-duration': 'lockDuration', '--stalled-interval': 'stalledInterval' } as const;
  const sizes = { '--max-model-bytes': 'maxModelBytes', '--max-input-bytes': 'maxInputBytes', '--max-config-bytes': 'maxConfigBytes' } as const;
  const { values, rest } = takeFlags(argv, ['--redis', '--queue', ...Object.keys(numbers), ...Object.keys(sizes)], []);
  if (rest.length > 0) throw new DiagnoseError(rest[0]!.startsWith('-') ? `unknown option ${JSON.stringify(rest[0]!.split('=')[0])}` : `unexpected argument ${JSON.stringify(rest[0])}`);
  if (!values.has('--redis')) throw new DiagnoseError('missing --redis');
  const o: AnalysisWorkerOptions = { redis: values.get('--redis')!, queue: values.get('--queue') ?? DEFAULT_QUEUE };
  for (const [flag, key] of Object.entries(numbers)) if (values.has(flag)) o[key] = positiveInt(flag, values.get(flag)!);
  for (const [flag, key] of Object.entries(sizes)) if (values.has(flag)) o[key] = parseSize(flag, values.get(flag)!);
  return o;
}

/** `liven worker ...`: returns 2 for bad arguments; otherwise runs until SIGTERM or SIGINT, and exits. */
export function runWorker(argv: readonly string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(workerUsage);
    return 0;
  }
  let options: AnalysisWorkerOptions;
  try {
    options = parseWorkerArgs(argv);
  } catch (e) {
    console.error(`liven worker: ${(e as Error).message} (see liven worker --help)`);
    return 2;
  }
  const log = (line: string) => console.error(`liven worker: ${line}`);
  let stop: (() => void) | null = null;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal does not wait: the running jobs go back to the queue when their locks expire.
    if (++signals > 1 || stop === null) {
      log(`${signal}: stopping now`);
      process.exit(0);
    }
    log(`${signal}: finishing the running jobs, then stopping`);
    stop();
  };
  process.on('SIGTERM', onSignal).on('SIGINT', onSignal);
  startAnalysisWorker({ ...options, log }).then(
    (worker) => {
      log(`serving queue ${JSON.stringify(worker.queue)} at ${options.redis} (${options.concurrency ?? 1} job(s) at once, ${options.threadsPerJob ?? 1} thread(s) each)`);
      stop = () => {
        worker.close().then(
          () => {
            log('stopped');
            process.exit(0);
          },
          (e: unknown) => {
            log(`stopping failed: ${(e as Error).message}`);
            process.exit(1);
          },
        );
      };
      if (signals > 0) stop();
      void worker.stopped.then((reason) => {
        // Stopped by itself (the reason is logged already): a supervisor should restart it.
        if (reason !== null && signals === 0) process.exit(1);
      });
    },
    (e: unknown) => {
      log((e as Error).message);
      process.exit(e instanceof RangeError || e instanceof TypeError ? 2 : 1);
    },
  );
  return 0;
}

/** What `liven submit` was asked: the job, the names of its files, and the queue. */
export interface SubmitRequest {
  redis: string;
  queue: string;
  job: AnalysisJob;
  names: SourceNames;
  wait: boolean;
  json: boolean;
  maxJobBytes: number;
}

/**
 * Parses `liven submit`'s arguments and reads its files as `liven diagnose` would (the same
 * limits, the same one-line DiagnoseError for a file that cannot be read).
 */
export function parseSubmitArgs(argv: readonly string[]): SubmitRequest {
  const { values, on, rest } = takeFlags(argv, ['--redis', '--queue', '--max-job-bytes', '--config'], ['--wait', '--paths']);
  if (rest.some((a) => a === '--report' || a.startsWith('--report='))) throw new DiagnoseError('--report is for liven diagnose; liven submit prints the report');
  if (values.has('--config') && rest.some((a) => a === '--model' || a.startsWith('--model='))) throw new DiagnoseError('--config and --model both name the model');
  const o = parseDiagnoseArgs(values.has('--config') ? [...rest, '--model', values.get('--config')!] : rest);
  if (o.input === null) throw new DiagnoseError('missing --input (liven submit runs the model on a batch)');
  if (!values.has('--redis')) throw new DiagnoseError('missing --redis');
  if (o.json && !on.has('--wait')) throw new DiagnoseError('--json needs --wait (without it, liven submit prints the job id)');
  const maxJobBytes = values.has('--max-job-bytes') ? parseSize('--max-job-bytes', values.get('--max-job-bytes')!) : DEFAULT_MAX_JOB_BYTES;
  const onnx = isOnnxPath(o.model);
  const options = { ...(o.chunk === null ? {} : { chunk: o.chunk }), maxModelBytes: o.maxModelBytes, maxInputBytes: o.maxInputBytes, maxConfigBytes: o.maxConfigBytes };
  const names: SourceNames = {};
  let job: AnalysisJob;
  if (on.has('--paths')) {
    const abs = (p: string) => (isAbsolute(p) ? p : resolve(p));
    job = { model: onnx ? { onnx: abs(o.model) } : { config: abs(o.model), weights: abs(o.weights!) }, input: abs(o.input), options };
  } else {
    // Sizes first, so that files too big to send are not read (the reads below name any other problem).
    const size = (p: string) => {
      try {
        return statSync(p).size;
      } catch {
        return 0;
      }
    };
    const total = size(o.input) + (onnx ? size(o.model) : size(o.weights!));
    if (total > maxJobBytes) throw new DiagnoseError(`the files take ${formatBytes(total)}, more than --max-job-bytes, ${formatBytes(maxJobBytes)} (raise it, or send their paths with --paths)`);
    names.model = o.model;
    names.input = o.input;
    const model = onnx ? { onnx: readFile(o.model, 'model', o.maxModelBytes, '--max-model-bytes') } : { config: readConfig(o.model, o.maxConfigBytes), weights: readFile(o.weights!, 'weights', o.maxModelBytes, '--max-model-bytes') };
    if (!onnx) names.weights = o.weights!;
    job = { model, input: readFile(o.input, 'input', o.maxInputBytes, '--max-input-bytes'), options };
  }
  return { redis: values.get('--redis')!, queue: values.get('--queue') ?? DEFAULT_QUEUE, job, names, wait: on.has('--wait'), json: o.json, maxJobBytes };
}

/**
 * `liven submit ...`: returns 2 for bad arguments or unreadable files; otherwise prints the job
 * id or its report and sets the exit status when done (2: a bad job, 1: the queue failed).
 */
export function runSubmit(argv: readonly string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(submitUsage);
    return 0;
  }
  let request: SubmitRequest;
  try {
    request = parseSubmitArgs(argv);
  } catch (e) {
    if (!(e instanceof DiagnoseError)) throw e;
    console.error(`liven submit: ${e.message}`);
    return 2;
  }
  void submit(request);
  return 0;
}

async function submit(request: SubmitRequest): Promise<void> {
  let queue: AnalysisQueue | null = null;
  try {
    queue = new AnalysisQueue({ redis: request.redis, queue: request.queue, maxJobBytes: request.maxJobBytes });
    const id = await queue.submit(request.job, request.names);
    if (!request.wait) {
      console.log(id);
      return;
    }
    if ((await queue.workers()) === 0) console.error(`liven submit: no liven worker serves queue ${JSON.stringify(queue.queue)} yet; job ${id} waits for one`);
    const report = await queue.result(id);
    if (request.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else if (report.length === 0) console.log('The model has no ReLU, LeakyReLU or PReLU layer to watch.');
    else console.log(formatDiagnoseTable(report));
  } catch (e) {
    console.error(`liven submit: ${(e as Error).message}`);
    process.exitCode = e instanceof AnalysisJobError || e instanceof RangeError || e instanceof TypeError ? 2 : 1;
  } finally {
    await queue?.close().catch(() => {});
  }
}
