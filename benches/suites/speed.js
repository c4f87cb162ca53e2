// Issue 15's table: liven against PyTorch at its best (the faster of its "defaults" and "tuned"
// environments, row by row; benches/suites/torch.js) at 1 and 2 threads, and ReLU with fresh
// outputs against copies of reused buffers. Rounds alternate liven and PyTorch so that load
// from other jobs hits both; every figure is a median over the rounds.
import os from 'node:os';
import { Tensor, getNumThreads, nn, setNumThreads } from '../../dist/index.js';
import { native } from '../../dist/backend/index.js';
import { loadDigits, trainTestSplit } from '../../dist/data/mnist.js';
import { filled, formatTime, measure, table } from '../harness.js';
import { calls } from './layers.js';
import { cases as linearCases } from './linear.js';
import { cases as convCases } from './conv.js';
import { torchTimes as torchNormTimes } from './norm.js';
import { describeTorchEnv, hasTorch, torchTimes } from './torch.js';
import { cnn, livenStepper, mlp, rate, torchRates } from './training.js';

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** The shapes: Linear 512×1024→1024 and Conv2d 3×3 64→64 on [32, 64, 28, 28]. */
const LINEAR = linearCases[0];
const CONV = convCases[0];
const BN_SHAPE = [32, 64, 56, 56];

/** liven's seconds per forward+backward for the three layer rows. */
async function livenLayers(quick) {
  const shape = quick ? [8, 64, 28, 28] : BN_SHAPE;
  const x = Tensor.from(filled(shape.reduce((a, b) => a * b), 1), shape);
  const g = Tensor.from(filled(x.size, 2), shape);
  const bn = new nn.BatchNorm2d(shape[1]);
  const t = await measure(
    [
      ['linear', calls(LINEAR)['forward+backward']],
      ['conv', calls(CONV)['forward+backward']],
      ['bn', () => { bn.forward(x); bn.backward(g); }],
    ],
    { quick },
  );
  return t;
}

/** PyTorch's seconds for the same rows in one environment variant. */
function torchLayers(threads, quick, variant) {
  const cases = [
    { ...LINEAR, name: 'linear', pass: 'forward+backward' },
    { ...CONV, name: 'conv', pass: 'forward+backward' },
  ];
  const { times } = torchTimes(cases, threads, { quick, variant });
  const norm = torchNormTimes(quick, threads, variant);
  return { ...times, bn: norm.BatchNorm2d };
}

/**
 * ReLU forward+backward on 16M floats with fresh outputs (as nn.ReLU gives them), against three
 * copies of 16M floats between reused buffers, in `runs` runs: the median ratio (copies' time /
 * ReLU's time) and the spread of the ReLU's times (max / min), and of the copies' times. The event loop turns between
 * calls, as in an async training loop; that is when collected outputs return to the pool.
 */
async function freshOutputs(quick) {
  const n = quick ? 1 << 20 : 1 << 24;
  const runs = quick ? 3 : 9;
  const x = Tensor.from(filled(n, 1), [n]);
  const gy = Tensor.from(filled(n, 2), [n]);
  const [a, b] = [new Float32Array(n), new Float32Array(n)];
  const relu = new nn.ReLU();
  const fresh = () => { relu.forward(x); relu.backward(gy); };
  const copies = () => { native.copy(x.data, a); native.copy(gy.data, b); native.copy(a, b); };
  // Warm-up: the pool grows until it holds the blocks in flight between two collections (a
  // few 64 MB blocks), each growth a fresh block's page faults; a training loop pays that once.
  for (let i = 0; i < 10; i++) { fresh(); copies(); await tick(); }
  const calls = 5;
  const faults0 = process.resourceUsage().minorPageFault;
  const ratios = [];
  const times = [];
  const copyTimes = [];
  for (let r = 0; r < runs; r++) {
    let tf = 0;
    for (let i = 0; i < calls; i++) {
      const t0 = performance.now();
      fresh();
      tf += performance.now() - t0;
      await tick();
    }
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) copies();
    const tc = performance.now() - t0;
    ratios.push(tc / tf);
    times.push(tf / calls);
    copyTimes.push(tc / calls);
  }
  const faults = (process.resourceUsage().minorPageFault - faults0) / (runs * calls);
  const spread = (t) => Math.max(...t) / Math.min(...t);
  // The copies' own spread is the machine's noise (memory bandwidth shared with other VMs): the
  // ReLU's spread beyond it is liven's.
  return { ratio: median(ratios), spread: spread(times), copySpread: spread(copyTimes), time: median(times) / 1000, faults };
}

export async function run({ quick = false, log = console.log } = {}) {
  if (!native) throw new Error('the native addon is not built: run `npm run build`');
  const torch = hasTorch();
  const threadCounts = [...new Set([1, Math.min(2, os.cpus().length)])];
  const rounds = quick ? 1 : 3;
  const { train } = trainTestSplit(loadDigits(), { seed: 0 });
  const steps = quick ? 5 : 300;
  const budget = quick ? 0.3 : 3;
  const saved = getNumThreads();
  const rows = [];
  const results = [];
  try {
    for (const threads of threadCounts) {
      setNumThreads(threads);
      const samples = {};
      const add = (who, values) => {
        for (const [k, v] of Object.entries(values)) if (typeof v === 'number') ((samples[who] ??= {})[k] ??= []).push(v);
      };
      for (let r = 0; r < rounds; r++) {
        add('liven', await livenLayers(quick));
        add('liven', {
          mlp: await rate(livenStepper(mlp(), train, false), steps, 1, budget),
          cnn: await rate(livenStepper(cnn(), train, true), steps, 1, budget),
        });
        if (!torch) continue;
        for (const variant of ['defaults', 'tuned']) {
          add(variant, torchLayers(threads, quick, variant));
          const rates = torchRates(train, threads, steps, 1, variant);
          add(variant, { mlp: rates.mlp, cnn: rates.cnn });
        }
      }
      const m = (who, k) => (samples[who]?.[k] ? median(samples[who][k]) : undefined);
      const layerRows = [
        ['Linear 512×1024→1024, fwd+bwd', 'linear', '1.0 (2 threads), 1.0 (1)'],
        ['Conv2d 3×3 64→64, [32, 64, 28, 28], fwd+bwd', 'conv', '1.0 (2 threads), 1.2 (1)'],
        [`BatchNorm2d [${(quick ? [8, 64, 28, 28] : BN_SHAPE).join(', ')}], fwd+bwd`, 'bn', '1.0'],
      ];
      for (const [label, k, target] of layerRows) {
        const liven = m('liven', k);
        const [variant, best] = [['defaults', m('defaults', k)], ['tuned', m('tuned', k)]].filter(([, v]) => v !== undefined).sort((p, q) => p[1] - q[1])[0] ?? [];
        rows.push([label, String(threads), formatTime(liven), best ? formatTime(best) : '-', variant ?? '-', best ? `${(best / liven).toFixed(2)}x` : '-', target]);
        results.push({ name: k, threads, liven, torch: best, variant });
      }
      for (const [label, k] of [['MLP 784-256-128-10 training (images/s)', 'mlp'], ['small CNN training (images/s)', 'cnn']]) {
        const liven = m('liven', k);
        const [variant, best] = [['defaults', m('defaults', k)], ['tuned', m('tuned', k)]].filter(([, v]) => v !== undefined).sort((p, q) => q[1] - p[1])[0] ?? [];
        const fmt = (v) => Math.round(v).toLocaleString('en');
        rows.push([label, String(threads), fmt(liven), best ? fmt(best) : '-', variant ?? '-', best ? `${(liven / best).toFixed(2)}x` : '-', '1.0']);
        results.push({ name: k, threads, liven, torch: best, variant });
      }
      const f = await freshOutputs(quick);
      rows.push([`ReLU fwd+bwd on ${quick ? '1M' : '16M'} floats, fresh outputs (${formatTime(f.time)}, ${f.faults.toFixed(0)} page faults/call, spread ${f.spread.toFixed(2)}, the copies' ${f.copySpread.toFixed(2)})`, String(threads), formatTime(f.time), '3 copies', '-', `${f.ratio.toFixed(2)} of 3 copies`, '0.7, spread ≤ 1.3']);
      results.push({ name: 'fresh', threads, ...f });
    }
  } finally {
    setNumThreads(saved);
  }
  log(table(['row', 'threads', 'liven', 'PyTorch at its best', 'its env', 'liven speed-up', 'target'], rows));
  log(`\nMedians over ${rounds} round(s) alternating liven and both PyTorch environments. "liven speed-up" = PyTorch's time / liven's (training: liven's images/s / PyTorch's). ${torch ? describeTorchEnv() : 'PyTorch columns empty: /usr/bin/python3 cannot import torch'}.`);
  log('The ResNet-18 training step of the issue has its own suite: npm run bench -- resnet.');
  return { results };
}
