// The dying-ReLU monitor's cost: an nn.ReLU forward with and without an ActivationMonitor
// attached, the statistics kernel alone (native and JS), and the same statistics computed by a
// PyTorch forward hook with torch ops (benches/suites/diag_torch.py, when Debian's python3-torch
// is there). Shapes: [N, F] features and [N, C, H, W] maps of a small CNN.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Tensor, diag, getNumThreads, nn, setBackend } from '../../dist/index.js';
import { native } from '../../dist/backend/index.js';
import { jsKernels } from '../../dist/backend/js/index.js';
import { filled, formatTime, measure, table } from '../harness.js';


const FULL = [
  [256, 1024],
  [64, 16, 28, 28],
  [64, 32, 14, 14],
  [128, 64, 32, 32],
];
const QUICK = [
  [64, 256],
  [16, 16, 28, 28],
];

function torchTimes(shapes, quick) {
  const script = fileURLToPath(new URL('./diag_torch.py', import.meta.url));
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('/usr/bin/python3', [script, JSON.stringify({ shapes, threads: getNumThreads(), quick })], { encoding: 'utf8', env });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout);
}

export async function run({ quick = false, log = console.log } = {}) {
  if (!native) throw new Error('the native addon is not built: run `npm run build`');
  setBackend('native');
  const shapes = quick ? QUICK : FULL;
  const torch = torchTimes(shapes, quick);
  const rows = [];
  const results = [];
  for (const shape of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = Tensor.from(filled(n, 1), shape);
    const y = new Float32Array(n);
    native.reluForward(x.data, y);
    const units = shape[1];
    const inner = shape.slice(2).reduce((a, b) => a * b, 1);
    const acc = new Float64Array(9 * units);
    const hist = new Float64Array(diag.histogramBinEdges().length);
    const plain = new nn.ReLU();
    const watched = new nn.ReLU();
    const mon = new diag.ActivationMonitor(watched);
    const dy = Tensor.from(filled(n, 2), shape);
    const t = await measure([
      ['relu forward', () => plain.forward(x)],
      ['relu forward, monitored', () => watched.forward(x)],
      ['relu forward+backward', () => (plain.forward(x), plain.backward(dy))],
      ['unitStats native (pre = y)', () => native.unitStats(y, y, units, inner, acc, NaN, NaN)],
      ['unitStats native (pre = x)', () => native.unitStats(x.data, y, units, inner, acc, NaN, NaN)],
      ['unitStats js', () => jsKernels.unitStats(y, y, units, inner, acc, NaN, NaN)],
      ['sampledHistogram native', () => native.sampledHistogram(y, 4096, 7, hist)],
      ['copy (bandwidth reference)', () => native.copy(x.data, y)],
    ], { quick });
    mon.detach();
    // What the hook adds to a forward: the statistics pass and the sampled histogram. (The
    // difference of the two module timings says the same but is noisier: both allocate.)
    const hook = t['unitStats native (pre = y)'] + t['sampledHistogram native'];
    const tt = torch?.[shape.join('x')];
    rows.push([
      `[${shape.join(', ')}]`,
      formatTime(t['relu forward']),
      formatTime(t['relu forward+backward']),
      formatTime(t['unitStats native (pre = y)']),
      formatTime(t['sampledHistogram native']),
      `${((100 * hook) / t['relu forward']).toFixed(0)}%`,
      `${((100 * hook) / t['relu forward+backward']).toFixed(0)}%`,
      formatTime(t['relu forward, monitored']),
      formatTime(t['unitStats native (pre = x)']),
      formatTime(t['unitStats js']),
      `${(t['unitStats js'] / t['unitStats native (pre = y)']).toFixed(1)}x`,
      `${((4 * n) / t['unitStats native (pre = y)'] / 1e9).toFixed(1)} GB/s`,
      `${((8 * n) / t['copy (bandwidth reference)'] / 1e9).toFixed(1)} GB/s`,
      tt ? formatTime(tt.relu) : '–',
      tt ? formatTime(tt.stats) : '–',
      tt ? `${(tt.stats / t['unitStats native (pre = y)']).toFixed(0)}x` : '–',
    ]);
    results.push({ shape, ...t, torch: tt ?? null });
  }
  log(table(['activation', 'relu fwd', 'relu fwd+bwd', 'unitStats', 'histogram', 'hook / fwd', 'hook / fwd+bwd', 'fwd, monitored', 'unitStats (x, y)', 'unitStats js', 'native vs js', 'stats read', 'copy rate', 'torch relu', 'torch stats', 'torch stats / ours'], rows));
  if (!torch) log('\n(PyTorch columns: /usr/bin/python3 with torch not available)');
  return { results };
}
