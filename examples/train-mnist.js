// Train a small CNN on the MNIST digits bundled with liven, watching for dead ReLUs, then save
// it for `liven diagnose`. Copy this file and change what you like (it is an ES module: keep it
// in a package with "type": "module", or name it .mjs).
//   node examples/train-mnist.js [steps] [outDir]      (default 300 steps, ./mnist-cnn)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nn, optim, diag, io, data, manualSeed } from 'liven';

const steps = Number(process.argv[2] ?? 300);
const outDir = process.argv[3] ?? 'mnist-cnn';
const batchSize = 32;
manualSeed(0);

// 80% of the 10,000 digits to train on, 20% to test on, split by a seed; images [N, 1, 28, 28].
const { train, test } = data.trainTestSplit(data.loadDigits(), { testFraction: 0.2, seed: 0 });
const trainSet = data.digitsDataset(train);
const testSet = data.digitsDataset(test);
const loader = new data.DataLoader(trainSet, { batchSize, shuffle: true, dropLast: true, seed: 1 });

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
let step = 0;
while (step < steps) {
  for (const [x, y] of loader) {
    if (step === steps) break;
    const loss = lossFn.forward(model.forward(x), y);
    opt.zeroGrad();
    model.backward(lossFn.backward(), { inputGrad: false }); // the images need no gradient
    monitor.step({ loss, lr: opt.lr }); // after backward, before the update
    opt.step();
    if (++step % 50 === 0) console.log(`step ${step}: loss ${loss.toFixed(3)}`);
  }
}
activations.detach();

model.eval();
let correct = 0;
for (const [x, y] of new data.DataLoader(testSet, { batchSize: 500 })) {
  correct += data.accuracy(model.forward(x), y) * y.length;
}
console.log(`test accuracy: ${((100 * correct) / test.count).toFixed(1)}% on ${test.count} digits`);

// The model as JSON, its weights as safetensors, and 1,000 test digits to diagnose it on.
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'model.json'), JSON.stringify(model.toConfig(), null, 2));
io.saveSafetensors(join(outDir, 'model.safetensors'), model.stateDict());
io.saveSafetensors(join(outDir, 'batch.safetensors'), { input: testSet.columns[0].narrow(0, 0, 1000) });
console.log(`saved to ${outDir}/; now run:\n  npx liven diagnose --model ${join(outDir, 'model.json')} --weights ${join(outDir, 'model.safetensors')} --input ${join(outDir, 'batch.safetensors')}`);
