import { describe, expect, it } from 'vitest';
import { Tensor } from '../src/index.js';
import { detach } from './helpers/numeric.js';

describe('Tensor', () => {
  it('wraps a Float32Array without copying', () => {
    const data = new Float32Array(6);
    const t = Tensor.from(data, [2, 3]);
    expect(t.data).toBe(data);
    expect(t.shape).toEqual([2, 3]);
    expect(t.size).toBe(6);
  });

  it('converts other array-likes', () => {
    const t = Tensor.from([1, 2, 3.5], [3]);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect([...t.data]).toEqual([1, 2, 3.5]);
    expect([...Tensor.from(new Float64Array([0.5, 1]), [2]).data]).toEqual([0.5, 1]);
  });

  it('zeros, scalars and empty tensors', () => {
    expect(Tensor.zeros([2, 0, 3]).size).toBe(0);
    expect(Tensor.zeros([]).size).toBe(1);
    expect([...Tensor.zeros([4]).data]).toEqual([0, 0, 0, 0]);
  });

  it('empty tensors are poisoned with NaN under the test suite, so unwritten outputs show', () => {
    expect(process.env.LIVEN_POISON_EMPTY).toBeTruthy();
    const t = Tensor.empty([2, 3]);
    expect(t.shape).toEqual([2, 3]);
    expect([...t.data].every(Number.isNaN)).toBe(true);
    expect(Tensor.emptyLike(t).size).toBe(6);
    expect(() => Tensor.empty([-1])).toThrow(RangeError);
  });

  it('shape is frozen and a copy of the argument', () => {
    const shape = [2, 2];
    const t = Tensor.zeros(shape);
    shape[0] = 9;
    expect(t.shape).toEqual([2, 2]);
    expect(Object.isFrozen(t.shape)).toBe(true);
  });

  it('reshape is a view and infers one -1', () => {
    const t = Tensor.from(new Float32Array(24), [2, 3, 4]);
    const v = t.reshape([6, -1]);
    expect(v.shape).toEqual([6, 4]);
    expect(v.data).toBe(t.data);
    expect(t.reshape([-1]).shape).toEqual([24]);
  });

  describe('errors name the shape', () => {
    it('a size that does not match the data', () => {
      expect(() => Tensor.from(new Float32Array(5), [2, 3])).toThrow(RangeError);
      expect(() => Tensor.from(new Float32Array(5), [2, 3])).toThrow('[2, 3] needs 6 elements, but the data has 5');
      expect(() => Tensor.from([1, 2], [3])).toThrow(RangeError);
    });
    it('negative, fractional and non-finite dimensions', () => {
      expect(() => Tensor.zeros([2, -1])).toThrow(/\[2, -1\].*non-negative integer/);
      expect(() => Tensor.zeros([1.5])).toThrow(RangeError);
      expect(() => Tensor.zeros([Infinity])).toThrow(RangeError);
      expect(() => Tensor.zeros([NaN])).toThrow(RangeError);
    });
    it('sizes too big for memory, including ones that overflow 32 and 64 bits', () => {
      expect(() => Tensor.zeros([2 ** 31, 4])).toThrow(/more than a Float32Array can hold/);
      expect(() => Tensor.zeros([2 ** 40, 2 ** 40])).toThrow(RangeError);
    });
    it('wrong types', () => {
      expect(() => Tensor.zeros('3' as never)).toThrow(TypeError);
      expect(() => Tensor.zeros(['3'] as never)).toThrow(TypeError);
      expect(() => Tensor.from(null as never, [1])).toThrow(TypeError);
      expect(() => Tensor.from(['a'] as never, [1])).toThrow(/element 0 is string a/);
      expect(() => new Tensor(new Float64Array(2) as never, [2])).toThrow(/must be a Float32Array, got a Float64Array/);
      expect(() => new Tensor([1, 2] as never, [2])).toThrow(TypeError);
    });
    it('a detached buffer', () => {
      const data = new Float32Array(4);
      detach(data);
      expect(() => Tensor.from(data, [4])).toThrow(/detached/);
    });
    it('bad reshapes', () => {
      const t = Tensor.zeros([2, 3]);
      expect(() => t.reshape([4, 2])).toThrow('cannot reshape [2, 3] (6 elements) to [4, 2]');
      expect(() => t.reshape([-1, -1])).toThrow(/only one dimension can be -1/);
      expect(() => t.reshape([4, -1])).toThrow(RangeError);
      expect(() => t.reshape([0, -1])).toThrow(RangeError);
    });
  });
});
