// Training throughput on the bundled MNIST digits (batch 64, SGD with momentum 0.9): images per
// second over a training epoch for an MLP 784-256-128-10 and a small CNN, liven native and JS
// against TensorFlow.js (cpu, wasm), brain.js (MLP only) and PyTorch at the same thread count.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, getNumThreads, nn, optim, setBackend } from '../../dist/index.js';
import { loadDigits, trainTestSplit } from '../../dist/data/mnist.js';
import { ensurePeers, loadBrain, loadTf } from '../peers.js';
import { torchEnv } from './torch.js';
import { table } from '../harness.js';

const BATCH = 64;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/**
 * Images per second of `step(i)`: the median of `repeats` timed runs of up to `steps` steps each,
 * after a warm-up. Slow contenders run fewer steps, enough for about `seconds` per repeat.
 */
export async function rate(step, steps, repeats, seconds) {
  const t0 = performance.now();
  for (let i = 0; i < 3; i++) await step(i);
  const perStep = (performance.now() - t0) / 3 / 1000;
  const n = Math.max(2, Math.min(steps, Math.round(seconds / perStep)));
  const rates = [];
  for (let r = 0; r < repeats; r++) {
    const t1 = performance.now();
    for (let i = 0; i < n; i++) await step(i);
    rates.push((n * BATCH) / ((performance.now() - t1) / 1000));
  }
  return median(rates);
}

export const mlp = () => new nn.Sequential(new nn.Linear(784, 256), new nn.ReLU(), new nn.Linear(256, 128), new nn.ReLU(), new nn.Linear(128, 10));
export const cnn = () =>
  new nn.Sequential(
    new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(16 * 7 * 7, 10),
  );

export function livenStepper(model, data, image) {
  const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const loss = new nn.CrossEntropyLoss();
  const n = data.count;
  return (i) => {
    const lo = (i * BATCH) % (n - BATCH);
    const x = Tensor.from(data.images.subarray(lo * 784, (lo + BATCH) * 784), image ? [BATCH, 1, 28, 28] : [BATCH, 784]);
    const y = data.labels.subarray(lo, lo + BATCH);
    opt.zeroGrad();
    loss.forward(model.forward(x), y);
    model.backward(loss.backward(), { inputGrad: false });
    opt.step();
  };
}

function tfStepper(tf, data, image) {
  const model = tf.sequential();
  if (image) {
    model.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }));
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: 10 }));
  } else {
    model.add(tf.layers.dense({ inputShape: [784], units: 256, activation: 'relu' }));
    model.add(tf.layers.dense({ units: 128, activation: 'relu' }));
    model.add(tf.layers.dense({ units: 10 }));
  }
  const opt = tf.train.momentum(0.01, 0.9);
  const n = data.count;
  const xs = tf.tensor(data.images, image ? [n, 28, 28, 1] : [n, 784]);
  const ys = tf.oneHot(tf.tensor1d(data.labels, 'int32'), 10);
  return (i) => {
    const lo = (i * BATCH) % (n - BATCH);
    tf.tidy(() => {
      const x = xs.slice(lo, BATCH);
      const y = ys.slice(lo, BATCH);
      opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.predict(x)), false);
    });
  };
}

/** brain.js trains one sample at a time (no batches): images/s over one pass of `count` digits. */
function brainRate(brain, data, count) {
  const net = new brain.NeuralNetwork({ hiddenLayers: [256, 128], activation: 'relu', learningRate: 0.01, momentum: 0.9 });
  const set = [];
  for (let i = 0; i < count; i++) {
    const output = new Array(10).fill(0);
    output[data.labels[i]] = 1;
    set.push({ input: Array.from(data.images.subarray(i * 784, (i + 1) * 784)), output });
  }
  const t0 = performance.now();
  net.train(set, { iterations: 1, errorThresh: 1e-9 });
  return count / ((performance.now() - t0) / 1000);
}

/** PyTorch's images/s for both models (benches/torch_training.py), or `{ error }`. */
export function torchRates(data, threads, steps, repeats, variant = 'tuned') {
  const dir = mkdtempSync(join(tmpdir(), 'liven-bench-'));
  try {
    writeFileSync(join(dir, 'images.f32'), data.images);
    writeFileSync(join(dir, 'labels.i32'), data.labels);
    const script = fileURLToPath(new URL('../torch_training.py', import.meta.url));
    const out = execFileSync('/usr/bin/python3', [script, dir, String(threads), String(steps), String(repeats)], { env: torchEnv(threads, variant), encoding: 'utf8' });
    return JSON.parse(out);
  } catch (e) {
    return { error: `PyTorch: ${e.message.split('\n')[0]}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run({ quick = false, log = console.log } = {}) {
  ensurePeers();
  const { train } = trainTestSplit(loadDigits(), { seed: 0 });
  const steps = quick ? 5 : Math.floor(train.count / BATCH);
  const repeats = quick ? 1 : 3;
  const budget = quick ? 0.3 : 4; // seconds per timed repeat, at most
  const threads = getNumThreads();
  const results = { mlp: {}, cnn: {} };
  const notes = [];
  for (const [name, image, make] of [['mlp', false, mlp], ['cnn', true, cnn]]) {
    for (const backend of ['native', 'js']) {
      setBackend(backend);
      results[name][`liven ${backend}`] = await rate(livenStepper(make(), train, image), steps, repeats, budget);
    }
    setBackend('native');
    for (const b of ['cpu', 'wasm']) {
      const { tf, error } = await loadTf(b);
      if (error) notes.push(error);
      else {
        try {
          results[name][`tfjs ${b}`] = await rate(tfStepper(tf, train, image), steps, repeats, budget);
        } catch (e) {
          notes.push(`tfjs ${b} cannot train the ${name}: ${e.message.split('\n')[0]}`);
        }
      }
    }
  }
  const { brain, error } = await loadBrain();
  if (error) notes.push(error);
  else {
    try {
      results.mlp['brain.js'] = brainRate(brain, train, quick ? 20 : 500);
    } catch (e) {
      notes.push(`brain.js cannot train the mlp: ${e.message.split('\n')[0]}`);
    }
  }
  const torch = torchRates(train, threads, steps, repeats);
  if (torch.error) notes.push(torch.error);
  else {
    results.mlp[`PyTorch ${torch.torch}`] = torch.mlp;
    results.cnn[`PyTorch ${torch.torch}`] = torch.cnn;
  }
  const rows = [];
  for (const [name, r] of Object.entries(results)) {
    const ref = r['liven native'];
    for (const [who, ips] of Object.entries(r)) rows.push([name, who, Math.round(ips).toLocaleString('en'), `${(ref / ips).toFixed(2)}x`]);
  }
  log(table(['model', 'library', 'images/s', 'liven native is'], rows));
  for (const n of notes) log(`note: ${n}`);
  return { results, notes };
}
