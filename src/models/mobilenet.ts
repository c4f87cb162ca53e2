import { checkFinite, checkOptions, checkPositiveInt } from '../check.js';
import * as init from '../init/index.js';
import { Add, AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Graph, Linear, ReLU6, Sequential } from '../nn/index.js';

/** The options of `mobilenetV2`. */
export interface MobileNetV2Options {
  /** Outputs of the final linear layer (default 1000). */
  numClasses?: number;
  /** Multiplies every width (channels rounded to a multiple of 8 as torchvision does; default 1). */
  widthMult?: number;
  /** The dropout probability before the classifier (default 0.2). */
  dropout?: number;
}

/** torchvision's `_make_divisible`: `v` rounded to a multiple of 8, never more than 10% below it. */
function makeDivisible(v: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/** torchvision's Conv2dNormActivation: conv (no bias, "same" padding), BatchNorm, ReLU6, as children 0, 1, 2. */
function convBnRelu6(inC: number, outC: number, kernelSize: number, stride = 1, groups = 1): Sequential {
  const padding = (kernelSize - 1) >> 1;
  return new Sequential(new Conv2d(inC, outC, kernelSize, { stride, padding, groups, bias: false }), new BatchNorm2d(outC), new ReLU6());
}

/**
 * torchvision's InvertedResidual: a Sequential `conv` (1×1 expansion unless `expandRatio` is 1,
 * 3×3 depthwise, 1×1 linear projection and BatchNorm), plus the input when the block keeps the
 * stride and the width.
 */
function invertedResidual(inC: number, outC: number, stride: number, expandRatio: number): Graph {
  const hidden = inC * expandRatio;
  const conv = new Sequential();
  if (expandRatio !== 1) conv.append(convBnRelu6(inC, hidden, 1));
  conv.append(convBnRelu6(hidden, hidden, 3, stride, hidden));
  conv.append(new Conv2d(hidden, outC, 1, { bias: false }));
  conv.append(new BatchNorm2d(outC));
  const block = new Graph().node('conv', conv, 'input');
  if (stride === 1 && inC === outC) return block.node('add', new Add(), ['input', 'conv']).output('add');
  return block.output('conv');
}

/** Expansion t, output channels c, repeats n, first stride s of each stage, as torchvision. */
const STAGES: readonly [t: number, c: number, n: number, s: number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/**
 * torchvision's `mobilenet_v2`: an `nn.Graph` (`features`, `avgpool`, `flatten`, `classifier`)
 * whose `stateDict()` keys are exactly `torchvision.models.mobilenet_v2(num_classes=numClasses,
 * width_mult=widthMult).state_dict()`'s, in the same order. Input `[N, 3, H, W]`, output
 * `[N, numClasses]` logits; the ReLU6 nodes are named as torchvision's modules
 * (`features.0.2`, `features.2.conv.0.2`, ...).
 */
export function mobilenetV2(options?: MobileNetV2Options): Graph {
  const what = 'models.mobilenetV2';
  const o = checkOptions(options, what, ['numClasses', 'widthMult', 'dropout']);
  const numClasses = checkPositiveInt(o.numClasses ?? 1000, `${what} numClasses`);
  const widthMult = checkFinite(o.widthMult ?? 1, `${what} widthMult`);
  if (widthMult <= 0) throw new RangeError(`${what} widthMult must be positive, got ${widthMult}`);
  const dropout = checkFinite(o.dropout ?? 0.2, `${what} dropout`);
  if (dropout < 0 || dropout >= 1) throw new RangeError(`${what} dropout must be in [0, 1), got ${dropout}`);

  let inC = makeDivisible(32 * widthMult);
  const lastChannels = makeDivisible(1280 * Math.max(1, widthMult));
  const features = new Sequential(convBnRelu6(3, inC, 3, 2));
  for (const [t, c, n, s] of STAGES) {
    const outC = makeDivisible(c * widthMult);
    for (let i = 0; i < n; i++) {
      features.append(invertedResidual(inC, outC, i === 0 ? s : 1, t));
      inC = outC;
    }
  }
  features.append(convBnRelu6(inC, lastChannels, 1));
  const model = new Graph()
    .node('features', features, 'input')
    .node('avgpool', new AdaptiveAvgPool2d(1), 'features')
    .node('flatten', new Flatten(), 'avgpool')
    .node('classifier', new Sequential(new Dropout({ p: dropout }), new Linear(lastChannels, numClasses)), 'flatten')
    .output('classifier');
  // torchvision's initialisation: He-normal (fan_out) convs, N(0, 0.01) linear weights, zero biases.
  for (const [, m] of model.namedModules()) {
    if (m instanceof Conv2d) init.kaimingNormal(m.weight.data, { mode: 'fan_out' });
    if (m instanceof Linear) {
      init.normal(m.weight.data, 0, 0.01);
      init.zeros(m.bias!.data);
    }
  }
  return model;
}
