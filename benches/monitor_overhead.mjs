// The cost of leaving the dying-ReLU monitors on: a training step of the clinic's MNIST CNN with and
// without ActivationMonitor + TrainingMonitor, one thread. `node benches/monitor_overhead.mjs`
import { Tensor, nn, optim, diag, setNumThreads } from '../dist/index.js';
import { loadDigits, trainTestSplit } from '../dist/data/mnist.js';
setNumThreads(1);
const { train } = trainTestSplit(loadDigits(), { seed: 0 });
const B = 64;
function rate(withMonitor) {
  const model = new nn.Sequential(new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(784, 10));
  const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const loss = new nn.CrossEntropyLoss();
  const mon = withMonitor ? new diag.ActivationMonitor(model) : null;
  const tm = withMonitor ? new diag.TrainingMonitor({ activations: mon, model, resetEachStep: true }) : null;
  const step = (i) => { const lo = (i * B) % (train.count - B); const x = Tensor.from(train.images.subarray(lo * 784, (lo + B) * 784), [B, 1, 28, 28]); opt.zeroGrad(); const l = loss.forward(model.forward(x), train.labels.subarray(lo, lo + B)); model.backward(loss.backward()); tm?.step({ loss: l, lr: opt.lr }); opt.step(); };
  for (let i = 0; i < 10; i++) step(i);
  const t0 = performance.now(); for (let i = 0; i < 100; i++) step(i); return (performance.now() - t0) / 100;
}
const a = [], b = [], c = [];
for (let r = 0; r < 5; r++) { a.push(rate(false)); b.push(rate(true)); }
a.sort((x, y) => x - y); b.sort((x, y) => x - y);
console.log('step ms without', a[2].toFixed(3), 'with ActivationMonitor+TrainingMonitor', b[2].toFixed(3), 'overhead', ((b[2] / a[2] - 1) * 100).toFixed(1) + '%');
