// Kernels against the libraries Node users would pick instead: liven native and JS against
// TensorFlow.js's cpu and wasm (SIMD) backends, forward and forward+backward, at a small and a
// large size, all in one process. tfjs works in NHWC; each contender gets its own layout.
import { Tensor, manualSeed, nn, optim, setBackend } from '../../dist/index.js';
import { ensurePeers, loadTf } from '../peers.js';
import { filled, formatTime, table } from '../harness.js';


/** Median seconds per call: a warm-up call, then up to `reps` calls within about `seconds`. */
const filledTensor = (shape, seed) => Tensor.from(filled(shape.reduce((a, b) => a * b, 1), seed), shape);

function time(fn, { reps = 15, seconds = 1.5 } = {}) {
  const t0 = performance.now();
  fn();
  const first = (performance.now() - t0) / 1000;
  const n = Math.max(3, Math.min(reps, Math.round(seconds / Math.max(first, 1e-6))));
  const ts = [];
  for (let i = 0; i < n; i++) {
    const t1 = performance.now();
    fn();
    ts.push((performance.now() - t1) / 1000);
  }
  ts.sort((a, b) => a - b);
  return ts[ts.length >> 1];
}

/** NCHW → NHWC, for tfjs. */
function nhwc(t) {
  const [n, c, h, w] = t.shape;
  const out = new Float32Array(t.size);
  for (let a = 0; a < n; a++) for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[(a * h * w + i) * c + k] = t.data[(a * c + k) * h * w + i];
  return out;
}

/**
 * The cases: each has liven's module (or step) and tfjs's forward function of its input, with
 * the parameters tfjs needs, so that both compute the same thing.
 */
function cases(quick) {
  const sizes = (small, large) => (quick ? [small] : [small, large]);
  const out = [];
  for (const [label, shape] of sizes(['[64, 1024]', [64, 1024]], ['[32, 64, 56, 56]', [32, 64, 56, 56]])) {
    out.push({ op: 'ReLU', label, shape, liven: () => new nn.ReLU(), tf: (tf) => (x) => tf.relu(x) });
    out.push({ op: 'LeakyReLU', label, shape, liven: () => new nn.LeakyReLU({ negativeSlope: 0.01 }), tf: (tf) => (x) => tf.leakyRelu(x, 0.01) });
    out.push({ op: 'PReLU', label, shape, liven: () => new nn.PReLU(), tf: (tf) => (x) => tf.prelu(x, tf.scalar(0.25)) });
  }
  for (const [label, n, i, o] of sizes(['64×784→256', 64, 784, 256], ['512×1024→1024', 512, 1024, 1024])) {
    out.push({ op: 'Linear', label, shape: [n, i], liven: () => new nn.Linear(i, o), tf: (tf) => { const w = tf.randomNormal([i, o]); const b = tf.randomNormal([o]); return (x) => tf.add(tf.matMul(x, w), b); } });
  }
  for (const [label, n, ci, co, hw] of sizes(['[64, 1, 28, 28] 3×3 → 8', 64, 1, 8, 28], ['[8, 64, 56, 56] 3×3 → 64', 8, 64, 64, 56])) {
    out.push({ op: 'Conv2d', label, shape: [n, ci, hw, hw], image: true, liven: () => new nn.Conv2d(ci, co, 3, { padding: 1 }), tf: (tf) => { const w = tf.randomNormal([3, 3, ci, co]); return (x) => tf.conv2d(x, w, 1, 'same'); } });
  }
  for (const [label, shape] of sizes(['[8, 16, 28, 28]', [8, 16, 28, 28]], ['[32, 64, 56, 56]', [32, 64, 56, 56]])) {
    out.push({ op: 'MaxPool2d 3×3/2', label, shape, image: true, liven: () => new nn.MaxPool2d(3, { stride: 2, padding: 1 }), tf: (tf) => (x) => tf.maxPool(x, 3, 2, 'same') });
    out.push({ op: 'AvgPool2d 2×2/2', label, shape, image: true, liven: () => new nn.AvgPool2d(2), tf: (tf) => (x) => tf.avgPool(x, 2, 2, 'valid') });
    out.push({
      op: 'BatchNorm2d (train)', label, shape, image: true, liven: () => new nn.BatchNorm2d(shape[1]),
      tf: (tf) => { const g = tf.ones([shape[1]]); const b = tf.zeros([shape[1]]); return (x) => { const { mean, variance } = tf.moments(x, [0, 1, 2]); return tf.batchNorm(x, mean, variance, b, g, 1e-5); }; },
    });
    out.push({ op: 'GroupNorm(4)', label, shape, image: true, liven: () => new nn.GroupNorm(4, shape[1]), tf: null });
  }
  for (const [label, shape] of sizes(['[64, 10]', [64, 10]], ['[4096, 1000]', [4096, 1000]])) {
    out.push({ op: 'Softmax', label, shape, liven: () => new nn.Softmax({ dim: -1 }), tf: (tf) => (x) => tf.softmax(x) });
  }
  return out;
}

/** Times liven's module on the current backend: forward, and forward+backward. */
function timeLiven(c, x) {
  manualSeed(1);
  const m = c.liven();
  const gy = filledTensor([...m.forward(x).shape], 3);
  return { forward: time(() => m.forward(x)), both: time(() => { m.forward(x); m.backward(gy); }) };
}

/** Times tfjs: the forward, and the gradients of the input and of the parameters it closes over. */
function timeTf(tf, c, x) {
  const f = c.tf(tf);
  const xs = tf.tensor(c.image ? nhwc(x) : x.data, c.image ? [x.shape[0], x.shape[2], x.shape[3], x.shape[1]] : x.shape);
  const y0 = f(xs);
  const dy = tf.randomNormal(y0.shape);
  y0.dispose();
  const grads = tf.grads((input) => f(input));
  const run = (g) => () => { const r = tf.tidy(g); (Array.isArray(r) ? r : [r]).forEach((t) => { t.dataSync(); t.dispose(); }); };
  const result = { forward: time(run(() => f(xs))), both: time(run(() => grads([xs], dy))) };
  xs.dispose();
  dy.dispose();
  return result;
}

/** One Adam step over `n` parameters: liven on each backend, tfjs's applyGradients. */
function adam(tf, n) {
  const p = new nn.Linear(1, 1);
  const param = { data: filledTensor([n], 1), grad: filledTensor([n], 2) };
  const opt = new optim.Adam([Object.assign(Object.create(Object.getPrototypeOf(p.weight)), param)], { lr: 1e-3 });
  const out = { liven: time(() => opt.step()) };
  if (tf) {
    const v = tf.variable(tf.tensor(param.data.data));
    const g = tf.tensor(param.grad.data);
    const o = tf.train.adam(1e-3);
    out.tf = time(() => { o.applyGradients({ [v.name]: g }); v.dataSync(); });
  }
  return out;
}

export async function run({ quick = false, log = console.log } = {}) {
  ensurePeers();
  const tfs = {};
  const notes = [];
  for (const b of ['cpu', 'wasm']) {
    const { tf, error } = await loadTf(b);
    if (error) notes.push(error);
    else tfs[b] = tf;
  }
  const rows = [];
  const results = [];
  for (const c of cases(quick)) {
    const x = filledTensor(c.shape, 2);
    const r = {};
    for (const backend of ['native', 'js']) {
      setBackend(backend);
      r[backend] = timeLiven(c, x);
    }
    setBackend('native');
    for (const [b, tf] of Object.entries(tfs)) {
      if (!c.tf) continue;
      await tf.setBackend(b);
      try {
        r[`tfjs ${b}`] = timeTf(tf, c, x);
      } catch (e) {
        notes.push(`tfjs ${b}, ${c.op} ${c.label}: ${e.message.split('\n')[0]}`);
      }
    }
    for (const pass of ['forward', 'both']) {
      const t = (k) => r[k]?.[pass];
      const ratio = (k) => (t(k) ? `${(t(k) / t('native')).toFixed(1)}x` : 'n/a');
      rows.push([c.op, c.label, pass === 'both' ? 'fwd+bwd' : 'fwd', formatTime(t('native')), ratio('js'), ratio('tfjs cpu'), ratio('tfjs wasm')]);
    }
    results.push({ op: c.op, size: c.label, ...r });
  }
  for (const n of quick ? [1 << 16] : [1 << 16, 10_000_000]) {
    const tf = tfs.wasm ?? tfs.cpu;
    if (tf) await tf.setBackend(tfs.wasm ? 'wasm' : 'cpu');
    const a = adam(tf, n);
    rows.push(['Adam step', `${n.toLocaleString('en')} params`, 'step', formatTime(a.liven), '', tfs.wasm ? '' : a.tf ? `${(a.tf / a.liven).toFixed(1)}x` : 'n/a', tfs.wasm && a.tf ? `${(a.tf / a.liven).toFixed(1)}x` : 'n/a']);
  }
  log(table(['op', 'size', 'pass', 'liven native', 'liven js is', 'tfjs cpu is', 'tfjs wasm is'], rows));
  log('\n"is": the contender\'s median time over liven native\'s (above 1x: slower than liven native).');
  for (const n of notes) log(`note: ${n}`);
  return { results, notes };
}
