import { describe, expect, it } from 'vitest';
import { Tensor, nn } from '../src/index.js';
import { backends, describeEachBackend, withBackend } from './helpers/backends.js';
import { loadFixture, type FixtureCase } from './helpers/fixtures.js';
import { decode, expectCloseInf } from './fixture-values.js';
import { expectClose, gradcheck, randomTensor, rng } from './helpers/numeric.js';

const fixture = loadFixture('pool.json');

function build(c: FixtureCase): nn.Module {
  const { kernelSize, ...o } = c.options as Record<string, never>;
  switch (c.module) {
    case 'MaxPool2d':
      return new nn.MaxPool2d(kernelSize, o);
    case 'AvgPool2d':
      return new nn.AvgPool2d(kernelSize, o);
    case 'GlobalMaxPool2d':
      return new nn.GlobalMaxPool2d();
    case 'GlobalAvgPool2d':
      return new nn.GlobalAvgPool2d();
    default:
      throw new Error(`no builder for ${c.module}`);
  }
}

/** Distinct values at least 0.05 apart in random order, so that finite differences of ±0.01 never change a maximum. */
function distinct(shape: number[], seed: number): Tensor {
  const t = Tensor.zeros(shape);
  const r = rng(seed);
  for (let i = 0; i < t.size; i++) t.data[i] = (i - t.size / 2) * 0.05;
  for (let i = t.size - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [t.data[i], t.data[j]] = [t.data[j]!, t.data[i]!];
  }
  return t;
}

describeEachBackend('pooling matches PyTorch', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const m = build(c);
    const x = decode(c.input);
    const y = m.forward(Tensor.from(x.data, x.shape));
    expectCloseInf(y, decode(c.output), 'output');
    const dx = m.backward(Tensor.from(decode(c.gradOutput).data, c.gradOutput.shape));
    // Gradients are sums of a few output gradients, added in another order than PyTorch's.
    expectCloseInf(dx, decode(c.gradInput), 'input gradient', { atol: 1e-5, rtol: 1e-5 });
  });

  it('the fixtures cover the options that matter', () => {
    const names = fixture.cases.map((c) => c.name).join('\n');
    for (const word of ['ceil', 'dilation', 'ties', 'NaN', 'exclude pad', 'include pad', 'stride (2,3)', '3-D']) expect(names).toContain(word);
  });

  it('max pooling: a tie goes to the first maximum in row-major order, NaN to the last NaN', () => {
    // One 2×3 window: maxima 5 at (0,1) and (1,0); row-major order puts (0,1) first.
    const m = new nn.MaxPool2d([2, 3]);
    m.forward(Tensor.from([1, 5, 5, 5, 2, 5], [1, 1, 2, 3]));
    expect([...m.backward(Tensor.from([1], [1, 1, 1, 1])).data]).toEqual([0, 1, 0, 0, 0, 0]);
    const y = m.forward(Tensor.from([NaN, 9, NaN, 1, 2, 3], [1, 1, 2, 3]));
    expect(Number.isNaN(y.data[0])).toBe(true);
    expect([...m.backward(Tensor.from([1], [1, 1, 1, 1])).data]).toEqual([0, 0, 1, 0, 0, 0]);
  });

  describe('finite-difference gradient checks', () => {
    it('MaxPool2d 3x3/2 pad 1', () => gradcheck(new nn.MaxPool2d(3, { stride: 2, padding: 1 }), distinct([2, 2, 7, 8], 1)));
    it('MaxPool2d ceil, dilation, stride != kernel', () => gradcheck(new nn.MaxPool2d([3, 2], { stride: [2, 3], padding: 1, dilation: [1, 2], ceilMode: true }), distinct([1, 2, 8, 9], 2)));
    it('AvgPool2d ceil, include pad', () => gradcheck(new nn.AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true }), randomTensor([2, 2, 8, 7], 3)));
    it('AvgPool2d ceil, exclude pad', () => gradcheck(new nn.AvgPool2d([3, 2], { stride: [2, 1], padding: [1, 1], ceilMode: true, countIncludePad: false }), randomTensor([1, 2, 9, 6], 4)));
    it('GlobalMaxPool2d', () => gradcheck(new nn.GlobalMaxPool2d(), distinct([2, 3, 4, 5], 5)));
    it('GlobalAvgPool2d', () => gradcheck(new nn.GlobalAvgPool2d(), randomTensor([2, 3, 4, 5], 6)));
  });

  it('toConfig and fromConfig round-trip', () => {
    const layers = [
      new nn.MaxPool2d(3, { stride: 2, padding: 1, dilation: [1, 2], ceilMode: true }),
      new nn.AvgPool2d([3, 2], { stride: 1, padding: [1, 0], ceilMode: true, countIncludePad: false }),
      new nn.GlobalMaxPool2d(),
      new nn.GlobalAvgPool2d(),
    ];
    expect(layers[0]!.toConfig()).toEqual({ type: 'MaxPool2d', kernelSize: 3, stride: 2, padding: 1, dilation: [1, 2], ceilMode: true });
    expect(new nn.MaxPool2d(2).toConfig()).toEqual({ type: 'MaxPool2d', kernelSize: 2, stride: 2, padding: 0, dilation: 1, ceilMode: false });
    const x = randomTensor([1, 2, 7, 6], 9);
    for (const m of layers) {
      const cls = nn[m.kind as 'MaxPool2d'] as unknown as { fromConfig(c: unknown): nn.Module };
      const copy = cls.fromConfig(m.toConfig());
      expect(copy.toConfig()).toEqual(m.toConfig());
      expect(copy.forward(x).data).toEqual(m.forward(x).data);
    }
  });
});

describe.skipIf(backends.length < 2)('pooling: native = JS backend', () => {
  const configs: [string, () => nn.Module, number[]][] = [
    ['MaxPool2d 3x3/2 pad 1', () => new nn.MaxPool2d(3, { stride: 2, padding: 1 }), [3, 5, 17, 19]],
    ['MaxPool2d 3x3/2 pad 1, parallel', () => new nn.MaxPool2d(3, { stride: 2, padding: 1 }), [4, 16, 33, 31]],
    ['MaxPool2d 2x2, ceil', () => new nn.MaxPool2d(2, { ceilMode: true }), [2, 40, 29, 33]],
    ['MaxPool2d kernel (5,3) stride (3,4) pad (2,1) dilation (1,2) ceil', () => new nn.MaxPool2d([5, 3], { stride: [3, 4], padding: [2, 1], dilation: [1, 2], ceilMode: true }), [2, 3, 23, 37]],
    ['AvgPool2d 3x3/2 pad 1 ceil', () => new nn.AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true }), [4, 16, 33, 31]],
    ['AvgPool2d (4,3)/(3,1) pad (2,1) ceil exclude pad', () => new nn.AvgPool2d([4, 3], { stride: [3, 1], padding: [2, 1], ceilMode: true, countIncludePad: false }), [2, 5, 21, 18]],
    ['AvgPool2d 2x2', () => new nn.AvgPool2d(2), [3, 40, 28, 28]],
    ['GlobalAvgPool2d, parallel', () => new nn.GlobalAvgPool2d(), [4, 32, 23, 29]],
    ['GlobalMaxPool2d, parallel', () => new nn.GlobalMaxPool2d(), [4, 32, 23, 29]],
  ];
  it.each(configs)('%s', (name, make, shape) => {
    const x = randomTensor(shape, 41);
    // Ties and NaN too, where the rules differ most easily.
    for (let i = 0; i < x.size; i += 37) x.data[i] = x.data[i + 1] ?? 0;
    for (let i = 5; i < x.size; i += 997) x.data[i] = NaN;
    const run = (backend: 'native' | 'js') =>
      withBackend(backend, () => {
        const m = make();
        const y = m.forward(x);
        const g = randomTensor([...y.shape], 42);
        return { y, dx: m.backward(g) };
      });
    const a = run('native');
    const b = run('js');
    if (name.startsWith('Max') || name.startsWith('GlobalMax')) {
      expect(a.y.data).toEqual(b.y.data);
      expect(a.dx.data).toEqual(b.dx.data);
    } else {
      expectClose(a.y, b.y, 'output', { atol: 1e-6, rtol: 1e-5 });
      expectClose(a.dx, b.dx, 'input gradient', { atol: 1e-6, rtol: 1e-5 });
    }
  });
});

describeEachBackend('pooling: bad calls throw typed errors and change nothing', () => {
  it('bad constructor options', () => {
    expect(() => new nn.MaxPool2d(0)).toThrow(RangeError);
    expect(() => new nn.MaxPool2d(2.5)).toThrow(RangeError);
    expect(() => new nn.MaxPool2d('2' as never)).toThrow(TypeError);
    expect(() => new nn.MaxPool2d([2, 2, 2] as never)).toThrow(RangeError);
    expect(() => new nn.MaxPool2d(3, { padding: 2 })).toThrow('MaxPool2d: padding [2, 2] should be at most half of kernel size [3, 3]');
    expect(() => new nn.MaxPool2d([4, 3], { padding: [2, 2] })).toThrow(/at most half/);
    expect(() => new nn.MaxPool2d(3, { stride: 0 })).toThrow(RangeError);
    expect(() => new nn.MaxPool2d(3, { dilation: -1 })).toThrow(RangeError);
    expect(() => new nn.MaxPool2d(3, { ceilMode: 1 as never })).toThrow(TypeError);
    expect(() => new nn.AvgPool2d(3, { countIncludePad: 'no' as never })).toThrow(TypeError);
    expect(() => new nn.AvgPool2d(2, { padding: 2 })).toThrow(RangeError);
  });

  it('inputs of the wrong rank or too small', () => {
    const m = new nn.MaxPool2d(3);
    expect(() => m.forward(Tensor.zeros([2, 3, 4, 5, 6]))).toThrow('MaxPool2d.forward: input of shape [2, 3, 4, 5, 6] must be [N, C, H, W] or [C, H, W]');
    expect(() => m.forward(Tensor.zeros([1, 1, 2, 2]))).toThrow('MaxPool2d.forward: input of shape [1, 1, 2, 2] is too small: the output would be 0×0');
    expect(() => new nn.AvgPool2d(3).forward(Tensor.zeros([1, 0, 4, 4]))).toThrow(/is empty/);
    expect(() => new nn.MaxPool2d(2, { padding: 1, dilation: 3 }).forward(Tensor.zeros([1, 1, 2, 2]))).toThrow(/entirely in the padding/);
    expect(() => new nn.GlobalAvgPool2d().forward(Tensor.zeros([2, 3, 4]))).toThrow('GlobalAvgPool2d.forward: input of shape [2, 3, 4] must be [N, C, H, W] with H·W > 0');
    expect(() => new nn.GlobalMaxPool2d().forward(Tensor.zeros([2, 3, 0, 4]))).toThrow(RangeError);
  });

  it('backward before forward, and a gradient of the wrong shape', () => {
    for (const m of [new nn.MaxPool2d(2), new nn.AvgPool2d(2), new nn.GlobalMaxPool2d(), new nn.GlobalAvgPool2d()]) {
      expect(() => m.backward(Tensor.zeros([1, 1, 2, 2]))).toThrow(/backward called before forward/);
      const x = randomTensor([1, 2, 4, 4], 3);
      m.forward(x);
      const g = randomTensor([1, 2, 3, 3], 4);
      const before = [[...x.data], [...g.data]];
      expect(() => m.backward(g)).toThrow(RangeError);
      expect([[...x.data], [...g.data]]).toEqual(before);
    }
  });
});
