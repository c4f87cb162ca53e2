// BatchNorm2d (training) and GroupNorm(32) forward+backward on [32, 64, 56, 56]: native kernels
// against the JS backend, PyTorch (benches/torch/norm.py, same thread count) and the copy bound.
//
// The copy bound is the time to stream the bytes a forward+backward must move at the rate of a
// plain copy (`native.copy`, same threads): forward reads x and writes y, backward reads x and
// dy and writes dx, 5 × 4n bytes. Everything else (the statistics pass, the second read in each
// backward) is served from L2 while a channel's or group's data is still there.
//
// The machines are shared and loaded, so the contenders run interleaved, one call each per
// round, and each gets the median over rounds; PyTorch runs in its own process right after,
// interleaved with its own copy, which gives a second, load-independent comparison:
// (time / the same process's copy time) for both.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Tensor, getNumThreads, nn, setBackend } from '../../dist/index.js';
import { native } from '../../dist/backend/index.js';
import { jsKernels } from '../../dist/backend/js/index.js';
import { filled, formatTime, table } from '../harness.js';
import { torchEnv } from './torch.js';


/** Median seconds per call of each `[name, fn]`, run interleaved for `rounds` rounds after two warm-up rounds. */
function interleaved(cases, rounds) {
  const times = Object.fromEntries(cases.map(([name]) => [name, []]));
  for (let r = 0; r < rounds + 2; r++) {
    for (const [name, fn] of cases) {
      const t0 = performance.now();
      fn();
      if (r >= 2) times[name].push((performance.now() - t0) / 1e3);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([name, ts]) => [name, ts.sort((a, b) => a - b)[ts.length >> 1]]));
}

/** PyTorch's medians for the same shapes and threads, or an error string. */
export function torchTimes(quick, threads = getNumThreads(), variant = 'defaults') {
  const script = fileURLToPath(new URL('../torch/norm.py', import.meta.url));
  const r = spawnSync('/usr/bin/python3', [script, String(threads), quick ? '1' : '0'], { env: torchEnv(threads, variant), encoding: 'utf8' });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'failed').trim().split('\n').pop() };
  return JSON.parse(r.stdout);
}

export async function run({ quick = false, log = console.log } = {}) {
  if (!native) throw new Error('the native addon is not built: run `npm run build`');
  const shape = quick ? [8, 64, 28, 28] : [32, 64, 56, 56];
  const [n, c] = shape;
  const inner = shape[2] * shape[3];
  const size = n * c * inner;
  const groups = 32;
  const x = filled(size, 1, { offset: 0.5 });
  const dy = filled(size, 2);
  const y = new Float32Array(size);
  const dx = new Float32Array(size);
  const w = filled(c, 3, { offset: 1 });
  const b = filled(c, 4);
  const [mean, variance, dw, db] = [0, 0, 0, 0].map(() => new Float32Array(c));
  const [gmean, gvar] = [0, 0].map(() => new Float32Array(n * groups));
  const bn = (k) => () => {
    k.batchNormForwardTrain(x, w, b, y, mean, variance, inner, 1e-5);
    k.batchNormBackward(x, dy, w, mean, variance, dx, dw, db, inner, 1e-5, true);
  };
  const gn = (k) => () => {
    k.groupNormForward(x, w, b, y, gmean, gvar, groups, inner, 1e-5);
    k.groupNormBackward(x, dy, w, gmean, gvar, dx, dw, db, groups, inner, 1e-5);
  };
  // The modules as a user calls them: fresh output and gradient tensors each call.
  setBackend('native');
  const xt = Tensor.from(x, shape);
  const gt = Tensor.from(dy, shape);
  const module = (m) => () => {
    m.forward(xt);
    m.backward(gt);
  };
  const t = interleaved([
    ['bn native', bn(native)],
    ['gn native', gn(native)],
    ['copy', () => native.copy(x, y)],
    ['bn module', module(new nn.BatchNorm2d(c))],
    ['gn module', module(new nn.GroupNorm(groups, c))],
    ['bn js', bn(jsKernels)],
    ['gn js', gn(jsKernels)],
  ], quick ? 5 : 25);
  const torch = torchTimes(quick);
  const bound = 2.5 * t.copy; // 5 × 4n bytes at the rate a copy moves 2 × 4n
  const rows = [];
  for (const [label, key, tname] of [['BatchNorm2d (training)', 'bn', 'BatchNorm2d'], [`GroupNorm(${groups})`, 'gn', 'GroupNorm(32)']]) {
    const tn = t[`${key} native`];
    const tt = torch[tname];
    const ratio = tt ? `${(tt / tn).toFixed(2)}x` : '-';
    // Each side's time in units of its own process's copy, which cancels most of the load.
    const normalised = tt ? `${(tt / torch.copy / (tn / t.copy)).toFixed(2)}x` : '-';
    rows.push([label, formatTime(tn), formatTime(t[`${key} module`]), formatTime(t[`${key} js`]), tt ? formatTime(tt) : torch.error, ratio, normalised, `${(tn / bound).toFixed(2)}x`]);
  }
  log(`shape [${shape.join(', ')}], forward+backward, ${getNumThreads()} threads; native copy of 4n bytes: ${formatTime(t.copy)} (copy bound, 5 × 4n bytes: ${formatTime(bound)}); PyTorch ${torch.torch ?? '-'} with ${torch.threads ?? '-'} threads, its copy: ${torch.copy ? formatTime(torch.copy) : '-'}`);
  log('');
  log(table(['layer', 'native kernels', 'nn module (allocating)', 'js', 'PyTorch', 'PyTorch / native', 'same, in copy units', 'native / copy bound'], rows));
  log('');
  const others = otherLayers(quick);
  log(table(['layer, forward+backward (kernels)', 'native', 'js', 'native speed-up', 'native / copy bound'], others));
  return { t, torch, bound, others };
}

/** The other paths: [N, C] BatchNorm (row-wise), LayerNorm, L2Norm along channels and along the last dim. */
function otherLayers(quick) {
  const q = quick ? 4 : 1;
  const specs = [
    ['BatchNorm1d [N, C]', [1024 / q, 512], (k, a) => {
      k.batchNormForwardTrain(a.x, a.w, a.b, a.y, a.s1, a.s2, 1, 1e-5);
      k.batchNormBackward(a.x, a.dy, a.w, a.s1, a.s2, a.dx, a.dw, a.db, 1, 1e-5, true);
    }, (shape) => [shape[1], shape[1]]],
    ['LayerNorm(768)', [4096 / q, 768], (k, a) => {
      k.layerNormForward(a.x, a.w, a.b, a.y, a.s1, a.s2, 1e-5);
      k.layerNormBackward(a.x, a.dy, a.w, a.s1, a.s2, a.dx, a.dw, a.db, 1e-5);
    }, (shape) => [shape[1], shape[0]]],
    ['L2Norm dim 1, scale [N, 512, 28, 28]', [8 / q, 512, 28, 28], (k, a) => {
      k.l2NormForward(a.x, a.w, a.y, a.s1, 784, 1e-12);
      k.l2NormBackward(a.x, a.dy, a.w, a.s1, a.dx, a.dw, 784, 1e-12);
    }, (shape) => [shape[1], shape[0] * 784]],
    ['L2Norm dim -1 [N, 256]', [16384 / q, 256], (k, a) => {
      k.l2NormForward(a.x, a.w, a.y, a.s1, 1, 1e-12);
      k.l2NormBackward(a.x, a.dy, a.w, a.s1, a.dx, a.dw, 1, 1e-12);
    }, (shape) => [shape[1], shape[0]]],
  ];
  const rows = [];
  for (const [label, shape, call, sizes] of specs) {
    const size = shape.reduce((p, d) => p * d, 1);
    const [params, stats] = sizes(shape);
    const a = {
      x: filled(size, 5), dy: filled(size, 6), y: new Float32Array(size), dx: new Float32Array(size),
      w: filled(params, 7, { offset: 1 }), b: filled(params, 8), dw: new Float32Array(params), db: new Float32Array(params),
      s1: new Float32Array(stats), s2: new Float32Array(stats),
    };
    const t = interleaved([
      ['native', () => call(native, a)],
      ['js', () => call(jsKernels, a)],
      ['copy', () => native.copy(a.x, a.y)],
    ], quick ? 5 : 25);
    rows.push([`${label} ${JSON.stringify(shape)}`, formatTime(t.native), formatTime(t.js), `${(t.js / t.native).toFixed(1)}x`, `${(t.native / (2.5 * t.copy)).toFixed(2)}x`]);
  }
  return rows;
}
