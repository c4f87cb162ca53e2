// The cost of leaving the dying-ReLU monitors on: training steps of the clinic's MNIST CNN
// (batch 64, SGD momentum 0.9, one thread). One model trains throughout; each round runs 100
// steps without monitoring, 100 with an ActivationMonitor attached, and 100 with an
// ActivationMonitor plus a TrainingMonitor (gradient norms every step), detaching after each, so
// the three differ only by the monitoring (separate model instances differ by more than that, from
// where their buffers land in memory). `node benches/monitor_overhead.mjs`
import { Tensor, nn, optim, diag, setNumThreads } from '../dist/index.js';
import { loadDigits, trainTestSplit } from '../dist/data/mnist.js';

setNumThreads(1);
const { train } = trainTestSplit(loadDigits(), { seed: 0 });
const B = 64;
const STEPS = 100;
const model = new nn.Sequential(
  new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Flatten(), new nn.Linear(784, 10),
);
const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
const loss = new nn.CrossEntropyLoss();

function steps(mode, from) {
  const mon = mode === 'none' ? null : new diag.ActivationMonitor(model);
  const tm = mode === 'training' ? new diag.TrainingMonitor({ activations: mon, model, resetEachStep: true }) : null;
  const t0 = performance.now();
  for (let i = from; i < from + STEPS; i++) {
    const lo = (i * B) % (train.count - B);
    const x = Tensor.from(train.images.subarray(lo * 784, (lo + B) * 784), [B, 1, 28, 28]);
    opt.zeroGrad();
    const l = loss.forward(model.forward(x), train.labels.subarray(lo, lo + B));
    model.backward(loss.backward(), { inputGrad: false });
    tm?.step({ loss: l, lr: opt.lr });
    opt.step();
  }
  const ms = (performance.now() - t0) / STEPS;
  mon?.detach();
  return ms;
}

const modes = ['none', 'activations', 'training'];
const times = Object.fromEntries(modes.map((m) => [m, []]));
steps('none', 0);
for (let round = 0; round < 9; round++) for (const m of modes) times[m].push(steps(m, round * STEPS));
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const base = median(times.none);
console.log(`step without monitoring: ${base.toFixed(3)} ms (median of 9 × ${STEPS} steps)`);
for (const m of modes.slice(1)) {
  const t = median(times[m]);
  console.log(`with ${m === 'activations' ? 'ActivationMonitor' : 'ActivationMonitor + TrainingMonitor'}: ${t.toFixed(3)} ms, ${(100 * (t / base - 1)).toFixed(1)}% more`);
}
