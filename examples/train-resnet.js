// Train torchvision's ResNet-18 (models.resnet18, one input channel) on the MNIST digits bundled
// with liven for a fixed time, then report its test accuracy and what the activation monitor
// saw, by node path (`layer1.0.relu1`, ...). The same model loads weights PyTorch saved for
// torchvision's resnet18 (conv1 aside), key for key. An ES module: keep it in a package with
// "type": "module", or name it .mjs.
//   node examples/train-resnet.js [seconds]      (default 30 seconds of training)
import { Tensor, nn, optim, diag, data, models, manualSeed } from 'liven';

const seconds = Number(process.argv[2] ?? 30);
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

const model = models.resnet18({ inChannels: 1, numClasses: 10 });
const lossFn = new nn.CrossEntropyLoss();
const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
const monitor = new diag.ActivationMonitor(model);

model.train();
const start = performance.now();
let step = 0;
for (; performance.now() - start < seconds * 1000; step++) {
  const { x, y } = batch(train, step * batchSize, batchSize);
  const loss = lossFn.forward(model.forward(x), y);
  opt.zeroGrad();
  model.backward(lossFn.backward());
  opt.step();
  if ((step + 1) % 25 === 0) console.log(`step ${step + 1}: loss ${loss.toFixed(3)} (${((performance.now() - start) / 1000).toFixed(0)} s)`);
}
const epochs = (step * batchSize) / train.count;
console.log(`trained ${step} steps (${epochs.toFixed(2)} epochs) in ${((performance.now() - start) / 1000).toFixed(1)} s`);

// The units that stayed at zero on every training batch the monitor saw, per ReLU node.
const dead = monitor.report().filter((r) => r.dead > 0);
console.log(dead.length === 0 ? 'no dead ReLU units' : dead.map((r) => `${r.layer}: ${r.dead} of ${r.units} units dead`).join('\n'));
monitor.detach();

model.eval();
let correct = 0;
for (let from = 0; from < test.count; from += 250) {
  const n = Math.min(250, test.count - from);
  const { x, y } = batch(test, from, n);
  const logits = model.forward(x).data;
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * 10, i * 10 + 10);
    if (row.indexOf(Math.max(...row)) === y[i]) correct++;
  }
}
console.log(`test accuracy: ${((100 * correct) / test.count).toFixed(1)}% on ${test.count} digits`);
