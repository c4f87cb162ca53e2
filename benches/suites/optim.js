// Optimiser updates over large parameters: the native fused kernels against the JS backend and
// against the memory bound — the bytes the update must move at the rate a plain copy reaches in
// the same run: the faster of the addon's `copy` (same threads and chunking as the kernels) and
// the JS backend's (`Float32Array.set`, one thread), so the bound is the conservative one on a
// loaded machine where two threads can be slower than one. Adam reads param, grad, m, v and writes param,
// m, v: 7 × 4 bytes per parameter. `optim.Adam.step()` adds the non-finite check of the
// gradient (one more read: 8 × 4 bytes).
import { Tensor, nn, optim, setBackend } from '../../dist/index.js';
import { native } from '../../dist/backend/index.js';
import { jsKernels } from '../../dist/backend/js/index.js';
import { filled, formatTime, measure, table } from '../harness.js';


/** Kernel calls on preallocated arrays; `floats` is how many floats per parameter one call moves. */
function ops(n) {
  const p = filled(n, 1);
  const g = filled(n, 2, { scale: 1e-3 });
  const m = new Float32Array(n);
  const v = new Float32Array(n);
  const buf = new Float32Array(n);
  const sum = new Float32Array(n).fill(0.1);
  // The step counter only changes the bias corrections; a fixed large step keeps the updates tiny.
  return [
    ['Adam step', 7, (k) => () => k.adamStep(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0, 1000, false)],
    ['AdamW step', 7, (k) => () => k.adamStep(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 1e-2, 1000, true)],
    ['SGD momentum step', 5, (k) => () => k.sgdStep(p, g, buf, 1e-3, 0.9, 0, 0, false, false)],
    ['SGD step', 3, (k) => () => k.sgdStep(p, g, null, 1e-3, 0, 0, 0, false, false)],
    ['Adagrad step', 5, (k) => () => k.adagradStep(p, g, sum, 1e-3, 0, 0, 1e-10, 1000)],
    ['non-finite check', 1, (k) => () => k.nonFiniteIndex(g)],
    ['copy (bandwidth reference)', 2, (k) => () => k.copy(p, buf)],
  ];
}

export async function run({ quick = false, log = console.log } = {}) {
  if (!native) throw new Error('the native addon is not built: run `npm run build`');
  const n = quick ? 1 << 20 : 10_000_000;
  const list = ops(n);
  const cases = list.flatMap(([name, , make]) => [[`${name} native`, make(native)], [`${name} js`, make(jsKernels)]]);

  // The public API: Adam.step() on one 10M parameter, with its finite check.
  const param = new nn.Parameter(Tensor.from(filled(n, 3), [n]));
  param.grad.data.set(filled(n, 4, { scale: 1e-3 }));
  const adam = new optim.Adam([param]);
  const sgd = new optim.SGD([param], { lr: 1e-3, momentum: 0.9 });
  const api = [
    ['optim.Adam.step()', 8, adam],
    ['optim.SGD({ momentum }).step()', 6, sgd],
  ];
  for (const [name, , opt] of api) {
    cases.push([`${name} native`, () => { setBackend('native'); opt.step(); }]);
    cases.push([`${name} js`, () => { setBackend('js'); opt.step(); }]);
  }
  const t = await measure(cases, { quick });
  setBackend('native');

  const copyRate = (2 * 4 * n) / Math.min(t['copy (bandwidth reference) native'], t['copy (bandwidth reference) js']);
  const rows = [];
  const results = [];
  for (const [name, floats] of [...list.map(([a, b]) => [a, b]), ...api.map(([a, b]) => [a, b])]) {
    const tn = t[`${name} native`];
    const tj = t[`${name} js`];
    const bytes = floats * 4 * n;
    const ofBound = bytes / tn / copyRate;
    rows.push([name, `${floats} × 4`, formatTime(tn), formatTime(tj), `${(tj / tn).toFixed(1)}x`, `${(bytes / tn / 1e9).toFixed(1)} GB/s`, `${(100 * ofBound).toFixed(0)}%`]);
    results.push({ name, native: tn, js: tj, bytes, ofBound });
  }
  log(`${n.toLocaleString('en')} parameters (float32), preallocated arrays; "of memory bound" = (bytes moved / time) / best copy rate (${(copyRate / 1e9).toFixed(1)} GB/s)`);
  log('');
  log(table(['update', 'bytes / param', 'native', 'js', 'native speed-up', 'native bytes/s', 'of memory bound'], rows));

  // The same ratios measured call by call, each update right after a copy, so that both see
  // the same machine load (the VMs are shared): medians over the rounds of each ratio.
  const rounds = quick ? 5 : 40;
  const inter = [];
  const makeCopy = list.find(([name]) => name.startsWith('copy'))[2];
  const copies = [makeCopy(native), makeCopy(jsKernels)];
  const timeCopy = () => Math.min(...copies.map((c) => {
    const t0 = performance.now();
    c();
    return performance.now() - t0;
  }));
  for (const [name, floats, make] of list.filter(([name]) => /step/.test(name))) {
    const f = make(native);
    const ratios = [];
    for (let r = 0; r < rounds; r++) {
      const tc = timeCopy();
      const t1 = performance.now();
      f();
      const t2 = performance.now();
      ratios.push(((floats / 2) * tc) / (t2 - t1));
    }
    ratios.sort((a, b) => a - b);
    const q = (x) => ratios[Math.floor(x * (ratios.length - 1))];
    inter.push([name, `${(100 * q(0.5)).toFixed(0)}%`, `${(100 * q(0.25)).toFixed(0)}–${(100 * q(0.75)).toFixed(0)}%`]);
    results.find((x) => x.name === name).ofBoundInterleaved = q(0.5);
  }
  log('');
  log(table(['update (interleaved with the copies, call by call)', 'of memory bound, median', 'interquartile'], inter));
  return { n, results, copyRate };
}
