// Train a small ResNet on the MNIST digits bundled with liven for a fixed time, then report its
// test accuracy and what the activation monitor saw, by node path (`layer1.relu1`, ...).
// The network is torchvision's ResNet design at MNIST's scale: BasicBlocks (two 3×3 convs with
// BatchNorm, plus a skip connection) written as an nn.Graph; `resnet18` as the second argument
// trains liven's models.resnet18 instead (11M parameters: slower, so give it more time).
// An ES module: keep it in a package with "type": "module", or name it .mjs.
//   node examples/train-resnet.js [seconds] [resnet18]      (default 30 seconds of training)
import { Tensor, nn, optim, diag, data, models, manualSeed } from 'liven';

const seconds = Number(process.argv[2] ?? 30);
const useResnet18 = process.argv[3] === 'resnet18';
const batchSize = 32;
manualSeed(0);

// torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), where the
// shortcut is a strided 1×1 conv and BatchNorm when the block halves the size or widens.
function basicBlock(inChannels, channels, stride) {
  const conv3x3 = (inC, s) => new nn.Conv2d(inC, channels, 3, { stride: s, padding: 1, bias: false });
  const block = new nn.Graph()
    .node('conv1', conv3x3(inChannels, stride), 'input')
    .node('bn1', new nn.BatchNorm2d(channels), 'conv1')
    .node('relu1', new nn.ReLU(), 'bn1')
    .node('conv2', conv3x3(channels, 1), 'relu1')
    .node('bn2', new nn.BatchNorm2d(channels), 'conv2');
  let shortcut = 'input';
  if (stride !== 1 || inChannels !== channels) {
    block.node('downsample', new nn.Sequential(new nn.Conv2d(inChannels, channels, 1, { stride, bias: false }), new nn.BatchNorm2d(channels)), 'input');
    shortcut = 'downsample';
  }
  return block.node('add', new nn.Add(), ['bn2', shortcut]).node('relu2', new nn.ReLU(), 'add').output('relu2');
}

// 28×28 → 16 channels → 32 at 14×14 → 64 at 7×7 → average → 10 logits.
function smallResnet() {
  return new nn.Graph()
    .node('conv1', new nn.Conv2d(1, 16, 3, { padding: 1, bias: false }), 'input')
    .node('bn1', new nn.BatchNorm2d(16), 'conv1')
    .node('relu', new nn.ReLU(), 'bn1')
    .node('layer1', basicBlock(16, 16, 1), 'relu')
    .node('layer2', basicBlock(16, 32, 2), 'layer1')
    .node('layer3', basicBlock(32, 64, 2), 'layer2')
    .node('pool', new nn.GlobalAvgPool2d(), 'layer3')
    .node('fc', new nn.Linear(64, 10), 'pool')
    .output('fc');
}

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

const model = useResnet18 ? models.resnet18({ inChannels: 1, numClasses: 10 }) : smallResnet();
const lossFn = new nn.CrossEntropyLoss();
const opt = new optim.SGD(model.parameters(), { lr: 0.02, momentum: 0.9, weightDecay: 5e-4 });
const monitor = new diag.ActivationMonitor(model);

model.train();
const start = performance.now();
const elapsed = () => (performance.now() - start) / 1000;
let step = 0;
for (; elapsed() < seconds; step++) {
  const { x, y } = batch(train, step * batchSize, batchSize);
  const loss = lossFn.forward(model.forward(x), y);
  opt.zeroGrad();
  model.backward(lossFn.backward(), { inputGrad: false }); // the images need no gradient
  opt.step();
  if ((step + 1) % 50 === 0) console.log(`step ${step + 1}: loss ${loss.toFixed(3)} (${elapsed().toFixed(0)} s)`);
}
console.log(`trained ${step} steps (${((step * batchSize) / train.count).toFixed(2)} epochs) in ${elapsed().toFixed(1)} s`);

// Units whose pre-activation stayed <= 0 on every training batch the monitor saw, per ReLU node.
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
