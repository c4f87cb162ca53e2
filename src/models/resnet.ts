import { checkOptions, checkPositiveInt } from '../check.js';
import * as init from '../init/index.js';
import { Add, AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Flatten, Graph, Linear, MaxPool2d, ReLU, Sequential } from '../nn/index.js';

/** The options of `resnet18` and `resnet34`. */
export interface ResNetOptions {
  /** Outputs of the final linear layer (default 1000, ImageNet's classes). */
  numClasses?: number;
  /** Channels of the input image (default 3); torchvision has no such option, its conv1 takes 3. */
  inChannels?: number;
}

/**
 * torchvision's BasicBlock: relu1(bn1(conv1(x))) → bn2(conv2(·)), plus x (or downsample(x), a
 * 1×1 conv and BN, when the block changes the stride or the width), then relu2. torchvision
 * applies one ReLU module twice; here each use is its own node, so a monitor tells them apart.
 * Nodes are added in torchvision's registration order, which is the state dict's.
 */
function basicBlock(inPlanes: number, planes: number, stride: number): Graph {
  const conv3x3 = (inC: number, s: number): Conv2d => new Conv2d(inC, planes, 3, { stride: s, padding: 1, bias: false });
  const block = new Graph()
    .node('conv1', conv3x3(inPlanes, stride), 'input')
    .node('bn1', new BatchNorm2d(planes), 'conv1')
    .node('relu1', new ReLU(), 'bn1')
    .node('conv2', conv3x3(planes, 1), 'relu1')
    .node('bn2', new BatchNorm2d(planes), 'conv2');
  let shortcut = 'input';
  if (stride !== 1 || inPlanes !== planes) {
    block.node('downsample', new Sequential(new Conv2d(inPlanes, planes, 1, { stride, bias: false }), new BatchNorm2d(planes)), 'input');
    shortcut = 'downsample';
  }
  return block.node('add', new Add(), ['bn2', shortcut]).node('relu2', new ReLU(), 'add').output('relu2');
}

/** torchvision's ResNet with BasicBlocks, `blocks[i]` of them in stage i + 1. */
function resnet(name: string, blocks: readonly number[], options: ResNetOptions | undefined): Graph {
  const what = `models.${name}`;
  const o = checkOptions(options, what, ['numClasses', 'inChannels']);
  const numClasses = checkPositiveInt(o.numClasses ?? 1000, `${what} numClasses`);
  const inChannels = checkPositiveInt(o.inChannels ?? 3, `${what} inChannels`);
  const model = new Graph()
    .node('conv1', new Conv2d(inChannels, 64, 7, { stride: 2, padding: 3, bias: false }), 'input')
    .node('bn1', new BatchNorm2d(64), 'conv1')
    .node('relu', new ReLU(), 'bn1')
    .node('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }), 'relu');
  let last = 'maxpool';
  let inPlanes = 64;
  blocks.forEach((count, stage) => {
    const planes = 64 << stage;
    const layer = new Sequential();
    for (let b = 0; b < count; b++) {
      layer.append(basicBlock(inPlanes, planes, b === 0 && stage > 0 ? 2 : 1));
      inPlanes = planes;
    }
    model.node(`layer${stage + 1}`, layer, last);
    last = `layer${stage + 1}`;
  });
  model
    .node('avgpool', new AdaptiveAvgPool2d(1), last)
    .node('flatten', new Flatten(), 'avgpool')
    .node('fc', new Linear(inPlanes, numClasses), 'flatten')
    .output('fc');
  // torchvision's initialisation: He-normal (fan_out) convs; BatchNorm 1 and 0 and Linear's
  // default are what the layers start with already.
  for (const [, m] of model.namedModules()) {
    if (m instanceof Conv2d) init.kaimingNormal(m.weight.data, { mode: 'fan_out', nonlinearity: 'relu' });
  }
  return model;
}

/**
 * torchvision's `resnet18`: an `nn.Graph` whose `stateDict()` keys are exactly
 * `torchvision.models.resnet18(num_classes=numClasses).state_dict()`'s, in the same order, so
 * weights PyTorch saved load strictly. Activation nodes are named `relu`, `layer1.0.relu1`,
 * `layer1.0.relu2`, ... Input `[N, inChannels, H, W]` (H, W ≥ 32 keep every stage non-empty),
 * output `[N, numClasses]` logits.
 */
export function resnet18(options?: ResNetOptions): Graph {
  return resnet('resnet18', [2, 2, 2, 2], options);
}

/** torchvision's `resnet34` (3, 4, 6 and 3 BasicBlocks), built and named as `resnet18`. */
export function resnet34(options?: ResNetOptions): Graph {
  return resnet('resnet34', [3, 4, 6, 3], options);
}
