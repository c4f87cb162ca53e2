// ReLU / LeakyReLU / PReLU and the smooth and bounded activations (issue 13): native against the JS backend and against a plain copy of
// the same number of bytes (the memory-bandwidth bound), at 1K, 64K, 1M and 16M elements.
import { Tensor, nn, setBackend } from '../../dist/index.js';
import { native } from '../../dist/backend/index.js';
import { jsKernels } from '../../dist/backend/js/index.js';
import { filled, formatTime, measure, table } from '../harness.js';


/** Kernel calls on preallocated arrays; `bytes` is what one call must read and write. */
function ops(n) {
  const x = filled(n, 1);
  const dy = filled(n, 2);
  const y = new Float32Array(n);
  const dx = new Float32Array(n);
  const w = new Float32Array([0.25]);
  const dw = new Float32Array(1);
  const f = 4 * n;
  return [
    ['relu forward', 2 * f, (k) => () => k.reluForward(x, y)],
    ['relu backward', 3 * f, (k) => () => k.reluBackward(x, dy, dx)],
    ['relu forward+backward', 5 * f, (k) => () => { k.reluForward(x, y); k.reluBackward(x, dy, dx); }],
    ['leaky relu forward+backward', 5 * f, (k) => () => { k.leakyReluForward(x, y, 0.01); k.leakyReluBackward(x, dy, dx, 0.01); }],
    ['prelu forward+backward', 5 * f, (k) => () => { k.preluForward(x, w, y, 1); k.preluBackward(x, w, dy, dx, dw, 1); }],
    ['elu forward+backward', 5 * f, (k) => () => { k.eluForward(x, y, 1, 1, 1); k.eluBackward(x, dy, dx, 1, 1, 1); }],
    ['gelu (erf) forward+backward', 5 * f, (k) => () => { k.geluForward(x, y, false); k.geluBackward(x, dy, dx, false); }],
    ['gelu (tanh) forward+backward', 5 * f, (k) => () => { k.geluForward(x, y, true); k.geluBackward(x, dy, dx, true); }],
    ['silu forward+backward', 5 * f, (k) => () => { k.siluForward(x, y); k.siluBackward(x, dy, dx); }],
    ['mish forward+backward', 5 * f, (k) => () => { k.mishForward(x, y); k.mishBackward(x, dy, dx); }],
    ['sigmoid forward+backward', 5 * f, (k) => () => { k.sigmoidForward(x, y); k.sigmoidBackward(x, dy, dx); }],
    ['tanh forward+backward', 5 * f, (k) => () => { k.tanhForward(x, y); k.tanhBackward(x, dy, dx); }],
    ['softplus forward+backward', 5 * f, (k) => () => { k.softplusForward(x, y, 1, 20); k.softplusBackward(x, dy, dx, 1, 20); }],
    ['hardswish forward+backward', 5 * f, (k) => () => { k.hardswishForward(x, y); k.hardswishBackward(x, dy, dx); }],
    ['relu6 forward+backward', 5 * f, (k) => () => { k.hardtanhForward(x, y, 0, 6); k.hardtanhBackward(x, dy, dx, 0, 6); }],
    // The reference: copying x into y moves 2 × 4n bytes with the same threads and chunking.
    ['copy (bandwidth reference)', 2 * f, (k) => () => k.copy(x, y)],
  ];
}

export async function run({ quick = false, log = console.log } = {}) {
  if (!native) throw new Error('the native addon is not built: run `npm run build`');
  const sizes = quick ? [1024, 65536] : [1024, 65536, 1 << 20, 1 << 24];
  const rows = [];
  const results = [];
  for (const n of sizes) {
    const list = ops(n);
    const cases = list.flatMap(([name, , make]) => [[`${name} native`, make(native)], [`${name} js`, make(jsKernels)]]);
    const t = await measure(cases, { quick });
    const copyBytesPerSecond = (2 * 4 * n) / t['copy (bandwidth reference) native'];
    for (const [name, bytes] of list) {
      const tn = t[`${name} native`];
      const tj = t[`${name} js`];
      const ofCopy = bytes / tn / copyBytesPerSecond;
      rows.push([n.toLocaleString('en'), name, formatTime(tn), formatTime(tj), `${(tj / tn).toFixed(1)}x`, `${(bytes / tn / 1e9).toFixed(1)} GB/s`, `${(100 * ofCopy).toFixed(0)}%`]);
      results.push({ n, name, native: tn, js: tj, bytes, ofCopy });
    }
  }
  log(table(['elements', 'kernel (preallocated arrays)', 'native', 'js', 'native speed-up', 'native bytes/s', 'of copy bandwidth'], rows));

  // Call overhead: a 16-element call is almost all fixed cost (argument checks, napi, dispatch).
  const x16 = filled(16, 3);
  const y16 = new Float32Array(16);
  const t16 = Tensor.from(x16, [16]);
  const relu = new nn.ReLU();
  setBackend('native');
  const small = await measure([
    ['kernel reluForward, 16 elements', () => native.reluForward(x16, y16)],
    ['nn.ReLU forward, 16 elements', () => relu.forward(t16)],
    ['empty JS function', () => {}],
  ], { quick });
  log('');
  log(table(['call', 'median time'], Object.entries(small).map(([k, v]) => [k, formatTime(v)])));
  return { results, small };
}
