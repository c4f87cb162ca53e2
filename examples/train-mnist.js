// Train a small CNN on the MNIST digits bundled with liven, watching for dead ReLUs, then save
// it for `liven diagnose`. Copy this file and change what you like (it is an ES module: keep it
// in a package with "type": "module", or name it .mjs).
//   node examples/train-mnist.js [steps] [outDir]      (default 300 steps, ./mnist-cnn)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, nn, optim, diag, io, data, manualSeed } from 'liven';

const steps = Number(process.argv[2] ?? 300);
const outDir = process.argv[3] ?? 'mnist-cnn';
const batchSize = 32;
manualSeed(0);

// 80% of the 10,010 digits to train on, 20% to test on, shuffled by a seed.
const { train, test } = data.trainTestSplit(data.loadDigits(), { testFraction: 0.2, seed: 0 });
const batch = (set, from, n) => {
  const x = Tensor.zeros([n, 1, 28, 28]);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = (from + i) % set.count;
    x.data.set(set.images.subarray(j * 784, (j + 1) * 784), i * 784);
    y[i] = set.labels[j];
  }
  return { x, y };
};

const model = new nn.Sequential(
  new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Flatten(), new nn.Linear(16 * 7 * 7, 10),
);
const lossFn = new nn.CrossEntropyLoss();
const opt = new optim.SGD(model.parameters(), { lr: 0.02, momentum: 0.9 });
const activations = new diag.ActivationMonitor(model);
// Records loss, lr, dead fraction per layer and gradient norms; prints warnings as they happen.
const monitor = new diag.TrainingMonitor({ activations, model, print: true });

model.train();
for (let step = 0; step < steps; step++) {
  const { x, y } = batch(train, step * batchSize, batchSize);
  const loss = lossFn.forward(model.forward(x), y);
  opt.zeroGrad();
  model.backward(lossFn.backward());
  monitor.step({ loss, lr: opt.lr }); // after backward, before the update
  opt.step();
  if ((step + 1) % 50 === 0) console.log(`step ${step + 1}: loss ${loss.toFixed(3)}`);
}
activations.detach();

model.eval();
let correct = 0;
for (let from = 0; from < test.count; from += 500) {
  const n = Math.min(500, test.count - from);
  const { x, y } = batch(test, from, n);
  const logits = model.forward(x).data;
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * 10, i * 10 + 10);
    if (row.indexOf(Math.max(...row)) === y[i]) correct++;
  }
}
console.log(`test accuracy: ${((100 * correct) / test.count).toFixed(1)}% on ${test.count} digits`);

// The model as JSON, its weights as safetensors, and 1,000 test digits to diagnose it on.
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'model.json'), JSON.stringify(model.toConfig(), null, 2));
io.saveSafetensors(join(outDir, 'model.safetensors'), model.stateDict());
io.saveSafetensors(join(outDir, 'batch.safetensors'), { input: batch(test, 0, 1000).x });
console.log(`saved to ${outDir}/; now run:\n  npx liven diagnose --model ${join(outDir, 'model.json')} --weights ${join(outDir, 'model.safetensors')} --input ${join(outDir, 'batch.safetensors')}`);
