// backward(dy, { inputGrad: false }): a training step's backward, which never uses the gradient
// w.r.t. the network's input. It must add exactly the parameter gradients a full backward adds
// (the same bits, on both backends: the kernels skip the input-gradient product and leave the
// weight-gradient arithmetic as it was), return null, and in a graph pass `false` on only to the
// nodes that read nothing but graph inputs.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Tensor, nn } from '../src/index.js';
import { kernels } from '../src/backend/index.js';
import { describeEachBackend } from './helpers/backends.js';
import { randomizeParameters } from './helpers/modules.js';
import { randomTensor } from './helpers/numeric.js';

/** Every parameter gradient's bits. */
function gradBits(m: nn.AnyModule): number[][] {
  return m.parameters().map((p) => Array.from(new Uint32Array(p.grad.data.slice().buffer)));
}

/** Gives every gradient nonzero values (seeded), so that adding into them is exercised. */
function seedGrads(m: nn.AnyModule, seed: number): void {
  m.parameters().forEach((p, i) => p.grad.data.set(randomTensor([...p.grad.shape], seed + i).data));
}

/**
 * Runs forward on `xs`, then backward with and without the input gradient from the same starting
 * gradients: expects the same bits, null from the second, and gradients that moved.
 */
function expectSameParameterGradients(m: nn.AnyModule, xs: Tensor[], seed = 1): Tensor | Tensor[] {
  randomizeParameters(m, seed);
  const y = m.forward(...xs) as Tensor;
  const dy = randomTensor([...y.shape], seed + 50);
  seedGrads(m, seed + 100);
  const before = gradBits(m);
  const dx = m.backward(dy) as Tensor | Tensor[];
  const full = gradBits(m);
  expect(full).not.toEqual(before);
  seedGrads(m, seed + 100);
  expect(m.backward(dy, { inputGrad: false })).toBeNull();
  expect(gradBits(m)).toEqual(full);
  // inputGrad: true is the default.
  seedGrads(m, seed + 100);
  const again = m.backward(dy, { inputGrad: true }) as Tensor | Tensor[];
  expect(gradBits(m)).toEqual(full);
  const flat = (d: Tensor | Tensor[]) => (Array.isArray(d) ? d : [d]).map((t) => Array.from(t.data));
  expect(flat(again)).toEqual(flat(dx));
  return dx;
}

/**
 * A pass-through layer that records which backward its container asked for; with a parameter
 * (which it leaves alone) unless told otherwise.
 */
class Probe extends nn.Module {
  readonly calls: string[] = [];
  constructor({ parameter = true } = {}) {
    super();
    if (parameter) this.registerParameter('unused', new nn.Parameter(Tensor.zeros([1])));
  }
  protected forwardImpl(x: Tensor): Tensor {
    return x;
  }
  protected backwardImpl(g: Tensor): Tensor {
    this.calls.push('inputGrad');
    return g;
  }
  protected override backwardParametersImpl(): void {
    this.calls.push('parameters only');
  }
  toConfig(): nn.ModuleConfig {
    return { type: 'Probe' };
  }
}

describeEachBackend('backward without the input gradient', () => {
  afterEach(() => vi.restoreAllMocks());

  it('Linear: the same weight and bias gradients, null, and no input gradient asked of the kernel', () => {
    const spy = vi.spyOn(kernels(), 'linearBackward');
    expectSameParameterGradients(new nn.Linear(37, 23), [randomTensor([3, 5, 37], 2)]);
    // Calls: with dx, without, with again.
    expect(spy.mock.calls.map((c) => c[3] === null)).toEqual([false, true, false]);
    // Past the kernels' parallel threshold, and without a bias.
    expectSameParameterGradients(new nn.Linear(160, 96, { bias: false }), [randomTensor([128, 160], 3)]);
  });

  it.each([
    ['Winograd-sized 3×3, 48→48 on [1, 48, 24, 24]', () => new nn.Conv2d(48, 48, 3, { padding: 1 }), [1, 48, 24, 24]],
    ['1×1 (pointwise planes)', () => new nn.Conv2d(8, 4, 1), [2, 8, 16, 16]],
    ['1×1, several samples per product, grouped', () => new nn.Conv2d(4, 6, 1, { groups: 2 }), [3, 4, 3, 3]],
    ['grouped 3×3, stride 2', () => new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1, groups: 2 }), [3, 4, 9, 8]],
    ['depthwise', () => new nn.Conv2d(6, 6, 3, { padding: 1, groups: 6, bias: false }), [2, 6, 5, 5]],
    ['7×7 stride 2 over 3 channels (ResNet\'s first layer)', () => new nn.Conv2d(3, 8, 7, { stride: 2, padding: 3 }), [2, 3, 20, 20]],
    ['3×3 on 1×1 planes (taps trimmed)', () => new nn.Conv2d(4, 6, 3, { padding: 1 }), [7, 4, 1, 1]],
    ['dilated', () => new nn.Conv2d(2, 3, 3, { padding: 2, dilation: 2 }), [2, 2, 8, 9]],
  ] as const)('Conv2d %s: the same gradients, null', (_name, make, shape) => {
    const spy = vi.spyOn(kernels(), 'conv2dBackward');
    expectSameParameterGradients(make(), [randomTensor([...shape], 4)]);
    expect(spy.mock.calls.map((c) => c[3] === null)).toEqual([false, true, false]);
  });

  it('Conv2d on an empty batch returns null and changes nothing', () => {
    const conv = new nn.Conv2d(2, 3, 3, { padding: 1 });
    const y = conv.forward(Tensor.zeros([0, 2, 4, 4]));
    expect(conv.backward(Tensor.zerosLike(y), { inputGrad: false })).toBeNull();
    expect(conv.parameters().every((p) => p.grad.data.every((v) => v === 0))).toBe(true);
  });

  it('a module that cannot skip the input gradient computes it and drops it (the base class)', () => {
    expectSameParameterGradients(new nn.PReLU({ numParameters: 3 }), [randomTensor([4, 3, 5], 5)]);
    expectSameParameterGradients(new nn.BatchNorm2d(3), [randomTensor([4, 3, 5, 5], 6)]);
  });

  it('Sequential MLP: the same gradients; only the first layer skips its input gradient', () => {
    const first = new Probe();
    const second = new Probe();
    const mlp = new nn.Sequential(first, new nn.Linear(30, 64), new nn.ReLU(), second, new nn.Linear(64, 32), new nn.ReLU(), new nn.Linear(32, 10));
    expectSameParameterGradients(mlp, [randomTensor([16, 30], 7)]);
    expect(first.calls).toEqual(['inputGrad', 'parameters only', 'inputGrad']);
    expect(second.calls).toEqual(['inputGrad', 'inputGrad', 'inputGrad']);
    // Without the probe, the first Linear is the one that skips it.
    const spy = vi.spyOn(kernels(), 'linearBackward');
    const plain = new nn.Sequential(new nn.Linear(30, 64), new nn.ReLU(), new nn.Linear(64, 10));
    plain.forward(randomTensor([4, 30], 8));
    plain.backward(randomTensor([4, 10], 9), { inputGrad: false });
    // Backward runs the last layer first.
    expect(spy.mock.calls.map((c) => c[3] === null)).toEqual([false, true]);
  });

  it('layers without parameters before the first with them (a Flatten) do not run, and that one skips its input gradient', () => {
    const flat = new Probe({ parameter: false });
    const spy = vi.spyOn(kernels(), 'conv2dBackward');
    const cnn = new nn.Sequential(flat, new nn.Flatten(), new nn.Reshape([-1, 2, 4, 4]), new nn.Conv2d(2, 3, 3), new nn.ReLU(), new nn.Flatten(), new nn.Linear(12, 5));
    expectSameParameterGradients(cnn, [randomTensor([3, 2, 16], 14)]);
    expect(flat.calls).toEqual(['inputGrad', 'inputGrad']);
    expect(spy.mock.calls.map((c) => c[3] === null)).toEqual([false, true, false]);
  });

  it('a Graph with a residual add: the same gradients; the node reading only the input skips its input gradient', () => {
    const g = new nn.Graph();
    const probe = new Probe();
    g.node('probe', probe, 'input');
    g.node('conv', new nn.Conv2d(4, 4, 3, { padding: 1 }), 'probe');
    g.node('relu', new nn.ReLU(), 'conv');
    g.node('sum', new nn.Add(), ['relu', 'input']); // the input fans out to the sum too
    g.output('sum');
    expectSameParameterGradients(g, [randomTensor([2, 4, 6, 6], 10)]);
    expect(probe.calls).toEqual(['inputGrad', 'parameters only', 'inputGrad']);
  });

  it('a Graph whose input fans out to two nodes: both skip their input gradient; nodes reading a node do not', () => {
    const g = new nn.Graph();
    const [a, b, c] = [new Probe(), new Probe(), new Probe()];
    g.node('a', a, 'input');
    g.node('la', new nn.Linear(6, 5), 'a');
    g.node('b', b, 'input');
    g.node('lb', new nn.Linear(6, 5), 'b');
    g.node('c', c, 'la');
    g.node('sum', new nn.Add(), ['c', 'lb']);
    g.output('sum');
    expectSameParameterGradients(g, [randomTensor([3, 6], 11)]);
    for (const p of [a, b]) expect(p.calls).toEqual(['inputGrad', 'parameters only', 'inputGrad']);
    expect(c.calls).toEqual(['inputGrad', 'inputGrad', 'inputGrad']);
  });

  it('nested: a Sequential whose first node reads the graph input passes it on to its own first layer', () => {
    const inner = new Probe();
    const g = new nn.Graph<[Tensor, Tensor], Tensor, Tensor[]>({ inputs: ['x', 'y'] });
    g.node('block', new nn.Sequential(inner, new nn.Linear(4, 4)), 'x');
    g.node('cat', new nn.Cat({ dim: 1 }), ['block', 'y']);
    g.node('head', new nn.Linear(7, 2), 'cat');
    g.output('head');
    const dxs = expectSameParameterGradients(g, [randomTensor([5, 4], 12), randomTensor([5, 3], 13)]);
    expect(Array.isArray(dxs) && dxs.length).toBe(2);
    expect(inner.calls).toEqual(['inputGrad', 'parameters only', 'inputGrad']);
  });
});

describe('backward options', () => {
  it('types: backward(dy) is the input gradient, { inputGrad: false } gives null', () => {
    const m = new nn.Linear(3, 2);
    const y = m.forward(randomTensor([1, 3], 1));
    const dx: Tensor = m.backward(y);
    const none: null = m.backward(y, { inputGrad: false });
    const flag: boolean = dx.size > 0;
    const either: Tensor | null = m.backward(y, { inputGrad: flag });
    expect([dx.shape, none, either?.shape]).toEqual([[1, 3], null, [1, 3]]);
  });
});
