// diag.staticDeadUnits: units dead from the weights alone, on planted cases and on real models,
// checked against what a forward pass on data shows (a unit proven dead is dead on any batch).
import { describe, expect, it } from 'vitest';
import { Tensor, diag, io, nn } from '../src/index.js';
import { randomTensor } from './helpers/numeric.js';
import { onnxBytes } from './helpers/onnx.js';

function set(t: Tensor, values: number[] | ((i: number) => number)): void {
  for (let i = 0; i < t.size; i++) t.data[i] = typeof values === 'function' ? values(i) : values[i]!;
}

/** conv → relu → conv (planted) → bn → relu, with the planted channels listed. */
function planted(): { g: nn.Graph; dead: number[] } {
  const g = new nn.Graph({ inputs: ['x'] });
  const c1 = new nn.Conv2d(2, 4, 3, { padding: 1 });
  const c2 = new nn.Conv2d(4, 5, 3, { padding: 1 });
  const bn = new nn.BatchNorm2d(5);
  g.node('c1', c1, 'x').node('r1', new nn.ReLU(), 'c1').node('c2', c2, 'r1').node('bn', bn, 'c2').node('r2', new nn.ReLU(), 'bn').output('r2');
  set(c2.weight.data, (i) => Math.sin(i) * 0.3);
  const per = 4 * 9;
  // channel 0: all weights <= 0, bias <= 0 on ReLU outputs -> dead (through BN with a > 0, shift <= 0)
  for (let i = 0; i < per; i++) c2.weight.data.data[i] = -Math.abs(c2.weight.data.data[i]!);
  c2.bias!.data.data[0] = -0.1;
  // channel 1: all weights >= 0 and bias >= 0, then BN with a negative scale and shift <= 0 -> dead
  for (let i = per; i < 2 * per; i++) c2.weight.data.data[i] = Math.abs(c2.weight.data.data[i]!);
  c2.bias!.data.data[1] = 0;
  // channel 2: non-positive weights but one zero and bias exactly 0 -> still dead (<= 0)
  for (let i = 2 * per; i < 3 * per; i++) c2.weight.data.data[i] = i % 5 === 0 ? 0 : -Math.abs(c2.weight.data.data[i]!);
  c2.bias!.data.data[2] = 0;
  // channel 3: one positive weight -> not provable; channel 4: mixed -> not provable
  for (let i = 3 * per; i < 4 * per; i++) c2.weight.data.data[i] = -Math.abs(c2.weight.data.data[i]!);
  c2.weight.data.data[3 * per + 7] = 1e-3;
  c2.bias!.data.data[3] = -5;
  set(bn.weight!.data, [1, -2, 0.5, 1, 1]);
  set(bn.bias!.data, [0, -0.2, 0, 0, 0]);
  set(bn.runningMean!, [0.3, 0.1, 0, 0, 0]);
  set(bn.runningVar!, [1, 4, 1, 1, 1]);
  g.eval();
  return { g, dead: [0, 1, 2] };
}

describe('diag.staticDeadUnits', () => {
  it('finds exactly the planted channels, under the graph node path', () => {
    const { g, dead } = planted();
    const rows = diag.staticDeadUnits(g);
    expect(rows.map((r) => r.layer)).toEqual(['r1', 'r2']);
    expect(rows[0]!.deadUnits).toEqual([]); // after a conv of the raw input nothing is provable
    expect(rows[1]).toMatchObject({ kind: 'ReLU', units: 5, dead: 3, deadUnits: dead, deadFraction: 3 / 5 });
  });

  it('what it reports is dead on data (the monitor agrees), and the unprovable channel 3 is dead on data too', () => {
    const { g, dead } = planted();
    const monitor = new diag.ActivationMonitor(g);
    g.forward(randomTensor([8, 2, 6, 6], 11, -3, 3));
    const unit = monitor.unitReport('r2').dead;
    for (const u of dead) expect(unit[u]).toBe(1);
    expect(unit[4]).toBe(0);
  });

  it('a positive bias or a positive BatchNorm shift undoes the proof', () => {
    const { g } = planted();
    const c2 = g.at('c2') as nn.Conv2d;
    c2.bias!.data.data[0] = 0.5; // 0.5·a − 0.3·a > 0
    const bn = g.at('bn') as nn.BatchNorm2d;
    bn.bias!.data.data[1] = 0.3; // shift 0.3 - (-1)*0.1 > 0
    expect(diag.staticDeadUnits(g)[1]!.deadUnits).toEqual([2]);
  });

  it('through a max pool, Flatten and Linear (one interval for all features after Flatten), in a Sequential', () => {
    const lin = new nn.Linear(4 * 4, 3);
    set(lin.weight.data, (i) => (i < 16 ? -0.5 : i < 32 ? 0.5 : i % 2 ? 1 : -1));
    set(lin.bias!.data, [-1, -1, 0]);
    const conv = new nn.Conv2d(1, 1, 3, { padding: 1 });
    const m = new nn.Sequential(conv, new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), lin, new nn.LeakyReLU());
    m.eval();
    const rows = diag.staticDeadUnits(m);
    expect(rows.map((r) => [r.layer, r.kind, r.deadUnits])).toEqual([['1', 'ReLU', []], ['5', 'LeakyReLU', [0]]]);
  });

  it('Add and Cat: a residual sum of a dead branch and a ReLU output is not provable; Cat keeps channels apart', () => {
    const g = new nn.Graph({ inputs: ['x'] });
    const c0 = new nn.Conv2d(2, 2, 1);
    const c = new nn.Conv2d(2, 2, 1);
    g.node('c0', c0, 'x').node('r0', new nn.ReLU(), 'c0').node('c', c, 'r0').node('neg', new nn.ReLU(), 'c');
    g.node('sum', new nn.Add(), ['c', 'r0']).node('r1', new nn.ReLU(), 'sum');
    g.node('cat', new nn.Cat({ dim: 1 }), ['c', 'r0']).node('r2', new nn.ReLU(), 'cat').output(['r1', 'r2']);
    set(c.weight.data, [-1, -1, 1, -1]);
    set(c.bias!.data, [0, 0]);
    g.eval();
    const rows = new Map(diag.staticDeadUnits(g).map((r) => [r.layer, r.deadUnits]));
    expect(rows.get('neg')).toEqual([0]);
    expect(rows.get('r1')).toEqual([]);
    expect(rows.get('r2')).toEqual([0]); // channels: c's two, then r0's two
  });
});

describe('diag.staticDeadUnits on an imported ONNX model', () => {
  it('a planted unit behind Conv → Relu → Conv → BatchNormalization is found under its ONNX node name', () => {
    // conv2 channel 1: weights <= 0 and bias 0 on ReLU outputs; BN keeps it <= 0 (a > 0, shift -0.1)
    const w2 = [0.3, -0.2, 0.5, -0.1, -0.4, 0, -0.3, -0.2, 0.1, 0.1, 0.1, 0.1];
    const g = io.loadOnnx(onnxBytes({
      nodes: [
        { op: 'Conv', name: '/conv1/Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: { kernel_shape: [1, 1] } },
        { op: 'Relu', name: '/relu1/Relu', inputs: ['c1'], outputs: ['r1'] },
        { op: 'Conv', name: '/conv2/Conv', inputs: ['r1', 'w2', 'b2'], outputs: ['c2'], attrs: { kernel_shape: [1, 1] } },
        { op: 'BatchNormalization', name: '/bn/BatchNormalization', inputs: ['c2', 's', 'b', 'm', 'v'], outputs: ['n'] },
        { op: 'Relu', name: '/relu2/Relu', inputs: ['n'], outputs: ['y'] },
      ],
      inputDims: ['batch', 2, 4, 4],
      initializers: [
        { name: 'w1', dims: [4, 2, 1, 1], values: [1, -1, 0.5, 0.5, -1, 2, 0.3, -0.7] },
        { name: 'b1', dims: [4], values: [0.1, 0, -0.1, 0.2] },
        { name: 'w2', dims: [3, 4, 1, 1], values: w2 },
        { name: 'b2', dims: [3], values: [0, 0, 0.2] },
        { name: 's', dims: [3], values: [1, 2, 1] },
        { name: 'b', dims: [3], values: [0, -0.1, 0] },
        { name: 'm', dims: [3], values: [0, 0, 0] },
        { name: 'v', dims: [3], values: [1, 1, 1] },
      ],
      outputs: ['y'],
    }));
    const rows = diag.staticDeadUnits(g);
    expect(rows.map((r) => [r.layer, r.deadUnits])).toEqual([['relu1_Relu', []], ['relu2_Relu', [1]]]);
  });
});
