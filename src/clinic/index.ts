// `liven clinic` (what `npm start` runs): the dying-ReLU problem reproduced on the bundled MNIST
// digits, measured, and each remedy's effect side by side.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getBackend, getNumThreads, setNumThreads, simdLevel } from '../backend/index.js';
import { loadDigits, subset, trainTestSplit } from '../data/mnist.js';
import { renderComparison } from '../diag/report.js';
import { experiments, type Context, type ExperimentResult, type Table } from './experiments.js';

export interface ClinicOptions {
  seed: number;
  quick: boolean;
  only: string[] | null;
  out: string;
  threads: number | null;
}

export const clinicUsage = `usage: liven clinic [--seed N] [--quick] [--only ${experiments.map((e) => e.id).join(',')}] [--out DIR] [--threads N]

  --seed N      seed of every run (default 0): the same seed gives the same numbers
  --quick       a seconds-long smoke run on a few hundred digits (numbers are not meaningful)
  --only LIST   run only these experiments (comma-separated)
  --out DIR     where report.html and results.json go (default: out)
  --threads N   threads for the native kernels (default: all cores)`;

/** Parses the clinic's flags; throws an Error whose message is for the user. */
export function parseClinicArgs(argv: string[]): ClinicOptions {
  const o: ClinicOptions = { seed: 0, quick: false, only: null, out: 'out', threads: null };
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
      case '--threads':
        o.threads = integer(value(i++, a), a, 1);
        break;
      case '--out':
        o.out = value(i++, a);
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
  return o;
}

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

export interface ClinicResult {
  experiments: { id: string; title: string; result: ExperimentResult }[];
  seconds: number;
}

export function runClinic(o: ClinicOptions, out: (line: string) => void = console.log): ClinicResult {
  const started = performance.now();
  if (o.threads !== null) setNumThreads(o.threads);
  const digits = loadDigits();
  let data = trainTestSplit(digits, { seed: o.seed });
  if (o.quick) {
    const first = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
    data = { train: subset(data.train, first(256)), test: subset(data.test, first(200)) };
  }
  out(`liven clinic: the dying ReLU on ${data.train.count} MNIST training digits (${data.test.count} held out)`);
  out(`backend ${getBackend()}${simdLevel() ? ` (${simdLevel()})` : ''}, ${getNumThreads()} threads, seed ${o.seed}${o.quick ? ', --quick (smoke run: the numbers are not meaningful)' : ''}\n`);
  const progress = progressReporter();
  const chosen = experiments.filter((e) => o.only === null || o.only.includes(e.id));
  const results: ClinicResult['experiments'] = [];
  for (const e of chosen) {
    const ctx: Context = { data, seed: o.seed, quick: o.quick, progress: (label, done) => progress.update(`${e.id}: ${label}`, done) };
    const result = e.run(ctx);
    progress.end();
    out(e.title);
    for (const t of result.tables) out(`${formatTable(t)}\n`);
    out(`Verdict: ${result.verdict}\n`);
    results.push({ id: e.id, title: e.title, result });
  }
  const seconds = (performance.now() - started) / 1000;
  const dir = resolve(o.out);
  mkdirSync(dir, { recursive: true });
  const html = renderComparison({
    title: 'liven clinic: the dying ReLU on MNIST digits',
    intro: [`${data.train.count} training digits, ${data.test.count} held out; seed ${o.seed}; backend ${getBackend()}, ${getNumThreads()} threads; ${seconds.toFixed(0)} s.`, 'Dead: pre-activation <= 0 for every sample and position (per batch in the curves, over the whole test set in the tables). Nearly dead: not dead, but max |output| below the threshold.'],
    sections: results.map(({ title, result }) => ({ title, runs: result.runs, tables: result.tables, verdict: result.verdict })),
  });
  writeFileSync(join(dir, 'report.html'), html);
  // The numbers without the per-step histories, for scripts and tests.
  const summary = results.map(({ id, title, result }) => ({ id, title, verdict: result.verdict, tables: result.tables, runs: result.runs.map(({ history: _h, warnings, ...r }) => ({ ...r, warnings: warnings.length })) }));
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify({ seed: o.seed, quick: o.quick, seconds, experiments: summary }, null, 1)}\n`);
  out(`Report: ${join(dir, 'report.html')}`);
  out(`Numbers: ${join(dir, 'results.json')} (${seconds.toFixed(0)} s in all)`);
  return { experiments: results, seconds };
}
