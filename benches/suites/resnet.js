// One ResNet-18 training step (models.resnet18({ numClasses: 10 }), batch 16 of 3×32×32,
// cross-entropy, backward, SGD with momentum 0.9) at 1 and 2 threads: liven native against
// PyTorch's torchvision resnet18 (benches/torch/resnet.py) at the same thread count.
//
// PyTorch runs twice per thread count, with its defaults and with OPENBLAS_CORETYPE set for
// this CPU and OMP_WAIT_POLICY=PASSIVE (OpenMP threads that spin while waiting lose badly on a
// shared, loaded machine); both are shown, and the speed-up is against the faster. Times are
// medians over steps.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tensor, getNumThreads, manualSeed, models, nn, optim, setBackend, setNumThreads } from '../../dist/index.js';
import { native } from '../../dist/backend/index.js';
import { filled, formatTime, table } from '../harness.js';

const BATCH = 16;

/** Median seconds of liven's training step with `threads` threads. */
function livenStep(threads, steps, warmup) {
  setNumThreads(threads);
  manualSeed(0);
  const model = models.resnet18({ numClasses: 10 });
  const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const lossFn = new nn.CrossEntropyLoss();
  const x = Tensor.from(filled(BATCH * 3 * 32 * 32, 1), [BATCH, 3, 32, 32]);
  const target = Int32Array.from({ length: BATCH }, (_, i) => (i * 7) % 10);
  const times = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    opt.zeroGrad();
    lossFn.forward(model.forward(x), target);
    model.backward(lossFn.backward(), { inputGrad: false });
    opt.step();
    if (i >= warmup) times.push((performance.now() - t0) / 1e3);
  }
  return times.sort((a, b) => a - b)[times.length >> 1];
}

/** PyTorch's median step at `threads` threads with `extraEnv`, or { error }. */
function torchStep(threads, quick, extraEnv) {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  Object.assign(env, extraEnv);
  const script = fileURLToPath(new URL('../torch/resnet.py', import.meta.url));
  const r = spawnSync('/usr/bin/python3', [script, String(threads), quick ? '1' : '0'], { env, encoding: 'utf8' });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'failed').trim().split('\n').pop() };
  return JSON.parse(r.stdout);
}

export async function run({ quick = false, log = console.log } = {}) {
  if (!native) throw new Error('the native addon is not built: run `npm run build`');
  setBackend('native');
  const before = getNumThreads();
  // Debian's OpenBLAS 0.3.21 does not recognise recent CPUs and falls back to SSE3 kernels;
  // on an AVX-512 machine (Intel or AMD) SkylakeX selects its AVX-512 kernels.
  const tuned = { OMP_WAIT_POLICY: 'PASSIVE' };
  if (/\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8'))) tuned.OPENBLAS_CORETYPE = 'SkylakeX';
  const tunedLabel = Object.entries(tuned).map(([k, v]) => `${k}=${v}`).join(' ');
  const rows = [];
  const results = {};
  try {
    for (const threads of [1, 2]) {
      const liven = livenStep(threads, quick ? 2 : 20, quick ? 1 : 3);
      const defaults = torchStep(threads, quick, {});
      const tunedRun = torchStep(threads, quick, tuned);
      const fastest = Math.min(defaults.step ?? Infinity, tunedRun.step ?? Infinity);
      results[threads] = { liven, torchDefaults: defaults, torchTuned: tunedRun };
      const show = (r) => (r.step === undefined ? r.error : formatTime(r.step));
      rows.push([String(threads), formatTime(liven), show(defaults), show(tunedRun), Number.isFinite(fastest) ? `${(fastest / liven).toFixed(2)}x` : '-']);
    }
  } finally {
    setNumThreads(before);
  }
  log(`ResNet-18 (numClasses 10) training step, batch ${BATCH} of 3×32×32, SGD momentum 0.9; medians; PyTorch ${results[1].torchDefaults.torch ?? ''}`);
  log('');
  log(table(['threads', 'liven native', 'PyTorch defaults', `PyTorch ${tunedLabel}`, 'liven speed-up (vs the faster)'], rows));
  return results;
}
