// Shared by the linear and conv suites: times nn.Linear / nn.Conv2d forward and
// forward+backward through the module API on the native and JS backends, and PyTorch's
// times for the same shapes at the same thread count, side by side.
import os from 'node:os';
import { Tensor, getNumThreads, manualSeed, nn, setBackend, setNumThreads } from '../../dist/index.js';
import { native } from '../../dist/backend/index.js';
import { filled, formatTime, measure, table } from '../harness.js';
import { describeTorchEnv, hasTorch, torchTimes } from './torch.js';


/** Multiply-adds of one forward (each backward product has as many). */
const filledTensor = (shape, seed) => Tensor.from(filled(shape.reduce((a, b) => a * b, 1), seed), shape);

function macs(c) {
  if (c.layer === 'linear') return c.rows * c.inFeatures * c.outFeatures;
  const oh = c.height + 2 * c.padding - c.kernel + 1;
  const ow = c.width + 2 * c.padding - c.kernel + 1;
  return c.batch * c.outChannels * c.inChannels * c.kernel * c.kernel * oh * ow;
}

/** The case at another batch size (the JS backend is timed on a smaller one). */
function withBatch(c, n) {
  return c.layer === 'linear' ? { ...c, rows: n } : { ...c, batch: n };
}

function batchOf(c) {
  return c.layer === 'linear' ? c.rows : c.batch;
}

/** `{ forward, 'forward+backward' }` closures over a fresh layer and input. */
export function calls(c) {
  manualSeed(1);
  const m = c.layer === 'linear' ? new nn.Linear(c.inFeatures, c.outFeatures) : new nn.Conv2d(c.inChannels, c.outChannels, c.kernel, { padding: c.padding });
  const x = c.layer === 'linear' ? filledTensor([c.rows, c.inFeatures], 2) : filledTensor([c.batch, c.inChannels, c.height, c.width], 2);
  const gy = filledTensor([...m.forward(x).shape], 3);
  return {
    forward: () => m.forward(x),
    'forward+backward': () => {
      m.forward(x);
      m.backward(gy);
    },
  };
}

/** Median seconds of `reps` direct calls, for the JS backend's slow calls. */
function slow(fn, reps) {
  fn();
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push((performance.now() - t0) / 1000);
  }
  return t.sort((a, b) => a - b)[Math.floor(reps / 2)];
}

export async function runLayerSuite(cases, { quick = false, log = console.log } = {}) {
  if (!native) throw new Error('the native addon is not built: run `npm run build`');
  const torch = hasTorch();
  const threadCounts = [...new Set([1, Math.min(2, os.cpus().length)])];
  const passes = ['forward', 'forward+backward'];
  const saved = getNumThreads();
  const rows = [];
  const results = [];
  // The JS backend does not thread: time it once, at a smaller batch, scaled linearly.
  setBackend('js');
  const js = {};
  for (const c of cases) {
    const small = withBatch(c, c.jsRows ?? c.jsBatch);
    const f = calls(small);
    for (const p of passes) js[`${c.name} ${p}`] = (slow(f[p], quick ? 1 : 3) * batchOf(c)) / batchOf(small);
  }
  const median = (xs) => (xs.length === 0 ? undefined : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]);
  // Rounds alternate liven and PyTorch, so that a burst of load from other jobs on the
  // machine hits both: each column is the median over the rounds.
  const rounds = quick ? 1 : 3;
  try {
    for (const threads of threadCounts) {
      const torchCases = cases.flatMap((c) => passes.map((p) => ({ ...c, name: `${c.name} ${p}`, pass: p })));
      const samples = { native: {}, torch: {}, skx: {} };
      const add = (which, times) => {
        for (const [k, v] of Object.entries(times)) (samples[which][k] ??= []).push(v);
      };
      for (let r = 0; r < rounds; r++) {
        setNumThreads(threads);
        setBackend('native');
        const list = cases.flatMap((c) => {
          const f = calls(c);
          return passes.map((p) => [`${c.name} ${p}`, f[p]]);
        });
        add('native', await measure(list, { quick }));
        if (torch) {
          add('torch', torchTimes(torchCases, threads, { quick }).times);
          add('skx', torchTimes(torchCases, threads, { quick, variant: 'tuned' }).times);
        }
      }
      for (const c of cases) {
        for (const p of passes) {
          const name = `${c.name} ${p}`;
          const tn = median(samples.native[name]);
          const pt = median(samples.torch[name] ?? []);
          const skx = median(samples.skx[name] ?? []);
          const flops = 2 * macs(c) * (p === 'forward' ? 1 : 3);
          const gf = (s) => (s === undefined ? '-' : `${(flops / s / 1e9).toFixed(1)}`);
          const ratio = (s) => (s === undefined ? '-' : `${(s / tn).toFixed(2)}x`);
          rows.push([c.name, p, String(threads), formatTime(tn), gf(tn), formatTime(js[name]), `${(js[name] / tn).toFixed(0)}x`, pt === undefined ? '-' : formatTime(pt), gf(pt), ratio(pt), gf(skx), ratio(skx)]);
          results.push({ name, threads, native: tn, js: js[name], torch: pt, torchSkylakeX: skx, flops });
        }
      }
    }
  } finally {
    setNumThreads(saved);
    setBackend('native');
  }
  log(table(['layer', 'pass', 'threads', 'native', 'GFLOP/s', 'js', 'vs js', 'PyTorch', 'GFLOP/s', 'vs PyTorch', 'PyTorch tuned GFLOP/s', 'vs tuned'], rows));
  if (!torch) log('\n(PyTorch columns empty: /usr/bin/python3 cannot import torch)');
  log(`\nMedians over ${rounds} round(s) alternating liven and PyTorch. "vs X" = X\'s time / native time (above 1: native is faster). js: timed at a smaller batch and scaled by the batch ratio (its loops are linear in the batch).`);
  log(`${describeTorchEnv()}.`);
  return { results };
}
