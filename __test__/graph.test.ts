// nn.Graph, nn.Add, nn.Cat and Sequential as a graph.
//
// PyTorch parity (scripts/make_fixtures.py, graphs): a residual block nested in a Sequential and a
// concatenation with a fan-out, in train mode (logits, loss, input and parameter gradients,
// running statistics) and eval mode. Tolerances as in whole-cnn.test.ts: liven and PyTorch sum in
// different orders, ~1e-6 of a tensor's largest value over these ~12 layers; each tensor is
// compared with SCALE · (its largest |value|) plus the same relative tolerance, while a wrong
// routing (a gradient not summed, a wrong input order) is off by 1e-2 or more. Every ReLU input
// keeps 1e-5 from 0 in the fixture (kinkMargins), so rounding cannot flip a branch.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, diag, io, nn } from '../src/index.js';
import * as dist from '../dist/index.js';
import { diagnose } from '../src/diagnose.js';
import { backends, describeEachBackend, withBackend } from './helpers/backends.js';
import type { FixtureTensor } from './helpers/fixtures.js';
import { randomizeParameters } from './helpers/modules.js';
import { awayFromZero, detach, expectClose, gradcheck, randomTensor } from './helpers/numeric.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/graph.json', import.meta.url), 'utf8')) as {
  state: Record<string, FixtureTensor>;
  input: FixtureTensor;
  target: number[];
  logits: FixtureTensor;
  loss: number;
  gradInput: FixtureTensor;
  grads: Record<string, FixtureTensor>;
  buffers: Record<string, FixtureTensor>;
  evalLogits: FixtureTensor;
};

const SCALE = 2e-5;
/**
 * `floor`: the scale below which a tensor is noise. The stem's bias feeds a BatchNorm in train
 * mode, so its true gradient is 0 and both sides hold rounding noise (~1e-8) of the gradients
 * around it (~1e-2): gradients are compared with at least SCALE · 1e-2.
 */
function expectNear(actual: Tensor | Float32Array, expected: FixtureTensor | Tensor, what: string, floor = 0): void {
  let largest = floor;
  for (const v of expected.data) largest = Math.max(largest, Math.abs(v));
  expectClose(actual, expected, what, { atol: SCALE * largest, rtol: SCALE });
}
const GRAD_FLOOR = 1e-2;
const tensor = (t: FixtureTensor) => Tensor.from(t.data, t.shape);
const bits = (t: { data: Float32Array }) => [...new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)];

/** torchvision's BasicBlock without downsampling, as a graph. */
function block(c: number): nn.Graph {
  return new nn.Graph()
    .node('conv1', new nn.Conv2d(c, c, 3, { padding: 1, bias: false }), 'input')
    .node('bn1', new nn.BatchNorm2d(c), 'conv1')
    .node('relu1', new nn.ReLU(), 'bn1')
    .node('conv2', new nn.Conv2d(c, c, 3, { padding: 1, bias: false }), 'relu1')
    .node('bn2', new nn.BatchNorm2d(c), 'conv2')
    .node('add', new nn.Add(), ['bn2', 'input'])
    .node('relu2', new nn.ReLU(), 'add')
    .output('relu2');
}

/** The fixture's network (graph_model in make_fixtures.py), node for node. */
function residualNet(): nn.Graph {
  return new nn.Graph({ inputs: ['x'] })
    .node('stem', new nn.Conv2d(3, 8, 3, { padding: 1 }), 'x')
    .node('bn', new nn.BatchNorm2d(8), 'stem')
    .node('relu', new nn.ReLU(), 'bn')
    .node('layer1', new nn.Sequential(block(8)), 'relu')
    .node('cat', new nn.Cat({ dim: 1 }), ['layer1', 'relu'])
    .node('head', new nn.Conv2d(16, 8, 1), 'cat')
    .node('pool', new nn.GlobalAvgPool2d(), 'head')
    .node('fc', new nn.Linear(8, 5), 'pool')
    .output('fc');
}

function loaded(): nn.Graph {
  const g = residualNet();
  expect(g.loadStateDict(Object.fromEntries(Object.entries(fixture.state).map(([k, v]) => [k, tensor(v)])))).toEqual({ missingKeys: [], unexpectedKeys: [] });
  return g;
}

/** Every tensor of a model, with its gradients: compare before and after a failed call. */
function snapshot(m: nn.AnyModule): number[][] {
  return [...Object.values(m.stateDict()).map((t) => [...t.data]), ...m.parameters().map((p) => [...p.grad.data])];
}

describeEachBackend('nn.Graph: PyTorch parity (residual block in a Sequential, concatenation, fan-out)', () => {
  it('has PyTorch state-dict keys in PyTorch order', () => {
    expect(Object.keys(residualNet().stateDict())).toEqual(Object.keys(fixture.state));
  });

  it('gives PyTorch logits, loss, input and parameter gradients and running statistics in train mode, then the eval logits', () => {
    const g = loaded();
    const x = tensor(fixture.input);
    const logits = g.forward(x);
    expectNear(logits, fixture.logits, 'train logits');
    const lossFn = new nn.CrossEntropyLoss();
    expect(lossFn.forward(logits, fixture.target)).toBeCloseTo(fixture.loss, 5);
    expectNear(g.backward(lossFn.backward()), fixture.gradInput, 'input gradient', GRAD_FLOOR);
    const grads = Object.fromEntries(g.namedParameters().map(([k, p]) => [k, p.grad]));
    expect(Object.keys(grads)).toEqual(Object.keys(fixture.grads));
    for (const [k, expected] of Object.entries(fixture.grads)) expectNear(grads[k]!, expected, `gradient of ${k}`, GRAD_FLOOR);
    const buffers = Object.fromEntries(g.namedBuffers());
    expect(Object.keys(buffers)).toEqual(Object.keys(fixture.buffers));
    for (const [k, expected] of Object.entries(fixture.buffers)) expectNear(buffers[k]!, expected, `buffer ${k}`);
    g.eval();
    expectNear(g.forward(x), fixture.evalLogits, 'eval logits');
  });

  it('rebuilds from its config (through JSON) with identical outputs and gradients', () => {
    const g = loaded();
    const config = g.toConfig();
    expect(config).toMatchObject({ type: 'Graph', inputs: ['x'], outputs: ['fc'] });
    expect((config.nodes as { name: string; inputs: string[] }[]).map((n) => [n.name, n.inputs])).toEqual([
      ['stem', ['x']], ['bn', ['stem']], ['relu', ['bn']], ['layer1', ['relu']], ['cat', ['layer1', 'relu']], ['head', ['cat']], ['pool', ['head']], ['fc', ['pool']],
    ]);
    const h = nn.moduleFromConfig(JSON.parse(JSON.stringify(config)));
    expect(h).toBeInstanceOf(nn.Graph);
    expect(h.toConfig()).toEqual(config);
    h.loadStateDict(g.stateDict());
    const x = tensor(fixture.input);
    const dy = randomTensor([4, 5], 3);
    expect(bits(h.forward(x))).toEqual(bits(g.forward(x)));
    expect(bits(h.backward(dy))).toEqual(bits(g.backward(dy)));
    expect(h.namedParameters().map(([, p]) => bits(p.grad))).toEqual(g.namedParameters().map(([, p]) => bits(p.grad)));
    expect(Object.values(h.stateDict()).map(bits)).toEqual(Object.values(g.stateDict()).map(bits));
  });
});

describe('nn.Graph: native and JS backends agree past the parallel thresholds', () => {
  it.skipIf(backends.length < 2)('forward, backward and every gradient within float32 rounding', () => {
    const run = (backend: 'native' | 'js') =>
      withBackend(backend, () => {
        const g = loaded();
        const x = randomTensor([6, 3, 20, 18], 11);
        const y = g.forward(x);
        const dx = g.backward(randomTensor([6, 5], 12));
        return [y, dx, ...g.parameters().map((p) => p.grad)];
      });
    const [native, js] = [run('native'), run('js')];
    // Gradients against the scale of all of them (the stem's bias's is 0 plus noise, see expectNear).
    const gradScale = Math.max(...js.slice(1).flatMap((t) => [...t.data].map(Math.abs)));
    native.forEach((t, i) => expectNear(t, js[i]!, i === 0 ? 'output' : i === 1 ? 'input gradient' : `gradient ${i - 2}`, i === 0 ? 0 : gradScale));
  });
});

describeEachBackend('nn.Graph: gradients by finite differences', () => {
  it('a fan-out into an Add and a Cat, with parameters on each path', () => {
    // 'a' feeds three nodes; x feeds two; the gradients of both must be sums.
    const g = new nn.Graph({ inputs: ['x'] })
      .node('a', new nn.Linear(4, 4), 'x')
      .node('b', new nn.PReLU({ numParameters: 4 }), 'a')
      .node('sum', new nn.Add(), ['a', 'b', 'x'])
      .node('c', new nn.Linear(4, 3), 'a')
      .node('cat', new nn.Cat({ dim: -1 }), ['sum', 'c', 'a'])
      .output('cat');
    randomizeParameters(g, 21);
    gradcheck(g, awayFromZero([3, 4], 5));
  });

  it('several inputs and several outputs, an input used twice by one node and an input no output needs', () => {
    const g = new nn.Graph<[Tensor, Tensor, Tensor], Tensor[], Tensor[]>({ inputs: ['x', 'y', 'unused'] })
      .node('p', new nn.Linear(3, 3), 'x')
      .node('twice', new nn.Add(), ['p', 'p', 'y'])
      .node('q', new nn.Linear(3, 2), 'twice')
      .output(['q', 'p', 'y']);
    randomizeParameters(g, 31);
    gradcheck(g, [randomTensor([2, 3], 1), randomTensor([2, 3], 2), randomTensor([2, 5], 3)]);
    const dx = g.backward([Tensor.zeros([2, 2]), Tensor.zeros([2, 3]), Tensor.zeros([2, 3])]);
    expect(dx.map((t) => t.shape)).toEqual([[2, 3], [2, 3], [2, 5]]);
    expect([...dx[2]!.data]).toEqual(new Array(10).fill(0));
  });
});

describeEachBackend('nn.Add and nn.Cat', () => {
  it('Add sums elementwise; its backward gives each input a copy of dy', () => {
    const add = new nn.Add();
    const y = add.forward(Tensor.from([1, 2, 3], [3]), Tensor.from([10, 20, 30], [3]), Tensor.from([100, 200, 300], [3]));
    expect([...y.data]).toEqual([111, 222, 333]);
    const dy = Tensor.from([1, -2, 3], [3]);
    const dx = add.backward(dy);
    expect(dx.map((t) => [...t.data])).toEqual([[1, -2, 3], [1, -2, 3], [1, -2, 3]]);
    expect(dx[0]!.data).not.toBe(dy.data);
    expect(dx[0]!.data).not.toBe(dx[1]!.data);
  });

  it('Cat concatenates along any dimension, negative ones too, as torch.cat', () => {
    const a = Tensor.from([1, 2, 3, 4], [2, 2]);
    const b = Tensor.from([5, 6], [2, 1]);
    expect([...new nn.Cat().forward(a, b).data]).toEqual([1, 2, 5, 3, 4, 6]);
    expect([...new nn.Cat({ dim: -1 }).forward(a, b).data]).toEqual([1, 2, 5, 3, 4, 6]);
    const c = Tensor.from([7, 8], [1, 2]);
    const cat0 = new nn.Cat({ dim: 0 });
    const y = cat0.forward(a, c);
    expect(y.shape).toEqual([3, 2]);
    expect([...y.data]).toEqual([1, 2, 3, 4, 7, 8]);
    const [da, dc] = cat0.backward(Tensor.from([10, 20, 30, 40, 50, 60], [3, 2]));
    expect([...da!.data]).toEqual([10, 20, 30, 40]);
    expect([...dc!.data]).toEqual([50, 60]);
    // channels of [N, C, H, W]
    const p = randomTensor([2, 3, 2, 2], 1);
    const q = randomTensor([2, 1, 2, 2], 2);
    const r = new nn.Cat().forward(p, q);
    for (let n = 0; n < 2; n++) {
      expect([...r.data.subarray(n * 16, n * 16 + 12)]).toEqual([...p.data.subarray(n * 12, n * 12 + 12)]);
      expect([...r.data.subarray(n * 16 + 12, n * 16 + 16)]).toEqual([...q.data.subarray(n * 4, n * 4 + 4)]);
    }
  });

  it('gradients by finite differences', () => {
    gradcheck(new nn.Add(), [randomTensor([2, 3], 1), randomTensor([2, 3], 2)]);
    gradcheck(new nn.Cat({ dim: 1 }), [randomTensor([2, 3, 2], 1), randomTensor([2, 1, 2], 2), randomTensor([2, 2, 2], 3)]);
  });

  it('refuses shapes that do not fit, naming them, and keeps the last good forward for backward', () => {
    const add = new nn.Add();
    add.forward(Tensor.zeros([2, 3]), Tensor.zeros([2, 3]));
    expect(() => add.forward(Tensor.zeros([2, 3]), Tensor.zeros([3, 2]))).toThrow(new RangeError('Add.forward: the inputs must have the same shape, got [2, 3], [3, 2]'));
    expect(add.backward(Tensor.zeros([2, 3]))).toHaveLength(2);
    expect(() => add.forward()).toThrow(new TypeError('Add.forward takes one or more inputs, got 0'));
    expect(() => add.forward(Tensor.zeros([1]), [1] as unknown as Tensor)).toThrow(/Add\.forward: input 1/);
    expect(() => add.backward(Tensor.zeros([3, 2]))).toThrow(/gradOutput has shape \[3, 2\], but the last forward's output has shape \[2, 3\]/);
    const cat = new nn.Cat({ dim: 1 });
    expect(() => cat.forward(Tensor.zeros([2, 3]), Tensor.zeros([3, 3]))).toThrow(new RangeError('Cat.forward: the inputs must have the same rank and agree in every dimension but 1, got [2, 3], [3, 3]'));
    expect(() => cat.forward(Tensor.zeros([2, 3]), Tensor.zeros([2, 3, 1]))).toThrow(RangeError);
    expect(() => new nn.Cat({ dim: 2 }).forward(Tensor.zeros([2, 3]))).toThrow(/dim 2 is out of range for inputs of shapes \[2, 3\]/);
    expect(() => new nn.Cat({ dim: -3 }).forward(Tensor.zeros([2, 3]))).toThrow(RangeError);
    expect(() => cat.backward(Tensor.zeros([2, 3]))).toThrow(/backward called before forward/);
    expect(() => new nn.Cat({ dim: 0.5 })).toThrow(RangeError);
    expect(() => new nn.Cat({ dim: '1' as unknown as number })).toThrow(TypeError);
    expect(nn.moduleFromConfig(new nn.Cat({ dim: -2 }).toConfig())).toMatchObject({ dim: -2 });
    expect(() => nn.moduleFromConfig({ type: 'Add', dim: 1 })).toThrow(/Add has no argument "dim"/);
  });

  it('keep no inputs for backward (only shapes): the inputs may go, even be detached', () => {
    const [a, b] = [randomTensor([2, 3], 1), randomTensor([2, 1], 2)];
    const add = new nn.Add();
    const cat = new nn.Cat();
    add.forward(a, a);
    cat.forward(a, b);
    detach(a.data);
    expect(add.backward(Tensor.zeros([2, 3])).map((t) => t.shape)).toEqual([[2, 3], [2, 3]]);
    expect(cat.backward(Tensor.zeros([2, 4])).map((t) => t.shape)).toEqual([[2, 3], [2, 1]]);
    // A module that keeps its input refuses, as before.
    const relu = new nn.ReLU();
    const x = randomTensor([2], 3);
    relu.forward(x);
    detach(x.data);
    expect(() => relu.backward(Tensor.zeros([2]))).toThrow(/the saved input/);
  });

  it('forward hooks of a module of several inputs get the inputs as an array', () => {
    const add = new nn.Add();
    const seen: number[][] = [];
    add.registerForwardHook((_m, inputs, output) => seen.push([inputs.length, ...output.data]));
    add.forward(Tensor.from([1], [1]), Tensor.from([2], [1]));
    expect(seen).toEqual([[2, 3]]);
  });
});

describe('nn.Graph: building, names and errors', () => {
  const residual = () =>
    new nn.Graph({ inputs: ['x'] })
      .node('conv', new nn.Conv2d(2, 2, 3, { padding: 1 }), 'x')
      .node('bn', new nn.BatchNorm2d(2), 'conv')
      .node('sum', new nn.Add(), ['bn', 'x'])
      .output('sum');

  it('names parameters and modules by node path, recursively (torchvision keys)', () => {
    const net = new nn.Graph().node('layer1', new nn.Sequential(block(2), block(2)), 'input').output('layer1');
    expect(Object.keys(net.stateDict()).slice(0, 8)).toEqual([
      'layer1.0.conv1.weight', 'layer1.0.bn1.weight', 'layer1.0.bn1.bias', 'layer1.0.bn1.running_mean', 'layer1.0.bn1.running_var', 'layer1.0.bn1.num_batches_tracked', 'layer1.0.conv2.weight', 'layer1.0.bn2.weight',
    ]);
    expect(net.namedModules().map(([p]) => p)).toContain('layer1.1.relu2');
    expect(net.at('layer1')).toBeInstanceOf(nn.Sequential);
    expect((net.at('layer1') as nn.Sequential).at(1)).toBeInstanceOf(nn.Graph);
    expect(net.inputs).toEqual(['input']);
    expect(net.outputs).toEqual(['layer1']);
    expect(net.nodes().map((n) => [n.name, n.inputs])).toEqual([['layer1', ['input']]]);
  });

  it('train/eval, zeroGrad and forward hooks reach every node', () => {
    const g = residual();
    g.eval();
    expect(g.namedModules().every(([, m]) => !m.training)).toBe(true);
    g.train();
    expect(g.namedModules().every(([, m]) => m.training)).toBe(true);
    const y = g.forward(randomTensor([1, 2, 3, 3], 1));
    g.backward(y);
    expect(g.parameters().some((p) => p.grad.data.some((v) => v !== 0))).toBe(true);
    g.zeroGrad();
    expect(g.parameters().every((p) => p.grad.data.every((v) => v === 0))).toBe(true);
    const calls: string[] = [];
    const a = g.registerForwardHook((_m, x, out) => calls.push(`graph ${x.shape} -> ${out.shape}`));
    const b = g.at('sum').registerForwardHook((_m, xs: Tensor[]) => calls.push(`sum of ${xs.length}`));
    g.forward(randomTensor([1, 2, 3, 3], 2));
    a.remove();
    b.remove();
    g.forward(randomTensor([1, 2, 3, 3], 2));
    expect(calls).toEqual(['sum of 2', 'graph 1,2,3,3 -> 1,2,3,3']);
  });

  it('loads state dicts strictly and atomically', () => {
    const g = residual();
    const sd = g.stateDict();
    const before = snapshot(g);
    const { 'bn.running_mean': _dropped, ...missing } = sd;
    expect(() => g.loadStateDict(missing)).toThrow(/missing key "bn.running_mean"; nothing was loaded/);
    expect(() => g.loadStateDict({ ...sd, 'conv.weight': Tensor.zeros([2]), 'extra.w': Tensor.zeros([1]) })).toThrow(/unexpected key "extra.w"; "conv.weight" has shape \[2\]/);
    expect(snapshot(g)).toEqual(before);
  });

  it('refuses a bad name, a taken name, an unknown input, a wrong number of inputs or a reused module, at node(), naming it', () => {
    const relu = new nn.ReLU();
    const g = new nn.Graph({ inputs: ['x', 'y'] }).node('r', relu, 'x');
    const structure = () => [g.nodes().map((n) => n.name), g.outputs];
    const before = structure();
    expect(() => g.node('a.b', new nn.ReLU(), 'x')).toThrow(new Error('Graph.node: the name "a.b" is not a valid name: use letters, digits and _ (no dots)'));
    expect(() => g.node('', new nn.ReLU(), 'x')).toThrow(/the name "" is not a valid name/);
    expect(() => g.node(3 as unknown as string, new nn.ReLU(), 'x')).toThrow(TypeError);
    expect(() => g.node('r', new nn.ReLU(), 'x')).toThrow(new Error('Graph.node: the name "r" is taken by a node of the graph'));
    expect(() => g.node('y', new nn.ReLU(), 'x')).toThrow(/the name "y" is taken by an input/);
    expect(() => g.node('z', new nn.ReLU(), 'nope')).toThrow(new Error('Graph.node("z"): unknown input "nope"; a node takes the graph\'s inputs ("x", "y") or earlier nodes ("r")'));
    expect(() => g.node('z', new nn.ReLU(), 'z')).toThrow(/unknown input "z"/);
    expect(() => g.node('z', new nn.ReLU(), [])).toThrow(/a node needs at least one input/);
    expect(() => g.node('z', new nn.ReLU(), ['x', 'y'])).toThrow(new Error('Graph.node("z"): a ReLU takes 1 input, got 2 ("x", "y")'));
    expect(() => g.node('z', new nn.Graph({ inputs: ['a', 'b'] }).node('s', new nn.Add(), ['a', 'b']).output('s'), 'x')).toThrow(/a Graph takes 2 inputs, got 1/);
    expect(() => g.node('z', new nn.Graph(), 'x')).toThrow(/a nested Graph must have exactly one output, it has 0/);
    expect(() => g.node('z', {} as nn.Module, 'x')).toThrow(new TypeError('Graph.node("z"): the module is not a Module'));
    expect(() => g.node('z', relu, 'r')).toThrow(new TypeError('Graph: the ReLU at "z" is the same instance as the one at "r"; a module can appear once, so create a new one'));
    expect(() => g.node('z', new nn.Sequential(new nn.ReLU(), relu), 'r')).toThrow(/the ReLU at "z.1" is the same instance as the one at "r"/);
    const single = new nn.Graph().node('r', new nn.ReLU(), 'input').output('r');
    expect(() => single.node('z', single, 'r')).toThrow(/the Graph at "z" is the same instance as the one at "\(the Graph itself\)"/);
    expect(() => g.output('nope')).toThrow(new Error('Graph.output: unknown output "nope"; the graph has the inputs "x", "y" and the nodes "r"'));
    expect(() => g.output(['r', 'r'])).toThrow(/"r" is given twice/);
    expect(() => g.output([])).toThrow(/at least one name/);
    expect(() => g.at('nope')).toThrow(/"nope" is not a node; the nodes are "r"/);
    expect(() => g.at('x')).toThrow(/"x" is an input, not a node/);
    expect(() => new nn.Graph({ inputs: [] })).toThrow(/at least one input/);
    expect(() => new nn.Graph({ inputs: ['a', 'a'] })).toThrow(/the input name "a" is given twice/);
    expect(() => new nn.Graph({ inputs: ['a-b'] })).toThrow(/Graph input 0 "a-b" is not a valid name/);
    expect(() => new nn.Graph({ inputs: 'x' as unknown as string[] })).toThrow(TypeError);
    expect(structure()).toEqual(before);
    expect(g.at('r')).toBe(relu);
  });

  it('refuses to run without outputs, or with the wrong number of inputs, changing nothing', () => {
    const g = new nn.Graph<[Tensor, Tensor]>({ inputs: ['x', 'y'] }).node('s', new nn.Add(), ['x', 'y']);
    expect(() => g.forward(Tensor.zeros([1]), Tensor.zeros([1]))).toThrow(new Error('Graph.forward: the graph has no outputs yet; call output(names) first'));
    expect(() => g.toConfig()).toThrow(/no outputs yet/);
    g.output('s');
    expect(() => (g as nn.AnyModule).forward(Tensor.zeros([1]))).toThrow(new TypeError('Graph.forward takes 2 inputs, got 1'));
    expect(() => g.forward(Tensor.zeros([1]), null as unknown as Tensor)).toThrow(/Graph\.forward: input "y"/);
    expect(() => g.backward(Tensor.zeros([1]))).toThrow(/backward called before forward/);
  });

  it('a forward that fails part-way changes no tensor, and backward then refuses', () => {
    // BatchNorm1d runs (in train mode its running statistics move), then Linear refuses its output.
    const g = new nn.Graph().node('bn', new nn.BatchNorm1d(4), 'input').node('lin', new nn.Linear(4, 3), 'bn').output('lin');
    randomizeParameters(g, 3);
    g.backward(g.forward(randomTensor([5, 4], 1)));
    const before = snapshot(g);
    expect(() => g.forward(randomTensor([5, 4, 3], 2))).toThrow(RangeError);
    expect(snapshot(g)).toEqual(before);
    expect(() => g.backward(Tensor.zeros([5, 3]))).toThrow(new Error('Graph.backward: the last forward failed part-way, so the layers hold inputs of different passes; run forward again'));
    expect(snapshot(g)).toEqual(before);
    // A wrong-shaped gradient: as for any module.
    g.forward(randomTensor([5, 4], 1));
    const after = snapshot(g);
    expect(() => g.backward(Tensor.zeros([5, 4]))).toThrow(new RangeError("Graph.backward: gradOutput has shape [5, 4], but the last forward's output has shape [5, 3]"));
    expect(snapshot(g)).toEqual(after);
  });

  it('a graph with several outputs takes their gradients as an array', () => {
    const g = new nn.Graph<[Tensor], Tensor[]>().node('a', new nn.ReLU(), 'input').output(['a', 'input']);
    const [a, id] = g.forward(Tensor.from([-1, 2], [2]));
    expect([...a!.data, ...id!.data]).toEqual([0, 2, -1, 2]);
    expect(() => g.backward(Tensor.zeros([2]) as unknown as Tensor[])).toThrow(/gradOutput must be an array of 2 Tensors/);
    expect(() => g.backward([Tensor.zeros([2]), Tensor.zeros([3])])).toThrow(/gradOutput 1 has shape \[3\], but the last forward's output 1 has shape \[2\]/);
    expect([...g.backward([Tensor.from([1, 1], [2]), Tensor.from([10, 10], [2])]).data]).toEqual([10, 11]);
  });
});

describe('nn.Sequential is a chain of graph nodes', () => {
  it('has nodes "0", "1", ... each taking the previous one, and keeps its own config', () => {
    const inner = new nn.Sequential(new nn.ReLU());
    const s = new nn.Sequential(new nn.Linear(3, 2), inner).append(new nn.PReLU());
    expect(s).toBeInstanceOf(nn.Graph);
    expect(s.nodes().map((n) => [n.name, n.inputs])).toEqual([['0', ['input']], ['1', ['0']], ['2', ['1']]]);
    expect(s.outputs).toEqual(['2']);
    expect(s.at('1')).toBe(inner);
    expect(s.at(-2)).toBe(inner);
    expect(s.toConfig()).toEqual({ type: 'Sequential', layers: [{ type: 'Linear', inFeatures: 3, outFeatures: 2, bias: true }, { type: 'Sequential', layers: [{ type: 'ReLU' }] }, { type: 'PReLU', numParameters: 1, init: 0.25 }] });
    expect(nn.moduleFromConfig(s.toConfig())).toBeInstanceOf(nn.Sequential);
    expect(() => s.node('x', new nn.ReLU(), '2')).toThrow(/Sequential\.node\("x"\): a Sequential is a chain; add layers with append/);
    expect(() => s.output('1')).toThrow(/Sequential\.output: a Sequential returns its last layer's output/);
    expect(s.nodes()).toHaveLength(3);
    const empty = new nn.Sequential();
    const x = randomTensor([2, 3], 1);
    expect(empty.forward(x)).toBe(x);
    expect([...empty.backward(x).data]).toEqual([...x.data]);
  });

  it('can be a node of a graph and hold graphs', () => {
    const g = new nn.Graph().node('seq', new nn.Sequential(new nn.Linear(2, 2), new nn.Graph().node('r', new nn.ReLU(), 'input').output('r')), 'input').output('seq');
    expect(Object.keys(g.stateDict())).toEqual(['seq.0.weight', 'seq.0.bias']);
    expect(g.namedModules().map(([p]) => p)).toEqual(['', 'seq', 'seq.0', 'seq.1', 'seq.1.r']);
    randomizeParameters(g, 4);
    gradcheck(g, randomTensor([3, 2], 5));
  });
});

describe('nn.Graph from configs', () => {
  const graphConfig = (module: unknown) => ({ type: 'Graph', inputs: ['x'], nodes: [{ name: 'layer1', inputs: ['x'], module: { type: 'Sequential', layers: [{ type: 'Graph', inputs: ['input'], nodes: [{ name: 'conv1', inputs: ['input'], module }], outputs: ['conv1'] }] } }], outputs: ['layer1'] });

  it('names the node path of a bad layer through nested graphs and Sequentials', () => {
    expect(() => nn.moduleFromConfig(graphConfig({ type: 'Conv2d', inChannels: 0, outChannels: 2, kernelSize: 1 }))).toThrow(/^Graph\.fromConfig: node layer1\.0\.conv1 \(Conv2d\): Conv2d inChannels must be a positive integer, got 0$/);
    expect(() => nn.moduleFromConfig(graphConfig({ type: 'Conv9d' }))).toThrow(/^Graph\.fromConfig: node layer1\.0\.conv1 \(Conv9d\): unknown layer type "Conv9d"/);
    expect(() => nn.moduleFromConfig(graphConfig({ type: 'Conv2d', inChannels: 0, outChannels: 2, kernelSize: 1 }))).toThrow(RangeError);
    const inSequential = { type: 'Sequential', layers: [{ type: 'ReLU' }, { type: 'Graph', nodes: [{ name: 'a', inputs: ['input'], module: { type: 'PReLU', numParameters: 0 } }], outputs: ['a'] }] };
    expect(() => nn.Sequential.fromConfig(inSequential)).toThrow(/^Sequential\.fromConfig: layer 1\.a \(PReLU\): PReLU numParameters must be a positive integer/);
  });

  it('refuses a malformed graph config, naming the problem', () => {
    const ok = { type: 'Graph', inputs: ['x'], nodes: [{ name: 'r', inputs: ['x'], module: { type: 'ReLU' } }], outputs: ['r'] };
    expect(nn.Graph.fromConfig(ok).toConfig()).toEqual(ok);
    const byDefault = { type: 'Graph', nodes: [{ name: 'r', inputs: ['input'], module: { type: 'ReLU' } }], outputs: ['r'] };
    expect(nn.Graph.fromConfig(byDefault).inputs).toEqual(['input']);
    const bad: [unknown, RegExp][] = [
      [{ ...ok, extra: 1 }, /^Graph\.fromConfig: Graph has no argument "extra"; its arguments are inputs, nodes, outputs$/],
      [{ ...ok, nodes: 3 }, /"nodes" must be an array/],
      [{ ...ok, outputs: ['nope'] }, /^Graph\.fromConfig: Graph\.output: unknown output "nope"/],
      [{ ...ok, outputs: undefined }, /^Graph\.fromConfig: Graph\.output: give a name or an array of names/],
      [{ ...ok, nodes: [{ name: 'r', inputs: ['y'], module: { type: 'ReLU' } }] }, /^Graph\.fromConfig: Graph\.node\("r"\): unknown input "y"/],
      [{ ...ok, nodes: [{ name: 'r.s', inputs: ['x'], module: { type: 'ReLU' } }] }, /^Graph\.fromConfig: node 0: the name "r.s" is not a valid name/],
      [{ ...ok, nodes: [{ name: 'r', inputs: ['x'], module: { type: 'ReLU' }, size: 2 }] }, /node 0 has no field "size"/],
      [{ ...ok, nodes: [null] }, /node 0 must be an object/],
      [{ ...ok, inputs: ['x', 'x'] }, /^Graph\.fromConfig: Graph: the input name "x" is given twice/],
      [{ type: 'ReLU' }, /expected a config of type Graph, got "ReLU"/],
    ];
    for (const [config, message] of bad) expect(() => nn.Graph.fromConfig(config as nn.ModuleConfig), String(message)).toThrow(message);
  });

  it('Graph, Add and Cat are config types', () => {
    expect(nn.configTypes()).toEqual(expect.arrayContaining(['Add', 'Cat', 'Graph', 'Sequential']));
  });
});

describe('nn.Graph with the monitors, ModelWorker and liven diagnose', () => {
  const dir = mkdtempSync(join(tmpdir(), 'liven-graph-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ActivationMonitor and TrainingMonitor name layers by node path', () => {
    const g = loaded();
    const monitor = new diag.ActivationMonitor(g);
    const training = new diag.TrainingMonitor({ activations: monitor, model: g });
    const logits = g.forward(tensor(fixture.input));
    const lossFn = new nn.CrossEntropyLoss();
    const loss = lossFn.forward(logits, fixture.target);
    g.backward(lossFn.backward());
    expect(monitor.report().map((r) => r.layer)).toEqual(['relu', 'layer1.0.relu1', 'layer1.0.relu2']);
    training.step({ loss });
    expect(Object.keys(training.history[0]!.deadFraction)).toEqual(['relu', 'layer1.0.relu1', 'layer1.0.relu2']);
    expect(Object.keys(training.history[0]!.gradNorms)).toEqual(Object.keys(fixture.grads));
    monitor.detach();
  });

  it('ModelWorker runs a graph bit for bit as synchronously', async () => {
    // The worker runs dist/ (compiled), so the model is built from dist's nn too.
    const state = loaded().stateDict();
    const make = () => {
      const m = dist.nn.moduleFromConfig(residualNet().toConfig());
      m.loadStateDict(Object.fromEntries(Object.entries(state).map(([k, t]) => [k, new dist.Tensor(t.data.slice(), t.shape)])));
      return m;
    };
    const [g, sync] = [make(), make()];
    expect(g).toBeInstanceOf(dist.nn.Graph);
    const worker = new dist.nn.ModelWorker(g);
    try {
      const x = new dist.Tensor(tensor(fixture.input).data, fixture.input.shape);
      const dy = new dist.Tensor(randomTensor([4, 5], 9).data, [4, 5]);
      expect(bits(await worker.forward(x))).toEqual(bits(sync.forward(x)));
      expect(bits(await worker.backward(dy))).toEqual(bits(sync.backward(dy)));
      expect(g.namedParameters().map(([, p]) => bits(p.grad))).toEqual(sync.namedParameters().map(([, p]) => bits(p.grad)));
      expect(Object.values(g.stateDict()).map(bits)).toEqual(Object.values(sync.stateDict()).map(bits));
      g.eval();
      sync.eval();
      expect(bits(await worker.forward(x))).toEqual(bits(sync.forward(x)));
    } finally {
      await worker.terminate();
    }
  });

  it('ModelWorker takes several inputs and gives several outputs as arrays', async () => {
    const make = () => {
      const g = new dist.nn.Graph<[dist.Tensor, dist.Tensor], dist.Tensor[], dist.Tensor[]>({ inputs: ['a', 'b'] })
        .node('lin', new dist.nn.Linear(3, 3), 'a')
        .node('sum', new dist.nn.Add(), ['lin', 'b'])
        .output(['sum', 'lin']);
      for (const [i, p] of g.parameters().entries()) p.data.data.set(randomTensor([...p.data.shape], 40 + i).data);
      return g;
    };
    const [g, sync] = [make(), make()];
    const worker = new dist.nn.ModelWorker(g);
    try {
      const [a, b] = [randomTensor([2, 3], 1), randomTensor([2, 3], 2)].map((t) => new dist.Tensor(t.data, t.shape));
      const ys = await worker.forward([a!, b!]);
      expect(ys.map(bits)).toEqual(sync.forward(a!, b!).map(bits));
      const dys = [randomTensor([2, 3], 3), randomTensor([2, 3], 4)].map((t) => new dist.Tensor(t.data, t.shape));
      const dxs = await worker.backward(dys);
      expect(dxs.map(bits)).toEqual(sync.backward(dys).map(bits));
      expect(g.parameters().map((p) => bits(p.grad))).toEqual(sync.parameters().map((p) => bits(p.grad)));
      await expect(worker.forward(a!)).rejects.toThrow(new TypeError('Graph.forward takes 2 inputs, got 1'));
      expect(() => worker.forward([a!, 3 as unknown as dist.Tensor])).toThrow(/ModelWorker\.forward: input 1/);
    } finally {
      await worker.terminate();
    }
  });

  it('liven diagnose reads a graph config', () => {
    const g = loaded();
    const model = join(dir, 'model.json');
    writeFileSync(model, JSON.stringify(g.toConfig()));
    io.saveSafetensors(join(dir, 'model.safetensors'), g.stateDict());
    io.saveSafetensors(join(dir, 'batch.safetensors'), { input: tensor(fixture.input) });
    const r = diagnose({ model, weights: join(dir, 'model.safetensors'), input: join(dir, 'batch.safetensors'), chunk: null });
    expect(r.model).toBeInstanceOf(nn.Graph);
    expect(r.report.map((l) => l.layer)).toEqual(['relu', 'layer1.0.relu1', 'layer1.0.relu2']);
  });
});

describe('src/nn has no circular imports', () => {
  it('the relative imports of src/nn form no cycle', () => {
    const dirUrl = new URL('../src/nn/', import.meta.url);
    const files = readdirSync(dirUrl).filter((f) => f.endsWith('.ts'));
    const deps = new Map(
      files.map((f) => {
        const text = readFileSync(new URL(f, dirUrl), 'utf8');
        const imports = [...text.matchAll(/^(?:import|export)\b[^'"]*?from\s+'\.\/([\w-]+)\.js'|^import\s+'\.\/([\w-]+)\.js'/gm)].map((m) => `${m[1] ?? m[2]}.ts`);
        return [f, imports];
      }),
    );
    expect(deps.get('index.ts')).toContain('graph.ts');
    const cycles: string[] = [];
    const visit = (f: string, path: string[]): void => {
      if (path.includes(f)) {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
        return;
      }
      for (const d of deps.get(f) ?? []) visit(d, [...path, f]);
    };
    for (const f of files) visit(f, []);
    expect(cycles).toEqual([]);
  });
});
