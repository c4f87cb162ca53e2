// The cost of leaving the dying-ReLU monitors on: training steps of the clinic's MNIST CNN
// (batch 64, SGD momentum 0.9, one thread) without monitoring, with an ActivationMonitor, and with
// an ActivationMonitor plus a TrainingMonitor (gradient norms every step), interleaved round by
// round; prints the median step time of each and the overheads. `node benches/monitor_overhead.mjs`
import { Tensor, nn, optim, diag, manualSeed, setNumThreads } from '../dist/index.js';
import { loadDigits, trainTestSplit } from '../dist/data/mnist.js';

setNumThreads(1);
const { train } = trainTestSplit(loadDigits(), { seed: 0 });
const B = 64;
const STEPS = 100;

function stepper(mode) {
  manualSeed(0); // the same weights for every mode
  const model = new nn.Sequential(
    new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(784, 10),
  );
  const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const loss = new nn.CrossEntropyLoss();
  const mon = mode === 'none' ? null : new diag.ActivationMonitor(model);
  const tm = mode === 'training' ? new diag.TrainingMonitor({ activations: mon, model, resetEachStep: true }) : null;
  return (i) => {
    const lo = (i * B) % (train.count - B);
    const x = Tensor.from(train.images.subarray(lo * 784, (lo + B) * 784), [B, 1, 28, 28]);
    opt.zeroGrad();
    const l = loss.forward(model.forward(x), train.labels.subarray(lo, lo + B));
    model.backward(loss.backward());
    if (tm) tm.step({ loss: l, lr: opt.lr });
    else if (mon && i % STEPS === STEPS - 1) mon.reset();
    opt.step();
  };
}

const modes = ['none', 'activations', 'training'];
const steppers = Object.fromEntries(modes.map((m) => [m, stepper(m)]));
const times = Object.fromEntries(modes.map((m) => [m, []]));
for (const m of modes) for (let i = 0; i < 20; i++) steppers[m](i);
for (let round = 0; round < 9; round++) {
  for (const m of modes) {
    const t0 = performance.now();
    for (let i = 0; i < STEPS; i++) steppers[m](i);
    times[m].push((performance.now() - t0) / STEPS);
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const base = median(times.none);
console.log(`step without monitoring: ${base.toFixed(3)} ms (median of 9 × ${STEPS} steps)`);
for (const m of modes.slice(1)) {
  const t = median(times[m]);
  console.log(`with ${m === 'activations' ? 'ActivationMonitor' : 'ActivationMonitor + TrainingMonitor'}: ${t.toFixed(3)} ms, ${(100 * (t / base - 1)).toFixed(1)}% more`);
}
