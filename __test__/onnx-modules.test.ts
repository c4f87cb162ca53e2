// The modules the ONNX import needs beyond the layer families: nn.Reshape and nn.ConstantPad2d.
import { expect, it } from 'vitest';
import { Tensor, nn } from '../src/index.js';
import { describeEachBackend } from './helpers/backends.js';
import { gradcheck, randomTensor } from './helpers/numeric.js';

describeEachBackend('nn.ConstantPad2d', () => {
  it('pads [left, right, top, bottom] with the value, as torch.nn.ConstantPad2d', () => {
    const x = Tensor.from([1, 2, 3, 4, 5, 6], [1, 1, 2, 3]);
    const y = new nn.ConstantPad2d([1, 0, 2, 1], { value: -1 }).forward(x);
    expect(y.shape).toEqual([1, 1, 5, 4]);
    // prettier-ignore
    expect([...y.data]).toEqual([
      -1, -1, -1, -1,
      -1, -1, -1, -1,
      -1, 1, 2, 3,
      -1, 4, 5, 6,
      -1, -1, -1, -1,
    ]);
    expect(new nn.ConstantPad2d(1).forward(Tensor.from([7], [1, 1])).data).toEqual(Float32Array.from([0, 0, 0, 0, 7, 0, 0, 0, 0]));
  });

  it('backward crops the gradient (gradcheck) on a batch of [N, C, H, W] and on [H, W]', () => {
    gradcheck(new nn.ConstantPad2d([2, 1, 0, 3], { value: 0.5 }), randomTensor([2, 3, 4, 5], 1));
    gradcheck(new nn.ConstantPad2d(2), randomTensor([3, 2], 2));
  });

  it('config round trip and bad arguments', () => {
    const p = new nn.ConstantPad2d([1, 2, 3, 4], { value: 2 });
    expect(p.toConfig()).toEqual({ type: 'ConstantPad2d', padding: [1, 2, 3, 4], value: 2 });
    expect(nn.moduleFromConfig(p.toConfig()).toConfig()).toEqual(p.toConfig());
    expect(() => new nn.ConstantPad2d([1, 2, 3])).toThrow(TypeError);
    expect(() => new nn.ConstantPad2d(-1)).toThrow(RangeError);
    expect(() => new nn.ConstantPad2d(1, { value: NaN })).toThrow(RangeError);
    expect(() => p.forward(Tensor.from([1, 2], [2]))).toThrow(/ConstantPad2d: input of shape \[2\] needs at least 2 dimensions/);
  });
});

describeEachBackend('nn.Reshape', () => {
  it('0 keeps the input dimension, -1 is inferred; backward gives the input shape', () => {
    const r = new nn.Reshape([0, -1]);
    const x = randomTensor([3, 2, 4], 3);
    const y = r.forward(x);
    expect(y.shape).toEqual([3, 8]);
    expect(y.data).toEqual(x.data);
    expect(r.backward(Tensor.from(new Float32Array(24).fill(1), [3, 8])).shape).toEqual([3, 2, 4]);
    expect(new nn.Reshape([0, 0, 1, 1]).forward(randomTensor([2, 5], 4)).shape).toEqual([2, 5, 1, 1]);
    gradcheck(new nn.Reshape([-1, 4]), randomTensor([2, 2, 2], 5));
  });

  it('config round trip and bad arguments', () => {
    const r = new nn.Reshape([0, 3, -1]);
    expect(nn.moduleFromConfig(r.toConfig()).toConfig()).toEqual({ type: 'Reshape', shape: [0, 3, -1] });
    expect(() => new nn.Reshape([-1, -1])).toThrow(RangeError);
    expect(() => new nn.Reshape([2, -3])).toThrow(RangeError);
    expect(() => new nn.Reshape('2' as never)).toThrow(TypeError);
    expect(() => r.forward(randomTensor([2, 4], 1))).toThrow('Reshape [0, 3, -1]: an input of shape [2, 4] (8 elements) does not fit');
    expect(() => new nn.Reshape([0, 0, 0]).forward(randomTensor([2, 4], 1))).toThrow(/keeps a dimension/);
  });
});

describeEachBackend('nn.Mul', () => {
  it('multiplies with broadcasting, as torch.mul, and is a graph node of two inputs', () => {
    const a = Tensor.from([1, 2, 3, 4, 5, 6], [1, 2, 3]);
    const b = Tensor.from([10, -1], [2, 1]);
    expect([...new nn.Mul().forward(a, b).data]).toEqual([10, 20, 30, -4, -5, -6]);
    const g = new nn.Graph<[Tensor, Tensor]>({ inputs: ['x', 's'] }).node('gate', new nn.Mul(), ['x', 's']).output('gate');
    expect(g.forward(a, b).shape).toEqual([1, 2, 3]);
    expect(() => new nn.Mul().forward(a, Tensor.from([1, 2], [2]))).toThrow(/Mul.forward: shapes \[1, 2, 3\] and \[2\] do not broadcast/);
    expect(nn.moduleFromConfig({ type: 'Mul' })).toBeInstanceOf(nn.Mul);
  });

  it('gradcheck: both inputs, one broadcast over positions and batch ([N, C, 1, 1] gate)', () => {
    gradcheck(new nn.Mul(), [randomTensor([2, 3, 4, 4], 1), randomTensor([2, 3, 1, 1], 2)]);
    gradcheck(new nn.Mul(), [randomTensor([3, 1], 3), randomTensor([2, 1, 4], 4)]);
  });
});
