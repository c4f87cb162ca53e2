import { describe, expect, it } from 'vitest';
import { Tensor, nn, setBackend, setNumThreads, getNumThreads } from '../src/index.js';
import { native } from '../src/backend/index.js';
import { describeEachBackend } from './helpers/backends.js';
import { detach, randomTensor } from './helpers/numeric.js';

/** A deep copy of every tensor a module owns, to check that a failed call wrote nothing. */
function snapshot(m: nn.Module, ...tensors: Tensor[]): number[][] {
  return [...m.parameters().flatMap((p) => [p.data, p.grad]), ...tensors].map((t) => [...t.data]);
}

describeEachBackend('bad calls throw typed errors and change nothing', () => {
  const layers: [string, () => nn.Module][] = [
    ['ReLU', () => new nn.ReLU()],
    ['LeakyReLU', () => new nn.LeakyReLU()],
    ['PReLU', () => new nn.PReLU({ numParameters: 3 })],
    ['Flatten', () => new nn.Flatten()],
  ];

  it.each(layers)('%s: backward before forward', (_name, make) => {
    expect(() => make().backward(Tensor.zeros([2, 3]))).toThrow(/backward called before forward/);
  });

  it.each(layers)('%s: a gradient of the wrong shape', (_name, make) => {
    const m = make();
    const x = randomTensor([2, 3, 4], 1);
    m.forward(x);
    const g = randomTensor([2, 3, 5], 2);
    const before = snapshot(m, x, g);
    expect(() => m.backward(g)).toThrow(RangeError);
    expect(() => m.backward(g)).toThrow(/gradOutput has shape \[2, 3, 5\]/);
    expect(snapshot(m, x, g)).toEqual(before);
  });

  it.each(layers)('%s: inputs that are not tensors', (_name, make) => {
    const m = make();
    expect(() => m.forward(new Float32Array(4) as never)).toThrow(TypeError);
    expect(() => m.forward(new Float64Array(4) as never)).toThrow(/must be a Tensor, got a Float64Array/);
    expect(() => m.forward([1, 2] as never)).toThrow(/got an Array/);
    expect(() => m.forward(null as never)).toThrow(/got null/);
  });

  it.each(layers)('%s: a tensor whose buffer was detached after creation', (_name, make) => {
    const m = make();
    const x = randomTensor([2, 3, 4], 3);
    detach(x.data);
    expect(() => m.forward(x)).toThrow(/detached/);
  });

  it('backward after the saved input was detached', () => {
    const m = new nn.ReLU();
    const x = randomTensor([8], 4);
    m.forward(x);
    detach(x.data);
    expect(() => m.backward(Tensor.zeros([8]))).toThrow(/saved input.*detached/);
  });

  it('PReLU: channel count that does not match the input', () => {
    const m = new nn.PReLU({ numParameters: 3 });
    expect(() => m.forward(Tensor.zeros([2, 4, 5]))).toThrow('PReLU.forward: input of shape [2, 4, 5] must have 3 channels in dimension 1');
    expect(() => m.forward(Tensor.zeros([3]))).toThrow(RangeError);
    // one slope takes any shape, even a scalar
    expect(new nn.PReLU().forward(Tensor.zeros([])).shape).toEqual([]);
  });

  it('bad constructor options', () => {
    expect(() => new nn.PReLU({ numParameters: 0 })).toThrow(RangeError);
    expect(() => new nn.PReLU({ numParameters: 2.5 })).toThrow(RangeError);
    expect(() => new nn.PReLU({ numParameters: '3' as never })).toThrow(TypeError);
    expect(() => new nn.PReLU({ init: NaN })).toThrow(RangeError);
    expect(() => new nn.LeakyReLU({ negativeSlope: Infinity })).toThrow(RangeError);
    expect(() => new nn.LeakyReLU(5 as never)).toThrow(TypeError);
    expect(() => new nn.Flatten({ startDim: 0.5 })).toThrow(RangeError);
    expect(() => new nn.Flatten({ startDim: 3 }).forward(Tensor.zeros([2, 3]))).toThrow(/do not fit an input of shape \[2, 3\]/);
  });
});

describe('backend and threads', () => {
  it('rejects unknown backends and bad thread counts', () => {
    expect(() => setBackend('gpu' as never)).toThrow(TypeError);
    expect(() => setNumThreads(0)).toThrow(RangeError);
    expect(() => setNumThreads(1.5)).toThrow(RangeError);
    expect(() => setNumThreads('2' as never)).toThrow(TypeError);
  });

  it('setNumThreads is honoured', () => {
    const before = getNumThreads();
    setNumThreads(1);
    expect(getNumThreads()).toBe(1);
    setNumThreads(before);
    expect(getNumThreads()).toBe(before);
  });
});

describe.skipIf(!native)('the addon itself stays memory-safe on direct calls', () => {
  const addon = native!;
  it('rejects mismatched lengths', () => {
    expect(() => addon.reluForward(new Float32Array(4), new Float32Array(3))).toThrow(/y has 3 elements, expected 4/);
    expect(() => addon.preluForward(new Float32Array(10), new Float32Array(3), new Float32Array(10), 2)).toThrow(/not a whole number/);
  });
  it('rejects outputs that alias an input', () => {
    const buf = new Float32Array(8);
    expect(() => addon.reluForward(buf, buf)).toThrow(/shares memory with x/);
    expect(() => addon.reluForward(buf.subarray(0, 4), buf.subarray(2, 6))).toThrow(/shares memory/);
    const w = new Float32Array(2);
    expect(() => addon.preluBackward(buf, w, buf.subarray(0, 8), new Float32Array(8), w, 4)).toThrow(/gradWeight shares memory with weight/);
    // disjoint views of one buffer are fine
    addon.reluForward(buf.subarray(0, 4), buf.subarray(4, 8));
  });
  it('rejects arrays of the wrong type', () => {
    expect(() => addon.reluForward(new Float64Array(4) as never, new Float32Array(4))).toThrow();
    expect(() => addon.reluForward([1, 2] as never, new Float32Array(2))).toThrow();
  });
});
