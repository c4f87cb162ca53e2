// Pooling, softmax and losses on the shapes: [32, 64, 56, 56] for the pools, [4096, 1000]
// for softmax and cross-entropy; forward+backward kernel calls on preallocated arrays, native
// against the JS backend, PyTorch (benches/torch/pool.py at the same thread count) and the copy
// bound: the time a plain copy at the same threads takes to move the bytes the pair must move.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { getNumThreads } from '../../dist/index.js';
import { native } from '../../dist/backend/index.js';
import { jsKernels } from '../../dist/backend/js/index.js';
import { filled, formatTime, measure, table } from '../harness.js';


/** PyTorch's medians from benches/torch/pool.py, or null (with the reason) when it cannot run. */
function torchTimes(quick) {
  const script = fileURLToPath(new URL('../torch/pool.py', import.meta.url));
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  try {
    const out = execFileSync('/usr/bin/python3', [script, '--threads', String(getNumThreads()), ...(quick ? ['--quick'] : [])], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(out);
  } catch (e) {
    return { error: String(e.message).split('\n')[0] };
  }
}

/** [name, bytes moved by forward+backward, (kernels) => () => call, PyTorch's name]. */
function ops() {
  const [N, C, H, W] = [32, 64, 56, 56];
  const planes = N * C;
  const inSize = planes * H * W;
  const x = filled(inSize, 1);
  const dx = new Float32Array(inSize);
  const g3 = { h: H, w: W, oh: 28, ow: 28, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1 };
  const g2 = { ...g3, kh: 2, kw: 2, ph: 0, pw: 0 };
  const outSize = planes * 28 * 28;
  const y = new Float32Array(outSize);
  const dy = filled(outSize, 2);
  const idx = new Uint32Array(outSize);
  const gy = new Float32Array(planes);
  const gdy = filled(planes, 3);
  const gidx = new Uint32Array(planes);
  const [R, K] = [4096, 1000];
  const logits = filled(R * K, 4, { scale: 3 });
  const sy = new Float32Array(R * K);
  const sdy = filled(R * K, 5);
  const sdx = new Float32Array(R * K);
  const target = Int32Array.from({ length: R }, (_, i) => (i * 7919) % K);
  const stats = new Float32Array(2 * R);
  const f = 4;
  return {
    inSize,
    x,
    list: [
      // forward reads x, writes y and the argmax (4 bytes each); backward reads dy and the argmax, writes dx
      ['MaxPool2d 3x3/2 pad 1', f * (2 * inSize + 4 * outSize), (k) => () => { k.maxPool2dForward(x, y, idx, planes, g3); k.maxPool2dBackward(dy, idx, dx, planes, g3); }],
      ['AvgPool2d 3x3/2 pad 1', f * (2 * inSize + 2 * outSize), (k) => () => { k.avgPool2dForward(x, y, planes, g3, true); k.avgPool2dBackward(dy, dx, planes, g3, true); }],
      ['AvgPool2d 2x2/2', f * (2 * inSize + 2 * outSize), (k) => () => { k.avgPool2dForward(x, y, planes, g2, true); k.avgPool2dBackward(dy, dx, planes, g2, true); }],
      ['GlobalAvgPool2d', f * (2 * inSize + 2 * planes), (k) => () => { k.globalAvgPoolForward(x, gy, H * W); k.globalAvgPoolBackward(gdy, dx, H * W); }],
      ['GlobalMaxPool2d', f * (2 * inSize + 4 * planes), (k) => () => { k.globalMaxPoolForward(x, gy, gidx, H * W); k.globalMaxPoolBackward(gdy, gidx, dx, H * W); }],
      // forward reads x, writes y; backward reads y and dy, writes dx
      ['Softmax [4096, 1000]', f * 5 * R * K, (k) => () => { k.softmaxForward(logits, sy, R, K, 1); k.softmaxBackward(sy, sdy, sdx, R, K, 1); }],
      ['LogSoftmax [4096, 1000]', f * 5 * R * K, (k) => () => { k.logSoftmaxForward(logits, sy, R, K, 1); k.logSoftmaxBackward(sy, sdy, sdx, R, K, 1); }],
      // forward reads x; backward reads x, writes dx
      ['CrossEntropyLoss [4096, 1000], smoothing 0.1', f * 3 * R * K, (k) => () => { k.crossEntropyForward(logits, target, stats, R, K, 0.1); k.crossEntropyBackward(logits, target, stats, sdx, R, K, 0.1, 1 / R); }],
    ],
  };
}

/**
 * CPU seconds per call (user + system, the best of 5 batches): on a loaded machine a kernel
 * that waits for a core is not charged for the wait, as it is in wall time. Meaningful with
 * one thread (`--threads 1`), where it is the kernel's own time.
 */
function cpuTime(fn, quick) {
  fn();
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    if (performance.now() - t0 >= (quick ? 5 : 50)) break;
    reps *= 2;
  }
  let best = Infinity;
  for (let b = 0; b < (quick ? 2 : 5); b++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) fn();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1e6 / reps);
  }
  return best;
}

export async function run({ quick = false, log = console.log } = {}) {
  if (!native) throw new Error('the native addon is not built: run `npm run build`');
  const { list, inSize, x } = ops();
  const copyOut = new Float32Array(inSize);
  const cases = [['copy native', () => native.copy(x, copyOut)]];
  for (const [name, , make] of list) cases.push([`${name} native`, make(native)], [`${name} js`, make(jsKernels)]);
  const t = await measure(cases, { quick });
  const torch = torchTimes(quick);
  const copyBytesPerSecond = (2 * 4 * inSize) / t['copy native'];
  const copyCpu = cpuTime(cases[0][1], quick);
  const rows = [];
  const cpuRows = [];
  const results = [];
  for (const [name, bytes, make] of list) {
    const tn = t[`${name} native`];
    const tj = t[`${name} js`];
    const tt = torch[name];
    const bound = bytes / copyBytesPerSecond;
    rows.push([name, formatTime(tn), formatTime(tj), `${(tj / tn).toFixed(1)}x`, tt ? formatTime(tt) : '—', tt ? `${(tt / tn).toFixed(2)}x` : '—', `${(bytes / 1e6).toFixed(0)} MB`, formatTime(bound), `${(tn / bound).toFixed(2)}x`]);
    const cpu = cpuTime(make(native), quick);
    const cpuBound = (bytes / (2 * 4 * inSize)) * copyCpu;
    const tc = torch[`cpu ${name}`];
    cpuRows.push([name, formatTime(cpu), tc ? formatTime(tc) : '—', tc ? `${(tc / cpu).toFixed(2)}x` : '—', formatTime(cpuBound), `${(cpu / cpuBound).toFixed(2)}x`]);
    results.push({ name, native: tn, js: tj, torch: tt ?? null, bytes, bound, cpu, cpuBound });
  }
  log(table(['forward+backward', 'native', 'js', 'vs js', 'PyTorch', 'vs PyTorch', 'bytes', 'copy bound', 'native / bound'], rows));
  log('');
  log("CPU time (best of 5 batches): native kernels against PyTorch's (its process time) and against the copy's CPU time for the same bytes:");
  log('');
  log(table(['forward+backward', 'native CPU', 'PyTorch CPU', 'vs PyTorch', 'copy bound CPU', 'native / bound'], cpuRows));
  log('');
  const copyTorch = torch['copy [32, 64, 56, 56]'];
  log(`copy of [32, 64, 56, 56] (25.7 MB): native ${formatTime(t['copy native'])} (${(copyBytesPerSecond / 1e9).toFixed(1)} GB/s)` + (copyTorch ? `, PyTorch ${formatTime(copyTorch)}` : `; PyTorch: ${torch.error ?? 'not run'}`));
  return { results };
}
