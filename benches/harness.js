// A small layer over tinybench: every contender runs in the same process, one after another,
// each sample batches enough calls to last well above the timer's resolution, and results are
// medians per call. These machines are noisy: compare ratios within one run, not absolute times.
import { Bench } from 'tinybench';
import os from 'node:os';

/** Calls per sample so that one sample lasts about `targetMs`. */
function repsFor(fn, targetMs) {
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    const ms = performance.now() - t0;
    if (ms >= targetMs || reps >= 1 << 20) return reps;
    reps = Math.min(reps * (ms < targetMs / 100 ? 16 : 2), 1 << 20);
  }
}

/**
 * Measures each `[name, fn]` and returns `{ name: medianSecondsPerCall }`.
 * `quick` trades precision for a run of a few seconds (used by the smoke test).
 */
export async function measure(cases, { quick = false } = {}) {
  const bench = new Bench({ time: quick ? 20 : 400, iterations: quick ? 3 : 10, warmup: true, warmupTime: quick ? 5 : 50 });
  const reps = new Map();
  for (const [name, fn] of cases) {
    const r = repsFor(fn, quick ? 0.2 : 2);
    reps.set(name, r);
    bench.add(name, () => {
      for (let i = 0; i < r; i++) fn();
    });
  }
  await bench.run();
  const out = {};
  for (const task of bench.tasks) {
    if (task.result.state !== 'completed') throw new Error(`benchmark ${task.name}: ${task.result.state} ${task.result.error ?? ''}`);
    out[task.name] = task.result.latency.p50 / 1000 / reps.get(task.name);
  }
  return out;
}

/**
 * Deterministic values in [offset - scale, offset + scale) (a 32-bit LCG), so every suite feeds
 * its contenders the same data from run to run.
 */
export function filled(n, seed, { scale = 1, offset = 0 } = {}) {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = offset + (s / 2 ** 31 - 1) * scale;
  }
  return a;
}

export function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()}-${os.arch()}`;
}

export function formatTime(s) {
  if (s < 1e-6) return `${(s * 1e9).toFixed(0)} ns`;
  if (s < 1e-3) return `${(s * 1e6).toFixed(2)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(2)} ms`;
  return `${s.toFixed(2)} s`;
}

/** Prints rows (arrays of strings) as a Markdown table. */
export function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}
