// The bad-input matrix: every public entry point fed wrong ranks and sizes, zero-size,
// negative, fractional, non-finite and overflowing dimensions, the wrong kind of array,
// detached and shrunk buffers, and bad options. Each call must throw exactly the stated class
// (TypeError: the wrong kind of value; RangeError: the right kind, out of range; Error: a bad
// file or a call out of order) with a message naming the problem, and a snapshot of every
// tensor, parameter, gradient and buffer involved must be unchanged afterwards.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Tensor, diag, init, io, nn, optim } from '../src/index.js';
import { native } from '../src/backend/index.js';
import { describeEachBackend, withBackend } from './helpers/backends.js';
import { detach, randomTensor } from './helpers/numeric.js';

type Watched = Tensor | nn.Module | Float32Array | nn.Parameter;

/** A deep copy of everything `watch` can reach (NaN-safe: toEqual treats NaN as equal to NaN). */
function snapshot(watch: Watched[]): number[][] {
  const arrays = watch.flatMap((w): Float32Array[] => {
    if (w instanceof Tensor) return [w.data];
    if (w instanceof Float32Array) return [w];
    if (w instanceof nn.Parameter) return [w.data.data, w.grad.data];
    return [...w.parameters().flatMap((p) => [p.data.data, p.grad.data]), ...w.namedBuffers().map(([, b]) => b.data)];
  });
  // By index: a detached array reads as empty (its iterator would throw).
  return arrays.map((a) => Array.from({ length: a.length }, (_, i) => a[i]!));
}

/** Exactly `cls` (not a subclass or a parent), with `message` in the text. */
function expectThrows(call: () => unknown, cls: ErrorConstructor, message: RegExp): void {
  let error: unknown = null;
  try {
    call();
  } catch (e) {
    error = e;
  }
  expect(error, 'the call did not throw').not.toBeNull();
  expect((error as Error).constructor.name, String(error)).toBe(cls.name);
  expect((error as Error).message).toMatch(message);
}

/** One row: a fresh setup per run, the call, what it must throw, and what it must not change. */
type Row = [name: string, setup: () => { call: () => unknown; watch?: Watched[] }, cls: ErrorConstructor, message: RegExp];

function runRows(rows: Row[]): void {
  it.each(rows)('%s', (_name, setup, cls, message) => {
    const { call, watch = [] } = setup();
    const before = snapshot(watch);
    expectThrows(call, cls, message);
    expect(snapshot(watch)).toEqual(before);
  });
}

/** A length-tracking Float32Array over a resizable ArrayBuffer: shrinking the buffer shrinks it. */
function resizable(n: number): { data: Float32Array; shrink: () => void } {
  // Node 20 has resizable buffers; the ES2022 typings used here do not describe them yet.
  const buffer = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(4 * n, { maxByteLength: 8 * n });
  const data = new Float32Array(buffer);
  data.set(randomTensor([n], 5).data);
  return { data, shrink: () => buffer.resize(4 * (n - 1)) };
}

/** Every layer with an input it accepts and one of the wrong rank or size, with the message that must name it. */
const layers: [string, () => nn.Module, number[], number[], RegExp][] = [
  ['ReLU', () => new nn.ReLU(), [2, 3], [], /./],
  ['PReLU', () => new nn.PReLU({ numParameters: 3 }), [2, 3, 4], [2, 4, 4], /must have 3 channels in dimension 1/],
  // The elementwise layers take any shape: only the kinds of bad input apply.
  ['ELU', () => new nn.ELU(), [2, 3], [], /./],
  ['CELU', () => new nn.CELU({ alpha: 2 }), [2, 3], [], /./],
  ['SELU', () => new nn.SELU(), [2, 3], [], /./],
  ['GELU', () => new nn.GELU({ approximate: 'tanh' }), [2, 3], [], /./],
  ['SiLU', () => new nn.SiLU(), [2, 3], [], /./],
  ['Mish', () => new nn.Mish(), [2, 3], [], /./],
  ['Sigmoid', () => new nn.Sigmoid(), [2, 3], [], /./],
  ['Tanh', () => new nn.Tanh(), [2, 3], [], /./],
  ['Softplus', () => new nn.Softplus({ beta: 2 }), [2, 3], [], /./],
  ['Hardtanh', () => new nn.Hardtanh(), [2, 3], [], /./],
  ['ReLU6', () => new nn.ReLU6(), [2, 3], [], /./],
  ['Hardswish', () => new nn.Hardswish(), [2, 3], [], /./],
  ['Hardsigmoid', () => new nn.Hardsigmoid(), [2, 3], [], /./],
  ['Identity', () => new nn.Identity(), [2, 3], [], /./],
  ['Dropout', () => new nn.Dropout({ p: 0.3 }), [2, 3], [], /./],
  ['AdaptiveAvgPool2d', () => new nn.AdaptiveAvgPool2d([2, 3]), [2, 3, 5, 4], [2, 3], /\[2, 3\] must be \[N, C, H, W\] or \[C, H, W\] with H, W > 0/],
  ['AdaptiveAvgPool2d (empty plane)', () => new nn.AdaptiveAvgPool2d(1), [2, 3, 5, 4], [2, 3, 0, 4], /\[2, 3, 0, 4\] must be/],
  ['Flatten', () => new nn.Flatten(), [2, 3, 4], [2], /do not fit an input of shape \[2\]/],
  ['Linear', () => new nn.Linear(4, 3), [2, 4], [2, 5], /input of shape \[2, 5\] must have 4 features/],
  ['Conv2d', () => new nn.Conv2d(3, 4, 3, { padding: 1 }), [2, 3, 5, 5], [2, 3, 5], /\[2, 3, 5\] must have 4 dimensions/],
  ['Conv2d (channels)', () => new nn.Conv2d(3, 4, 3), [1, 3, 3, 3], [1, 2, 3, 3], /has 2 channels, expected 3/],
  ['Conv2d (too small)', () => new nn.Conv2d(3, 4, 3), [1, 3, 3, 3], [1, 3, 2, 9], /smaller than the kernel 3x3/],
  ['MaxPool2d', () => new nn.MaxPool2d(2), [2, 3, 4, 4], [4, 4], /\[4, 4\] must be \[N, C, H, W\] or \[C, H, W\]/],
  ['MaxPool2d (too small)', () => new nn.MaxPool2d(3), [1, 3, 3], [1, 2, 2], /too small: the output would be 0×0/],
  ['AvgPool2d', () => new nn.AvgPool2d(2, { padding: 1 }), [2, 3, 4, 4], [0, 3, 4, 4], /\[0, 3, 4, 4\] is empty/],
  ['GlobalAvgPool2d', () => new nn.GlobalAvgPool2d(), [2, 3, 4, 4], [2, 3, 0, 4], /must be \[N, C, H, W\] with H·W > 0/],
  ['GlobalMaxPool2d', () => new nn.GlobalMaxPool2d(), [2, 3, 4, 4], [2, 3], /\[2, 3\] must be \[N, C, H, W\]/],
  ['BatchNorm1d', () => new nn.BatchNorm1d(3), [4, 3], [4, 3, 2, 2], /expected a 2-D \[N, C\] or 3-D/],
  ['BatchNorm1d (one value per channel)', () => new nn.BatchNorm1d(3), [4, 3], [1, 3], /more than 1 value per channel/],
  ['BatchNorm2d', () => new nn.BatchNorm2d(3), [2, 3, 2, 2], [2, 4, 2, 2], /has 4 channels in dimension 1, expected 3/],
  ['GroupNorm', () => new nn.GroupNorm(1, 3), [2, 3, 4], [2, 6, 4], /must be \[N, 3, \.\.\.\]/],
  ['LayerNorm', () => new nn.LayerNorm([3, 4]), [2, 3, 4], [2, 4, 3], /does not end in normalizedShape \[3, 4\]/],
  ['L2Norm', () => new nn.L2Norm({ dim: 2, scale: 2, numChannels: 4 }), [2, 3, 4], [2, 3], /dim 2 is out of range for an input of shape \[2, 3\]/],
  ['Softmax', () => new nn.Softmax({ dim: 1 }), [2, 3], [5], /dim 1 is out of range for an input of shape \[5\]/],
  ['LogSoftmax', () => new nn.LogSoftmax({ dim: -3 }), [2, 3, 4], [2, 3], /dim -3 is out of range/],
  ['Sequential', () => new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU()), [2, 4], [2, 3], /must have 4 features/],
];

/** A module that has run one forward on its good input (so backward can be tried). */
function ready(make: () => nn.Module, good: number[]): { m: nn.Module; x: Tensor; y: Tensor } {
  const m = make();
  const x = randomTensor(good, 1);
  return { m, x, y: m.forward(x) };
}

describeEachBackend('bad input to every layer', () => {
  const rows: Row[] = layers.flatMap(([name, make, good, bad, message]): Row[] => [
    ...(bad.length > 0 ? [[`${name}: forward of shape [${bad}]`, () => { const m = make(); const x = randomTensor(bad, 2); return { call: () => m.forward(x), watch: [m, x] }; }, RangeError, message] as Row] : []),
    [`${name}: forward(null)`, () => { const m = make(); return { call: () => m.forward(null as never), watch: [m] }; }, TypeError, /input must be a Tensor, got null/],
    [`${name}: forward(Float32Array)`, () => { const m = make(); return { call: () => m.forward(new Float32Array(24) as never), watch: [m] }; }, TypeError, /must be a Tensor, got a Float32Array/],
    [`${name}: forward(Float64Array)`, () => { const m = make(); return { call: () => m.forward(new Float64Array(24) as never), watch: [m] }; }, TypeError, /must be a Tensor, got a Float64Array/],
    [`${name}: forward(Int32Array)`, () => { const m = make(); return { call: () => m.forward(new Int32Array(24) as never), watch: [m] }; }, TypeError, /must be a Tensor, got a Int32Array/],
    [`${name}: forward(plain array)`, () => { const m = make(); return { call: () => m.forward([1, 2, 3] as never), watch: [m] }; }, TypeError, /must be a Tensor, got an Array/],
    [`${name}: forward of a detached tensor`, () => { const m = make(); const x = randomTensor(good, 3); detach(x.data); return { call: () => m.forward(x), watch: [m] }; }, TypeError, /detached/],
    [`${name}: forward of a tensor whose resizable buffer shrank`, () => {
      const m = make();
      const r = resizable(good.reduce((a, b) => a * b, 1));
      const x = new Tensor(r.data, good);
      r.shrink();
      return { call: () => m.forward(x), watch: [m] };
    }, TypeError, /can no longer be used: its data now has \d+ elements/],
    [`${name}: backward before forward`, () => { const m = make(); return { call: () => m.backward(Tensor.zeros([2, 3])), watch: [m] }; }, Error, /backward called before forward/],
    [`${name}: backward with a gradient of the wrong shape`, () => {
      const { m, x, y } = ready(make, good);
      const g = randomTensor([...y.shape, 2], 4);
      return { call: () => m.backward(g), watch: [m, x, y, g] };
    }, RangeError, /gradOutput has shape \[.*\], but the last forward's output has shape/],
    [`${name}: backward with an unknown option`, () => { const { m, x, y } = ready(make, good); const g = Tensor.zerosLike(y); return { call: () => m.backward(g, { inputgrad: false } as never), watch: [m, x, g] }; }, TypeError, /backward has no option "inputgrad"; its options are inputGrad/],
    [`${name}: backward with inputGrad 0`, () => { const { m, x, y } = ready(make, good); const g = Tensor.zerosLike(y); return { call: () => m.backward(g, { inputGrad: 0 } as never), watch: [m, x, g] }; }, TypeError, /backward: inputGrad must be a boolean, got number 0/],
    [`${name}: backward with options null`, () => { const { m, x, y } = ready(make, good); const g = Tensor.zerosLike(y); return { call: () => m.backward(g, null as never), watch: [m, x, g] }; }, TypeError, /backward options must be an object, got null/],
    [`${name}: backward(Float64Array)`, () => { const { m, x } = ready(make, good); return { call: () => m.backward(new Float64Array(24) as never), watch: [m, x] }; }, TypeError, /gradOutput must be a Tensor, got a Float64Array/],
    [`${name}: backward after the saved input was detached`, () => {
      const { m, x, y } = ready(make, good);
      const g = Tensor.zerosLike(y);
      detach(x.data);
      return { call: () => m.backward(g), watch: [m, g] };
    }, TypeError, /saved input.*detached/],
  ]);
  runRows(rows);
});

describeEachBackend('bad constructor options', () => {
  const rows: Row[] = (
    [
      ['Linear inFeatures 0', () => new nn.Linear(0, 3), RangeError, /Linear inFeatures must be a positive integer, got 0/],
      ['Linear inFeatures -1', () => new nn.Linear(-1, 3), RangeError, /got -1/],
      ['Linear inFeatures 2.5', () => new nn.Linear(2.5, 3), RangeError, /got 2.5/],
      ['Linear inFeatures NaN', () => new nn.Linear(NaN, 3), RangeError, /got NaN/],
      ['Linear outFeatures Infinity', () => new nn.Linear(3, Infinity), RangeError, /got Infinity/],
      ['Linear inFeatures "4"', () => new nn.Linear('4' as never, 3), TypeError, /must be a number, got string 4/],
      ['Linear 2^16 × 2^17 (2^33 elements: past 32 bits)', () => new nn.Linear(2 ** 16, 2 ** 17), RangeError, /\[131072, 65536\] has 8589934592 elements, more than a Float32Array can hold/],
      ['Linear 2^32 × 2^32 (2^64 elements: past 64 bits)', () => new nn.Linear(2 ** 32, 2 ** 32), RangeError, /more than a Float32Array can hold/],
      ['Linear bias "yes"', () => new nn.Linear(3, 3, { bias: 'yes' as never }), TypeError, /bias must be a boolean/],
      ['Linear options 5', () => new nn.Linear(3, 3, 5 as never), TypeError, /options must be an object/],
      ['Conv2d kernelSize 0', () => new nn.Conv2d(3, 4, 0), RangeError, /kernelSize must be a positive integer/],
      ['Conv2d stride 0', () => new nn.Conv2d(3, 4, 3, { stride: 0 }), RangeError, /stride must be a positive integer/],
      ['Conv2d stride [1, 0]', () => new nn.Conv2d(3, 4, 3, { stride: [1, 0] }), RangeError, /stride .*got \[1, 0\]/],
      ['Conv2d padding -1', () => new nn.Conv2d(3, 4, 3, { padding: -1 }), RangeError, /padding must be a non-negative/],
      ['Conv2d dilation NaN', () => new nn.Conv2d(3, 4, 3, { dilation: NaN }), RangeError, /dilation/],
      ['Conv2d kernelSize [1, 2, 3]', () => new nn.Conv2d(3, 4, [1, 2, 3] as never), TypeError, /kernelSize must be a number or an \[h, w\] pair/],
      ['Conv2d groups that do not divide inChannels', () => new nn.Conv2d(3, 4, 3, { groups: 2 }), RangeError, /inChannels \(3\) must be divisible by groups \(2\)/],
      ['Conv2d groups that do not divide outChannels', () => new nn.Conv2d(4, 6, 3, { groups: 4 }), RangeError, /outChannels \(6\) must be divisible by groups \(4\)/],
      ['Conv2d weight past 2^33 bytes', () => new nn.Conv2d(2 ** 12, 2 ** 12, 2 ** 6), RangeError, /more than a Float32Array can hold/],
      ['MaxPool2d kernelSize 0', () => new nn.MaxPool2d(0), RangeError, /kernelSize must be a positive integer, got 0/],
      ['MaxPool2d stride 0', () => new nn.MaxPool2d(2, { stride: 0 }), RangeError, /stride must be a positive integer, got 0/],
      ['MaxPool2d padding over half the kernel', () => new nn.MaxPool2d(2, { padding: 2 }), RangeError, /padding \[2, 2\] should be at most half of kernel size \[2, 2\]/],
      ['MaxPool2d ceilMode "yes"', () => new nn.MaxPool2d(2, { ceilMode: 'yes' as never }), TypeError, /ceilMode must be a boolean/],
      ['AvgPool2d countIncludePad 1', () => new nn.AvgPool2d(2, { countIncludePad: 1 as never }), TypeError, /countIncludePad must be a boolean/],
      ['AvgPool2d kernelSize Infinity', () => new nn.AvgPool2d(Infinity), RangeError, /got Infinity/],
      ['BatchNorm1d negative eps', () => new nn.BatchNorm1d(3, { eps: -1e-5 }), RangeError, /eps must be >= 0, got -0.00001/],
      ['BatchNorm2d eps NaN', () => new nn.BatchNorm2d(3, { eps: NaN }), RangeError, /eps must be finite, got NaN/],
      ['BatchNorm2d momentum Infinity', () => new nn.BatchNorm2d(3, { momentum: Infinity }), RangeError, /momentum must be finite/],
      ['BatchNorm2d numFeatures 0', () => new nn.BatchNorm2d(0), RangeError, /numFeatures must be a positive integer/],
      ['BatchNorm1d affine "no"', () => new nn.BatchNorm1d(3, { affine: 'no' as never }), TypeError, /affine must be a boolean/],
      ['GroupNorm groups that do not divide', () => new nn.GroupNorm(2, 3), RangeError, /numChannels 3 is not divisible by numGroups 2/],
      ['GroupNorm negative eps', () => new nn.GroupNorm(1, 3, { eps: -1 }), RangeError, /eps must be >= 0/],
      ['LayerNorm []', () => new nn.LayerNorm([]), TypeError, /non-empty array/],
      ['LayerNorm [3, 0]', () => new nn.LayerNorm([3, 0]), RangeError, /normalizedShape\[1\] must be a positive integer, got 0/],
      ['LayerNorm [2^20, 2^20]', () => new nn.LayerNorm([2 ** 20, 2 ** 20]), RangeError, /more than a Float32Array can hold/],
      ['L2Norm dim 1.5', () => new nn.L2Norm({ dim: 1.5 }), RangeError, /dim must be an integer, got 1.5/],
      ['L2Norm scale NaN', () => new nn.L2Norm({ scale: NaN }), RangeError, /scale must be finite/],
      ['L2Norm negative eps', () => new nn.L2Norm({ eps: -1 }), RangeError, /eps must be >= 0/],
      ['Softmax dim "1"', () => new nn.Softmax({ dim: '1' as never }), TypeError, /dim must be a number, got string 1/],
      ['LogSoftmax dim 0.5', () => new nn.LogSoftmax({ dim: 0.5 }), RangeError, /dim must be an integer/],
      ['CrossEntropyLoss labelSmoothing 2', () => new nn.CrossEntropyLoss({ labelSmoothing: 2 }), RangeError, /labelSmoothing must be in \[0, 1\], got 2/],
      ['CrossEntropyLoss reduction "none"', () => new nn.CrossEntropyLoss({ reduction: 'none' as never }), RangeError, /reduction must be 'mean' or 'sum', got "none"/],
      ['MSELoss reduction 1', () => new nn.MSELoss({ reduction: 1 as never }), TypeError, /reduction must be 'mean' or 'sum', got number 1/],
      ['Sequential of a non-module', () => new nn.Sequential(new nn.ReLU(), {} as never), TypeError, /argument 1 is not a Module/],
      ['ELU alpha NaN', () => new nn.ELU({ alpha: NaN }), RangeError, /ELU alpha must be finite, got NaN/],
      ['CELU alpha 0', () => new nn.CELU({ alpha: 0 }), RangeError, /CELU alpha must not be 0/],
      ['GELU approximate "erf"', () => new nn.GELU({ approximate: 'erf' as never }), RangeError, /approximate must be 'none' or 'tanh', got "erf"/],
      ['GELU approximate true', () => new nn.GELU({ approximate: true as never }), TypeError, /approximate must be 'none' or 'tanh', got boolean true/],
      ['Softplus beta 0', () => new nn.Softplus({ beta: 0 }), RangeError, /Softplus beta must not be 0/],
      ['Softplus threshold "20"', () => new nn.Softplus({ threshold: '20' as never }), TypeError, /threshold must be a number, got string 20/],
      ['Hardtanh minVal 2 maxVal 1', () => new nn.Hardtanh({ minVal: 2, maxVal: 1 }), RangeError, /maxVal \(1\) must be greater than minVal \(2\)/],
      ['Hardtanh maxVal Infinity', () => new nn.Hardtanh({ maxVal: Infinity }), RangeError, /maxVal must be finite, got Infinity/],
      ['Dropout p 1.5', () => new nn.Dropout({ p: 1.5 }), RangeError, /p must be a probability in \[0, 1\], got 1.5/],
      ['Dropout p NaN', () => new nn.Dropout({ p: NaN }), RangeError, /got NaN/],
      ['Dropout p "0.5"', () => new nn.Dropout({ p: '0.5' as never }), TypeError, /p must be a number, got string 0.5/],
      ['AdaptiveAvgPool2d outputSize 0', () => new nn.AdaptiveAvgPool2d(0), RangeError, /outputSize must be a positive integer, got 0/],
      ['AdaptiveAvgPool2d outputSize [2, 2.5]', () => new nn.AdaptiveAvgPool2d([2, 2.5]), RangeError, /got 2.5/],
      ['AdaptiveAvgPool2d outputSize "7"', () => new nn.AdaptiveAvgPool2d('7' as never), TypeError, /outputSize must be a number or an \[h, w\] pair, got string 7/],
    ] as [string, () => unknown, ErrorConstructor, RegExp][]
  ).map(([name, make, cls, message]): Row => [name, () => ({ call: make }), cls, message]);
  runRows(rows);
});

describeEachBackend('bad input to losses', () => {
  const x = () => randomTensor([2, 3], 6);
  const ce = (target: unknown, input = x()): ReturnType<Row[1]> => {
    const l = new nn.CrossEntropyLoss();
    return { call: () => l.forward(input, target), watch: [input] };
  };
  runRows([
    ['CrossEntropyLoss: class index 3 of 3', () => ce(Int32Array.of(0, 3)), RangeError, /class index 3 at target\[1\] is out of range for 3 classes/],
    ['CrossEntropyLoss: class index -1', () => ce([-1, 0]), RangeError, /class index -1 at target\[0\] is out of range/],
    ['CrossEntropyLoss: class index 0.5', () => ce([0.5, 0]), RangeError, /target\[0\] = 0.5 is not an integer class index/],
    ['CrossEntropyLoss: class index NaN', () => ce([NaN, 0]), RangeError, /target\[0\] = NaN is not an integer/],
    ['CrossEntropyLoss: class index "1"', () => ce(['1', 0]), TypeError, /target\[0\] is string 1, not a class index/],
    ['CrossEntropyLoss: 3 targets for 2 samples', () => ce([0, 1, 2]), RangeError, /target has 3 class indices, but input of shape \[2, 3\] has 2 samples/],
    ['CrossEntropyLoss: a Float32Array target', () => ce(new Float32Array(2)), TypeError, /target must be an Int32Array or an array of class indices, got a Float32Array/],
    ['CrossEntropyLoss: null target', () => ce(null), TypeError, /got null/],
    ['CrossEntropyLoss: 1-D input', () => ce([0], randomTensor([3], 1)), RangeError, /input of shape \[3\] must be \[N, C\] logits/],
    ['CrossEntropyLoss: zero classes', () => ce([], Tensor.zeros([0, 0])), RangeError, /\[0, 0\] must be \[N, C\] logits with C > 0/],
    ['CrossEntropyLoss: backward before forward', () => ({ call: () => new nn.CrossEntropyLoss().backward() }), Error, /backward called before forward/],
    ['MSELoss: target of another shape', () => { const a = x(); const t = randomTensor([3, 2], 1); return { call: () => new nn.MSELoss().forward(a, t), watch: [a, t] }; }, RangeError, /target of shape \[3, 2\] does not match input of shape \[2, 3\]/],
    ['MSELoss: target a Float32Array', () => ({ call: () => new nn.MSELoss().forward(x(), new Float32Array(6)) }), TypeError, /target must be a Tensor, got a Float32Array/],
    ['MSELoss: input null', () => ({ call: () => new nn.MSELoss().forward(null as never, x()) }), TypeError, /input must be a Tensor, got null/],
    ['MSELoss: backward after the target was detached', () => {
      const l = new nn.MSELoss();
      const t = x();
      l.forward(x(), t);
      detach(t.data);
      return { call: () => l.backward() };
    }, TypeError, /saved target.*detached/],
  ]);
});

describe('bad tensors', () => {
  runRows(
    (
      [
        ['Float64Array data', () => new Tensor(new Float64Array(4) as never, [4]), TypeError, /Tensor data must be a Float32Array, got a Float64Array/],
        ['Int32Array data', () => new Tensor(new Int32Array(4) as never, [4]), TypeError, /got a Int32Array/],
        ['null data', () => Tensor.from(null as never, [1]), TypeError, /needs a Float32Array or an array-like of numbers, got null/],
        ['a plain array with a string', () => Tensor.from([1, 'a'] as never, [2]), TypeError, /element 1 is string a, not a number/],
        ['too few elements', () => new Tensor(new Float32Array(3), [2, 2]), RangeError, /shape \[2, 2\] needs 4 elements, but the data has 3/],
        ['a negative dimension', () => Tensor.zeros([2, -1]), RangeError, /\[2, -1\] has a dimension that is not a non-negative integer/],
        ['a fractional dimension', () => Tensor.zeros([1.5]), RangeError, /not a non-negative integer/],
        ['a NaN dimension', () => Tensor.zeros([NaN]), RangeError, /\[NaN\] has a dimension/],
        ['an infinite dimension', () => Tensor.zeros([Infinity, 0]), RangeError, /\[Infinity, 0\] has a dimension/],
        ['a string dimension', () => Tensor.zeros(['2'] as never), TypeError, /not a number/],
        ['a shape that is not an array', () => Tensor.zeros(4 as never), TypeError, /shape must be an array of dimensions, got number 4/],
        ['2^33 elements (past 32 bits)', () => Tensor.zeros([2 ** 16, 2 ** 16, 2]), RangeError, /8589934592 elements, more than a Float32Array can hold/],
        ['2^96 elements (past 64 bits)', () => Tensor.zeros([2 ** 32, 2 ** 32, 2 ** 32]), RangeError, /more than a Float32Array can hold/],
        ['a detached buffer', () => { const d = new Float32Array(4); detach(d); return new Tensor(d, [4]); }, TypeError, /ArrayBuffer is detached/],
        ['reshape to other sizes', () => Tensor.zeros([2, 3]).reshape([4, 2]), RangeError, /cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/],
        ['reshape with two -1', () => Tensor.zeros([2, 3]).reshape([-1, -1]), RangeError, /only one dimension can be -1/],
      ] as [string, () => unknown, ErrorConstructor, RegExp][]
    ).map(([name, make, cls, message]): Row => [name, () => ({ call: make }), cls, message]),
  );

  it('a SharedArrayBuffer-backed Float32Array is accepted and computes as any other', () => {
    const shared = new Float32Array(new SharedArrayBuffer(4 * 24));
    const x = randomTensor([2, 3, 4], 7);
    shared.set(x.data);
    for (const backend of native ? (['native', 'js'] as const) : (['js'] as const)) {
      withBackend(backend, () => {
        const a = new nn.Linear(4, 5);
        const b = new nn.Linear(4, 5);
        b.loadStateDict(a.stateDict());
        expect(a.forward(new Tensor(shared, [2, 3, 4])).data).toEqual(b.forward(x).data);
        expect(a.backward(Tensor.zeros([2, 3, 5]).reshape([2, 3, 5])).data).toEqual(b.backward(Tensor.zeros([2, 3, 5])).data);
      });
    }
  });
});

describeEachBackend("bad input to Tensor's elementwise helpers and the merge layers", () => {
  /** Two fresh tensors a [2, 3] and b of `shape`, watched. */
  const pair = (shape: number[], f: (a: Tensor, b: Tensor) => unknown) => () => {
    const [a, b] = [randomTensor([2, 3], 1), randomTensor(shape, 2)];
    return { call: () => f(a, b), watch: [a, b] };
  };
  const one = (f: (a: Tensor) => unknown) => () => {
    const a = randomTensor([2, 3, 4], 1);
    return { call: () => f(a), watch: [a] };
  };
  const merged = (make: () => nn.Module<Tensor[], Tensor, Tensor[]>, shapes: number[][]) => () => {
    const m = make();
    const xs = shapes.map((s, i) => randomTensor(s, i + 1));
    return { call: () => m.forward(...xs), watch: [m as unknown as nn.Module, ...xs] };
  };
  runRows([
    ...(['add', 'sub', 'mul', 'div'] as const).flatMap((op): Row[] => [
      [`Tensor.${op}: shapes that do not broadcast`, pair([4], (a, b) => a[op](b)), RangeError, new RegExp(`Tensor\\.${op}: shapes \\[2, 3\\] and \\[4\\] cannot be broadcast together \\(dim 1 of the result: 3 vs 4\\)`)],
      [`Tensor.${op}(Float32Array)`, pair([3], (a) => a[op](new Float32Array(3) as never)), TypeError, new RegExp(`Tensor\\.${op}: other must be a Tensor, got a Float32Array`)],
      [`Tensor.${op}("2")`, pair([3], (a) => a[op]('2' as never)), TypeError, /must be a Tensor, got string 2/],
      [`Tensor.${op} of a detached other`, () => {
        const [a, b] = [randomTensor([2, 3], 1), randomTensor([3], 2)];
        detach(b.data);
        return { call: () => a[op](b), watch: [a] };
      }, TypeError, new RegExp(`Tensor\\.${op}: other: the tensor of shape \\[3\\] can no longer be used: its ArrayBuffer is detached`)],
    ]),
    ['Tensor.sum over dim 3 of [2, 3, 4]', one((a) => a.sum(3)), RangeError, /Tensor\.sum: dim 3 is out of range for shape \[2, 3, 4\] \(expected -3\.\.2\)/],
    ['Tensor.mean over a dim twice', one((a) => a.mean([1, -2])), RangeError, /Tensor\.mean: dim \[1, -2\] names a dim twice/],
    ['Tensor.sum over dim 0.5', one((a) => a.sum(0.5)), TypeError, /dim must be an integer, got 0\.5/],
    ['Tensor.sum over dims "1"', one((a) => a.sum('1' as never)), TypeError, /dim must be an integer or an array of integers, got string 1/],
    ['Tensor.mean keepdim 1', one((a) => a.mean(0, { keepdim: 1 as never })), TypeError, /keepdim must be a boolean, got number 1/],
    ['Tensor.argmax of an empty tensor', () => ({ call: () => Tensor.zeros([2, 0]).argmax(1) }), RangeError, /Tensor\.argmax: the tensor of shape \[2, 0\] is empty/],
    ['Tensor.argmax over dim -4', one((a) => a.argmax(-4)), RangeError, /dim -4 is out of range for shape \[2, 3, 4\]/],
    ['Add of [2, 3] and [3, 2]', merged(() => new nn.Add(), [[2, 3], [3, 2]]), RangeError, /Add\.forward: the inputs must have the same shape, got \[2, 3\], \[3, 2\]/],
    ['Add of [2, 3], [2, 3] and [2, 3, 1]', merged(() => new nn.Add(), [[2, 3], [2, 3], [2, 3, 1]]), RangeError, /got \[2, 3\], \[2, 3\], \[2, 3, 1\]/],
    ['Mul of [2, 3] and [4]', merged(() => new nn.Mul() as never, [[2, 3], [4]]), RangeError, /Mul\.forward: shapes \[2, 3\] and \[4\] do not broadcast/],
    ['Mul of three inputs', merged(() => new nn.Mul() as never, [[2, 3], [2, 3], [2, 3]]), TypeError, /Mul\.forward takes 2 inputs, got 3/],
    ['Cat of [2, 3] and [3, 3] along dim 1', merged(() => new nn.Cat({ dim: 1 }), [[2, 3], [3, 3]]), RangeError, /Cat\.forward: the inputs must have the same rank and agree in every dimension but 1/],
    ['Add of a detached input', () => {
      const m = new nn.Add();
      const [a, b] = [randomTensor([2, 3], 1), randomTensor([2, 3], 2)];
      detach(b.data);
      return { call: () => m.forward(a, b), watch: [m as unknown as nn.Module, a] };
    }, TypeError, /Add\.forward: input 1.*detached/],
  ]);
});

describeEachBackend('NaN and infinities propagate as in PyTorch, and diag flags them', () => {
  it('through the layers, as PyTorch: NaN stays NaN, ReLU(-Inf) = 0, max pooling picks NaN', () => {
    const x = Tensor.from([NaN, -Infinity, Infinity, 1], [1, 1, 2, 2]);
    expect([...new nn.ReLU().forward(x).data]).toEqual([NaN, 0, Infinity, 1]);
    expect([...new nn.MaxPool2d(2).forward(x).data]).toEqual([NaN]);
    const lin = new nn.Linear(4, 2);
    const y = lin.forward(x.reshape([1, 4]));
    expect([...y.data].every(Number.isNaN)).toBe(true);
    // torch.nn.functional.cross_entropy: inf for a -inf logit at the target, NaN for a +inf logit.
    expect(new nn.CrossEntropyLoss().forward(Tensor.from([-Infinity, 0], [1, 2]), [0])).toBe(Infinity);
    expect(new nn.CrossEntropyLoss().forward(Tensor.from([Infinity, 0], [1, 2]), [1])).toBeNaN();
    expect(new nn.CrossEntropyLoss().forward(Tensor.from([NaN, 0], [1, 2]), [1])).toBeNaN();
  });

  it('diag flags non-finite activations, losses and gradients', () => {
    const model = new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU());
    const activations = new diag.ActivationMonitor(model);
    const monitor = new diag.TrainingMonitor({ activations, model });
    const y = model.forward(Tensor.from([NaN, 1, 2, 3, 4, 5], [2, 3]));
    model.backward(Tensor.from(new Float32Array(y.size).fill(1), y.shape));
    const kinds = monitor.step({ loss: NaN, lr: 0.1 }).map((w) => w.kind);
    expect(kinds).toEqual(expect.arrayContaining(['nonFiniteLoss', 'nonFiniteActivation', 'nonFiniteGradient']));
  });
});

describeEachBackend('bad input to init, optim and io', () => {
  const t = () => randomTensor([3, 4], 8);
  const withT = (f: (x: Tensor) => unknown) => () => { const x = t(); return { call: () => f(x), watch: [x] }; };
  const params = () => [new nn.Parameter(randomTensor([4], 1)), new nn.Parameter(randomTensor([2, 2], 2))];
  const stepWith = (make: (ps: nn.Parameter[]) => optim.Optimizer<{ lr: number }>, poison: (ps: nn.Parameter[]) => void) => () => {
    const ps = params();
    ps.forEach((p) => p.grad.data.fill(0.5));
    const opt = make(ps);
    opt.step();
    poison(ps);
    return { call: () => opt.step(), watch: ps };
  };
  runRows([
    ['init.uniform(null)', () => ({ call: () => init.uniform(null as never) }), TypeError, /must be a Tensor, got null/],
    ['init.uniform with a > b', withT((x) => init.uniform(x, 1, 0)), RangeError, /a \(1\) must not exceed b \(0\)/],
    ['init.normal with std -1', withT((x) => init.normal(x, 0, -1)), RangeError, /std must be >= 0, got -1/],
    ['init.constant("1")', withT((x) => init.constant(x, '1' as never)), TypeError, /value must be a number/],
    ['init.kaimingUniform of a 1-D tensor', () => { const x = randomTensor([4], 1); return { call: () => init.kaimingUniform(x), watch: [x] }; }, RangeError, /at least 2 dimensions, got shape \[4\]/],
    ['init.kaimingNormal mode "fan_avg"', withT((x) => init.kaimingNormal(x, { mode: 'fan_avg' as never })), RangeError, /mode must be 'fan_in' or 'fan_out', got "fan_avg"/],
    ['init.orthogonal of a 1-D tensor', () => { const x = randomTensor([4], 1); return { call: () => init.orthogonal(x), watch: [x] }; }, RangeError, /only tensors with 2 or more dimensions are supported, got shape \[4\]/],
    ['init.xavierUniform of a detached tensor', () => { const x = t(); detach(x.data); return { call: () => init.xavierUniform(x) }; }, TypeError, /detached/],
    ['init.calculateGain("swish")', () => ({ call: () => init.calculateGain('swish' as never) }), RangeError, /unsupported nonlinearity "swish"/],
    ['init.rai with a bias of the wrong shape', () => { const w = t(); const b = randomTensor([4], 2); return { call: () => init.rai(w, b), watch: [w, b] }; }, RangeError, /needs a bias of shape \[3\], got \[4\]/],
    ['SGD(null)', () => ({ call: () => new optim.SGD(null as never, { lr: 0.1 }) }), TypeError, /params must be an array of Parameters/],
    ['SGD([])', () => ({ call: () => new optim.SGD([], { lr: 0.1 }) }), RangeError, /empty list of parameters/],
    ['SGD without lr', () => ({ call: () => new optim.SGD(params(), {} as never) }), TypeError, /lr is required/],
    ['SGD lr -1', () => ({ call: () => new optim.SGD(params(), { lr: -1 }) }), RangeError, /lr must be >= 0, got -1/],
    ['SGD lr NaN', () => ({ call: () => new optim.SGD(params(), { lr: NaN }) }), TypeError, /lr is required/],
    ['SGD nesterov without momentum', () => ({ call: () => new optim.SGD(params(), { lr: 0.1, nesterov: true }) }), RangeError, /Nesterov momentum needs momentum > 0/],
    ['SGD with a misspelt option', () => ({ call: () => new optim.SGD(params(), { lr: 0.1, momentom: 0.9 } as never) }), TypeError, /no option "momentom"/],
    ['SGD with a Tensor in params', () => ({ call: () => new optim.SGD([new nn.Parameter(t()), t()] as never, { lr: 0.1 }) }), TypeError, /params\[1\] must be a Parameter, got a Tensor/],
    ['Adam betas [1, 0.9]', () => ({ call: () => new optim.Adam(params(), { betas: [1, 0.9] }) }), RangeError, /betas\[0\] must be in \[0, 1\), got 1/],
    ['Adam negative eps', () => ({ call: () => new optim.Adam(params(), { eps: -1e-8 }) }), RangeError, /eps must be >= 0/],
    ['Adagrad lrDecay Infinity', () => ({ call: () => new optim.Adagrad(params(), { lrDecay: Infinity }) }), RangeError, /lrDecay must be finite/],
    ['AdamW weightDecay "0.1"', () => ({ call: () => new optim.AdamW(params(), { weightDecay: '0.1' as never }) }), TypeError, /weightDecay must be a number/],
    ['SGD momentum step with a NaN gradient', stepWith((ps) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9 }), (ps) => (ps[1]!.grad.data[2] = NaN)), RangeError, /parameter 1 \(shape \[2, 2\]\) has a non-finite gradient: element 2 is NaN; no parameter or optimiser state was changed/],
    ['Adam step with an infinite gradient', stepWith((ps) => new optim.Adam(ps), (ps) => (ps[0]!.grad.data[0] = -Infinity)), RangeError, /parameter 0 .* element 0 is -Infinity/],
    ['Adagrad step with a detached gradient', stepWith((ps) => new optim.Adagrad(ps), (ps) => detach(ps[1]!.grad.data)), TypeError, /gradient of parameter 1.*detached/],
    ['clipGradNorm maxNorm -1', () => { const ps = params(); return { call: () => optim.clipGradNorm(ps, -1), watch: ps }; }, RangeError, /maxNorm must be >= 0, got -1/],
    ['clipGradNorm normType 0', () => { const ps = params(); return { call: () => optim.clipGradNorm(ps, 1, { normType: 0 }), watch: ps }; }, RangeError, /normType must be positive/],
    ['clipGradNorm of an infinite gradient', () => { const ps = params(); ps[0]!.grad.data.set([1, 2, Infinity, 3]); return { call: () => optim.clipGradNorm(ps, 1), watch: ps }; }, RangeError, /total norm of order 2 of the gradients is Infinity.*no gradient was changed/],
    ['clipGradNorm(null)', () => ({ call: () => optim.clipGradNorm(null as never, 1) }), TypeError, /params must be a Parameter or an array of Parameters, got null/],
    ['clipGradValue NaN', () => { const ps = params(); return { call: () => optim.clipGradValue(ps, NaN), watch: ps }; }, RangeError, /clipValue must be finite/],
    ['parseSafetensors(null)', () => ({ call: () => io.parseSafetensors(null as never) }), TypeError, /must be a Uint8Array/],
    ['parseSafetensors(Float32Array)', () => ({ call: () => io.parseSafetensors(new Float32Array(4) as never) }), TypeError, /must be a Uint8Array/],
    ['parseSafetensors of 3 bytes', () => ({ call: () => io.parseSafetensors(new Uint8Array(3)) }), Error, /the file has 3 bytes, fewer than the 8 of the header length: truncated/],
    ['parseSafetensors of a detached buffer', () => { const b = new Uint8Array(64); detach(b as never); return { call: () => io.parseSafetensors(b) }; }, Error, /the file has 0 bytes/],
    ['parseSafetensors with a header length of 2^64 - 1', () => ({ call: () => io.parseSafetensors(new Uint8Array(16).fill(0xff)) }), Error, /more than the limit of 100000000/],
    ['loadSafetensors of a missing file', () => ({ call: () => io.loadSafetensors('/nonexistent/liven.safetensors') }), Error, /ENOENT/],
    ['serializeSafetensors(null)', () => ({ call: () => io.serializeSafetensors(null as never) }), TypeError, /tensors must be an object of Tensors by name/],
    ['serializeSafetensors of a detached tensor', () => { const x = t(); detach(x.data); return { call: () => io.serializeSafetensors({ x }) }; }, TypeError, /detached/],
    ['loadStateDict with a wrong shape', () => { const m = new nn.Linear(3, 2); const sd = { weight: randomTensor([3, 2], 1), bias: randomTensor([2], 1) }; return { call: () => m.loadStateDict(sd), watch: [m] }; }, Error, /"weight" has shape \[3, 2\] in the state dict but \[2, 3\] in the model; nothing was loaded/],
    ['diag.deadUnits(null)', () => ({ call: () => diag.deadUnits(null as never) }), TypeError, /preActivation must be a Tensor, got null/],
    ['diag.deadUnits of [0, 3]', () => ({ call: () => diag.deadUnits(Tensor.zeros([0, 3])) }), RangeError, /\[0, 3\] has no elements to judge units by/],
    ['diag.ActivationMonitor(null)', () => ({ call: () => new diag.ActivationMonitor(null as never) }), TypeError, /needs a Module, got null/],
    ['diag.ActivationMonitor nearlyDeadThreshold -1', () => ({ call: () => new diag.ActivationMonitor(new nn.ReLU(), { nearlyDeadThreshold: -1 }) }), RangeError, /must be a finite number >= 0, got -1/],
    ['diag.ActivationMonitor: a second input shape in one window', () => {
      const m = new nn.ReLU();
      new diag.ActivationMonitor(m);
      m.forward(randomTensor([2, 3], 1));
      const x = randomTensor([2, 4], 2);
      return { call: () => m.forward(x), watch: [x] };
    }, RangeError, /had 3 units × 1 positions in this window, but got an output of shape \[2, 4\]/],
    ['diag.TrainingMonitor resetEachStep 0', () => ({ call: () => new diag.TrainingMonitor({ resetEachStep: 0 as never }) }), TypeError, /^TrainingMonitor resetEachStep must be a boolean, got number 0$/],
    ['diag.TrainingMonitor.step loss "1"', () => ({ call: () => new diag.TrainingMonitor().step({ loss: '1' as never }) }), TypeError, /loss must be a number, got string 1/],
    ['diag.renderReport(null)', () => ({ call: () => diag.renderReport(null as never) }), TypeError, /needs an object \{ history, monitor, title \}, got null/],
    ['diag.renderReport monitor {}', () => ({ call: () => diag.renderReport({ title: 't', monitor: {} as never }) }), TypeError, /monitor must be a diag.ActivationMonitor/],
    ['Sequential.fromConfig(null)', () => ({ call: () => nn.Sequential.fromConfig(null as never) }), TypeError, /a Sequential config must be an object, got null/],
    ['Sequential.fromConfig of an unknown type', () => ({ call: () => nn.Sequential.fromConfig({ type: 'Sequential', layers: [{ type: 'Nope' }] }) }), TypeError, /Nope/],
    ['Sequential.fromConfig with a bad stride', () => ({ call: () => nn.Sequential.fromConfig({ type: 'Sequential', layers: [{ type: 'Conv2d', inChannels: 1, outChannels: 1, kernelSize: 3, stride: 0 }] }) }), RangeError, /stride must be a positive integer/],
    ['Sequential.fromConfig with layers not an array', () => ({ call: () => nn.Sequential.fromConfig({ type: 'Sequential', layers: 3 }) }), TypeError, /"layers" must be an array/],
  ]);
});

describe('the CLI rejects bad arguments with exit code 2 and a message', () => {
  const cli = new URL('../dist/cli.js', import.meta.url).pathname;
  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['clinic', '--seed', 'abc'], /--seed must be an integer >= 0, got abc/],
    [['clinic', '--seed', '-1'], /--seed must be an integer >= 0, got -1/],
    [['clinic', '--threads', '0'], /--threads must be an integer >= 1, got 0/],
    [['clinic', '--threads', '1.5'], /--threads must be an integer >= 1, got 1.5/],
    [['clinic', '--seed'], /--seed needs a value/],
    [['clinic', '--only', 'nope'], /unknown experiment nope/],
    [['clinic', '--bogus'], /unknown flag --bogus/],
  ])('liven %j', (args, message) => {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.signal).toBeNull();
  });
});

describe.skipIf(!native)('the addon, called directly, rejects what would be unsound', () => {
  const a = native!;
  const f = (n: number) => new Float32Array(n);
  const conv = (o: Partial<Record<string, number>> = {}) => ({ batch: 1, inChannels: 1, height: 3, width: 3, outChannels: 1, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, groups: 1, ...o });
  const pool = (o: Partial<Record<string, number>> = {}) => ({ h: 4, w: 4, oh: 2, ow: 2, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, dh: 1, dw: 1, ...o });
  const buf = f(64);
  const rows: [string, () => unknown, RegExp][] = [
    ['linearForward: y aliasing x', () => a.linearForward(buf.subarray(0, 8), f(8), null, buf.subarray(4, 8), 2, 4, 2), /y shares memory with x/],
    ['linearForward: rows × in past 32 bits', () => a.linearForward(f(4), f(4), null, f(4), 2 ** 31, 2, 1), /x has 4 elements, expected 4294967296/],
    ['linearForward: rows -1 (wraps to 2^32 - 1)', () => a.linearForward(f(4), f(4), null, f(4), -1, 1, 1), /x has 4 elements/],
    ['linearBackward: gradWeight aliasing gradInput', () => a.linearBackward(f(8), f(8), f(4), buf.subarray(0, 8), buf.subarray(0, 8), null, 2, 4, 2), /shares memory/],
    ['linearBackward without gradInput: gradWeight aliasing x', () => a.linearBackward(buf.subarray(0, 8), f(8), f(4), null, buf.subarray(4, 12), null, 2, 4, 2), /gradWeight shares memory with x/],
    ['linearBackward without gradInput: gradWeight too short', () => a.linearBackward(f(8), f(8), f(4), null, buf.subarray(0, 7), null, 2, 4, 2), /gradWeight has 7 elements, expected 8/],
    ['conv2dBackward without gradInput: gradBias aliasing gradWeight', () => a.conv2dBackward(f(9), f(9), f(1), null, buf.subarray(0, 9), buf.subarray(8, 9), conv()), /shares memory/],
    ['conv2dBackward without gradInput: gradOutput too long', () => a.conv2dBackward(f(9), f(9), f(2), null, buf.subarray(0, 9), null, conv()), /gradOutput has 2 elements, expected 1/],
    ['conv2dForward: y aliasing x', () => a.conv2dForward(buf.subarray(0, 9), f(9), null, buf.subarray(8, 9), conv()), /y shares memory with x/],
    ['conv2dForward: zero stride', () => a.conv2dForward(f(9), f(9), null, f(1), conv({ strideH: 0 })), /stride_h must be positive/],
    ['conv2dForward: groups that do not divide', () => a.conv2dForward(f(18), f(9), null, f(2), conv({ inChannels: 2, outChannels: 2, groups: 3 })), /must be divisible by groups 3/],
    ['linearForward: rows NaN (0 as u32)', () => a.linearForward(f(4), f(4), null, f(4), NaN, 2, 2), /x has 4 elements, expected 0/],
    ['avgPool2dForward: zero stride', () => a.avgPool2dForward(f(16), f(4), 1, pool({ sh: 0 }), true), /stride 0 .* must be positive/],
    ['groupNormForward: zero groups', () => a.groupNormForward(f(0), f(0), f(0), f(0), f(0), f(0), 0, 0, 1e-5), /not divisible into 0 groups/],
    ['conv2dForward: sizes whose product overflows 64 bits', () => a.conv2dForward(f(9), f(9), null, f(1), conv({ batch: 2 ** 32 - 1, inChannels: 2 ** 32 - 1, height: 2 ** 32 - 1, width: 2 ** 32 - 1, kernelH: 1, kernelW: 1, outChannels: 1 })), /overflow/],
    // 2^16 of each wraps the input and output lengths to exactly 0 (empty arrays match), with a
    // 2^16-element weight: this aborted the process before the geometry check used checked products.
    ['conv2dForward: sizes whose product wraps to the arrays\' lengths', () => a.conv2dForward(f(0), f(2 ** 16), null, f(0), conv({ batch: 2 ** 16, inChannels: 2 ** 16, height: 2 ** 16, width: 2 ** 16, outChannels: 2 ** 16, kernelH: 1, kernelW: 1, groups: 2 ** 16 })), /overflow/],
    ['softmaxForward: outer × dim × inner wrapping to 0', () => a.softmaxForward(f(0), f(0), 2 ** 22, 2 ** 21, 2 ** 21), /x has 0 elements, expected 18446744073709551615/],
    ['maxPool2dForward: indices aliasing y', () => { const u = new Uint32Array(16); return a.maxPool2dForward(f(16), new Float32Array(u.buffer, 0, 4), new Uint32Array(u.buffer, 0, 4), 1, pool()); }, /shares memory/],
    ['maxPool2dForward: a 2^31 × 2^31 plane', () => a.maxPool2dForward(f(0), f(0), new Uint32Array(0), 4, pool({ h: 2 ** 31, w: 2 ** 31, oh: 2 ** 30, ow: 2 ** 30 })), /too large/],
    ['maxPool2dBackward: an index outside the plane', () => a.maxPool2dBackward(f(4), Uint32Array.of(0, 1, 2, 16), f(16), 1, pool()), /index 16 is outside a plane of 16 elements/],
    ['softmaxForward: outer × dim × inner overflowing', () => a.softmaxForward(f(0), f(0), 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1), /x has 0 elements/],
    ['softmaxForward: y = x', () => a.softmaxForward(buf, buf, 8, 8, 1), /shares memory/],
    ['crossEntropyForward: a class index out of range', () => a.crossEntropyForward(f(6), Int32Array.of(0, 3), f(4), 2, 3, 0), /class index 3 is out of range for 3 classes/],
    ['crossEntropyForward: label smoothing NaN', () => a.crossEntropyForward(f(2), Int32Array.of(0), f(2), 1, 2, NaN), /label smoothing NaN is outside \[0, 1\]/],
    ['adamStep: step 0', () => a.adamStep(f(4), f(4), f(4), f(4), 0.1, 0.9, 0.999, 1e-8, 0, 0, false), /steps count from 1, got 0/],
    ['safetensorsToF32: out aliasing bytes', () => a.safetensorsToF32(new Uint8Array(buf.buffer, 0, 16), 'F32', buf.subarray(2, 6)), /out shares memory with bytes/],
    ['safetensorsToF32: an unknown dtype', () => a.safetensorsToF32(new Uint8Array(16), 'F128', f(1)), /unknown dtype "F128"/],
    // napi-rs's own wording for an argument of the wrong type.
    ['reluForward: a Float64Array', () => a.reluForward(new Float64Array(4) as never, f(4)), /Expected/],
    ['reluForward: null', () => a.reluForward(null as never, f(4)), /TypedArray/],
    ['sgdStep: momentum without a buffer', () => a.sgdStep(f(4), f(4), null, 0.1, 0.9, 0, 0, false, true), /momentum 0.9 needs a momentumBuffer/],
  ];
  it.each(rows)('%s', (_name, call, message) => {
    const before = Array.from(buf);
    let error: unknown = null;
    try {
      call();
    } catch (e) {
      error = e;
    }
    expect(error, 'the call did not throw').toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(message);
    expect(Array.from(buf)).toEqual(before);
  });
});
