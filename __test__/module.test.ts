import { describe, expect, it } from 'vitest';
import { Tensor, nn } from '../src/index.js';

describe('Module', () => {
  it('forward hooks see input and output until removed', () => {
    const m = new nn.ReLU();
    const seen: number[][] = [];
    const handle = m.registerForwardHook((mod, input, output) => {
      expect(mod).toBe(m);
      seen.push([...input.data, ...output.data]);
    });
    m.forward(Tensor.from([-1, 2], [2]));
    handle.remove();
    m.forward(Tensor.from([3, 4], [2]));
    expect(seen).toEqual([[-1, 2, 0, 2]]);
  });

  it('a failed forward runs no hook and keeps the previous input for backward', () => {
    const m = new nn.PReLU({ numParameters: 2 });
    let calls = 0;
    m.registerForwardHook(() => calls++);
    m.forward(Tensor.zeros([3, 2]));
    expect(() => m.forward(Tensor.zeros([3, 5]))).toThrow(RangeError);
    expect(calls).toBe(1);
    expect(m.backward(Tensor.zeros([3, 2])).shape).toEqual([3, 2]);
  });

  it('toConfig gives the constructor arguments by name', () => {
    expect(new nn.ReLU().toConfig()).toEqual({ type: 'ReLU' });
    expect(new nn.LeakyReLU({ negativeSlope: 0.2 }).toConfig()).toEqual({ type: 'LeakyReLU', negativeSlope: 0.2 });
    expect(new nn.PReLU({ numParameters: 3 }).toConfig()).toEqual({ type: 'PReLU', numParameters: 3, init: 0.25 });
    expect(new nn.Flatten().toConfig()).toEqual({ type: 'Flatten', startDim: 1, endDim: -1 });
  });

  it('fromConfig rebuilds what toConfig describes and rejects unknown arguments', () => {
    for (const m of [new nn.ReLU(), new nn.LeakyReLU({ negativeSlope: 0.3 }), new nn.PReLU({ numParameters: 4, init: 0.1 }), new nn.Flatten({ startDim: 2 })]) {
      const cls = m.constructor as unknown as { fromConfig(c: nn.ModuleConfig): nn.Module };
      expect(cls.fromConfig(m.toConfig()).toConfig()).toEqual(m.toConfig());
    }
    expect(() => nn.PReLU.fromConfig({ type: 'PReLU', slopes: 3 })).toThrow(/PReLU has no argument "slopes"; its arguments are numParameters, init/);
    expect(() => nn.ReLU.fromConfig({ type: 'PReLU' })).toThrow(TypeError);
    expect(() => nn.PReLU.fromConfig({ type: 'PReLU', numParameters: -1 })).toThrow(RangeError);
  });

  it('train and eval set the mode', () => {
    const m = new nn.PReLU();
    expect(m.training).toBe(true);
    expect(m.eval().training).toBe(false);
    expect(m.train().training).toBe(true);
    expect(m.namedParameters().map(([n]) => n)).toEqual(['weight']);
    expect(m.namedBuffers()).toEqual([]);
    expect(m.namedModules().map(([n, mod]) => [n, mod.kind])).toEqual([['', 'PReLU']]);
  });
});
