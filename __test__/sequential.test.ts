import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Tensor, io, nn } from '../src/index.js';
import { describeEachBackend } from './helpers/backends.js';
import { awayFromZero, expectClose, gradcheck, randomTensor } from './helpers/numeric.js';

/**
 * A test-only layer with a parameter, two buffers (as BatchNorm has) and a child: y = x·scale
 * + shift, where `shift` is a buffer that forward in training mode moves towards the batch mean.
 */
class Affine extends nn.Module {
  readonly scale: nn.Parameter;
  readonly shift: Tensor;
  readonly count: Tensor;
  constructor(readonly features: number) {
    super();
    this.scale = this.registerParameter('weight', new nn.Parameter(Tensor.from(new Float32Array(features).fill(1.5), [features])));
    this.shift = this.registerBuffer('running_mean', Tensor.zeros([features]));
    this.count = this.registerBuffer('num_batches_tracked', Tensor.zeros([]));
    this.registerModule('act', new nn.PReLU());
  }
  toConfig(): nn.ModuleConfig {
    return { type: 'Affine', features: this.features };
  }
  protected forwardImpl(x: Tensor): Tensor {
    const f = this.features;
    if (x.shape.length !== 2 || x.shape[1] !== f) throw new RangeError(`Affine: input of shape [${x.shape}] needs ${f} features`);
    const y = Tensor.zerosLike(x);
    for (let i = 0; i < x.size; i++) y.data[i] = x.data[i]! * this.scale.data.data[i % f]! + this.shift.data[i % f]!;
    if (this.training) {
      this.count.data[0]! += 1;
      for (let i = 0; i < x.size; i++) this.shift.data[i % f]! += (0.1 * x.data[i]!) / x.shape[0]!;
    }
    return y;
  }
  protected backwardImpl(g: Tensor, x: Tensor): Tensor {
    const f = this.features;
    const dx = Tensor.zerosLike(x);
    for (let i = 0; i < x.size; i++) {
      dx.data[i] = g.data[i]! * this.scale.data.data[i % f]!;
      this.scale.grad.data[i % f]! += g.data[i]! * x.data[i]!;
    }
    return dx;
  }
}

const model = () => new nn.Sequential(new nn.PReLU({ numParameters: 3 }), new nn.Sequential(new nn.LeakyReLU({ negativeSlope: 0.2 }), new Affine(3)), new nn.Flatten());

/** Every tensor of the model (parameters, their gradients, buffers) as plain numbers. */
const snapshot = (m: nn.Module) => ({
  params: m.namedParameters().map(([k, p]) => [k, [...p.data.data], [...p.grad.data]]),
  buffers: m.namedBuffers().map(([k, b]) => [k, [...b.data]]),
});

describe('Sequential', () => {
  it("names children by index, nested ones with PyTorch's dotted paths", () => {
    const m = model();
    expect(m.length).toBe(3);
    expect(m.namedParameters().map(([k]) => k)).toEqual(['0.weight', '1.1.weight', '1.1.act.weight']);
    expect(m.namedBuffers().map(([k]) => k)).toEqual(['1.1.running_mean', '1.1.num_batches_tracked']);
    expect(m.namedModules().map(([k, c]) => `${k}:${c.kind}`)).toEqual(['Sequential', '0:PReLU', '1:Sequential', '1.0:LeakyReLU', '1.1:Affine', '1.1.act:PReLU', '2:Flatten'].map((s) => (s.startsWith('Sequential') ? `:${s}` : s)));
    expect(m.parameters()).toHaveLength(3);
    expect(m.at(0).kind).toBe('PReLU');
    expect(m.at(-1).kind).toBe('Flatten');
    expect((m.at(1) as nn.Sequential).at(1)).toBeInstanceOf(Affine);
    expect([...m].map((c) => c.kind)).toEqual(['PReLU', 'Sequential', 'Flatten']);
    expect(() => m.at(3)).toThrow(RangeError);
    expect(() => m.at(-4)).toThrow(/index -4 is out of range for 3 layers/);
    expect(() => m.at(1.5)).toThrow(TypeError);
    expect(() => new nn.Sequential(new nn.ReLU(), {} as nn.Module)).toThrow(/argument 1 is not a Module/);
    expect(new nn.Sequential().append(new nn.ReLU()).namedChildren().map(([k]) => k)).toEqual(['0']);
    const relu = new nn.ReLU();
    expect(() => new nn.Sequential(relu, new nn.PReLU(), relu)).toThrow(/the ReLU at "2" is the same instance as the one at "0"/);
    const inner = new nn.Sequential(new nn.PReLU());
    expect(() => new nn.Sequential(inner.at(0), inner)).toThrow(/the PReLU at "1.0" is the same instance as the one at "0"/);
    const outer = new nn.Sequential(new nn.ReLU());
    expect(() => outer.append(outer)).toThrow(TypeError);
    expect(outer.length).toBe(1);
  });

  it('train, eval and zeroGrad reach every child', () => {
    const m = model();
    m.eval();
    expect(m.namedModules().every(([, c]) => !c.training)).toBe(true);
    m.train();
    expect(m.namedModules().every(([, c]) => c.training)).toBe(true);
    for (const p of m.parameters()) p.grad.data.fill(3);
    m.zeroGrad();
    expect(m.parameters().every((p) => p.grad.data.every((v) => v === 0))).toBe(true);
  });

  it('an empty Sequential is the identity', () => {
    const x = Tensor.from([1, -2], [2]);
    const m = new nn.Sequential();
    expect([...m.forward(x).data]).toEqual([1, -2]);
    expect([...m.backward(Tensor.from([3, 4], [2])).data]).toEqual([3, 4]);
  });

  it('backward after a forward that failed part-way is an Error', () => {
    const m = new nn.Sequential(new nn.ReLU(), new nn.PReLU({ numParameters: 2 }));
    m.forward(Tensor.zeros([3, 2]));
    expect(() => m.forward(Tensor.zeros([3, 5]))).toThrow(RangeError);
    expect(() => m.backward(Tensor.zeros([3, 2]))).toThrow(/failed part-way/);
    m.forward(Tensor.zeros([3, 2]));
    expect(m.backward(Tensor.zeros([3, 2])).shape).toEqual([3, 2]);
  });
});

describeEachBackend('Sequential forward and backward', () => {
  it('chain the children: forward in order, backward in reverse', () => {
    const [a, b, c] = [new nn.PReLU({ numParameters: 4, init: 0.1 }), new nn.LeakyReLU({ negativeSlope: 0.3 }), new nn.PReLU({ init: -0.5 })];
    const [a2, b2, c2] = [new nn.PReLU({ numParameters: 4, init: 0.1 }), new nn.LeakyReLU({ negativeSlope: 0.3 }), new nn.PReLU({ init: -0.5 })];
    const seq = new nn.Sequential(a, new nn.Sequential(b, c));
    const x = randomTensor([5, 4, 3], 1);
    const g = randomTensor([5, 4, 3], 2);
    const y = seq.forward(x);
    const want = c2.forward(b2.forward(a2.forward(x)));
    expect([...y.data]).toEqual([...want.data]);
    const dx = seq.backward(g);
    const wantDx = a2.backward(b2.backward(c2.backward(g)));
    expect([...dx.data]).toEqual([...wantDx.data]);
    expect([...a.weight.grad.data]).toEqual([...a2.weight.grad.data]);
    expect([...c.weight.grad.data]).toEqual([...c2.weight.grad.data]);
  });

  it('passes a finite-difference gradient check', () => {
    const m = new nn.Sequential(new nn.PReLU({ numParameters: 3, init: 0.2 }), new nn.Sequential(new nn.Flatten(), new nn.PReLU({ init: 0.6 })));
    gradcheck(m, awayFromZero([2, 3, 2], 4));
  });

  it("loads PyTorch's weights from its safetensors file and gives PyTorch's output", () => {
    const f = JSON.parse(readFileSync(new URL('./fixtures/safetensors.json', import.meta.url), 'utf8')).preluModel;
    const m = nn.Sequential.fromConfig(f.config);
    m.loadStateDict(io.loadSafetensors(fileURLToPath(new URL('./fixtures/safetensors/prelu_model.safetensors', import.meta.url))));
    expectClose(m.forward(Tensor.from(f.input.data, f.input.shape)), f.output, 'output', { atol: 0, rtol: 0 });
  });
});

describe('stateDict and loadStateDict', () => {
  it("have PyTorch's keys and order: own parameters, own buffers, then children", () => {
    const m = model();
    expect(Object.keys(m.stateDict())).toEqual(['0.weight', '1.1.weight', '1.1.running_mean', '1.1.num_batches_tracked', '1.1.act.weight']);
    expect(m.stateDict()['1.1.num_batches_tracked']!.shape).toEqual([]);
  });

  it('stateDict is a copy: later training does not change it', () => {
    const m = model();
    const sd = m.stateDict();
    m.forward(randomTensor([4, 3], 3));
    m.parameters()[0]!.data.data[0] = 9;
    expect(sd['0.weight']!.data[0]).toBe(0.25);
    expect(sd['1.1.num_batches_tracked']!.data[0]).toBe(0);
    expect(m.stateDict()['1.1.num_batches_tracked']!.data[0]).toBe(1);
    sd['1.1.weight']!.data[0] = -7;
    expect(m.stateDict()['1.1.weight']!.data[0]).toBe(1.5);
  });

  it('round-trips between models, in place, buffers included', () => {
    const a = model();
    a.forward(randomTensor([4, 3], 5));
    a.parameters().forEach((p, i) => p.data.data.fill(i + 0.5));
    const b = model();
    const tensorsBefore = [...b.namedParameters().map(([, p]) => p.data), ...b.namedBuffers().map(([, t]) => t)];
    expect(b.loadStateDict(a.stateDict())).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(snapshot(b).buffers).toEqual(snapshot(a).buffers);
    expect(b.namedParameters().map(([k, p]) => [k, [...p.data.data]])).toEqual(a.namedParameters().map(([k, p]) => [k, [...p.data.data]]));
    expect([...b.namedParameters().map(([, p]) => p.data), ...b.namedBuffers().map(([, t]) => t)]).toEqual(tensorsBefore);
    expect(b.namedParameters()[0]![1].data).toBe(tensorsBefore[0]);
    // Through a file too.
    const c = model();
    c.loadStateDict(io.parseSafetensors(io.serializeSafetensors(a.stateDict())).tensors);
    expect(snapshot(c)).toEqual(snapshot(b));
  });

  it('lists every missing, unexpected and mis-shaped key, and loads nothing', () => {
    const m = model();
    m.forward(randomTensor([2, 3], 6));
    m.backward(randomTensor([2, 3], 7));
    const before = snapshot(m);
    const good = model().stateDict();
    for (const t of Object.values(good)) t.data.fill(42);
    const { ['1.1.running_mean']: _gone, ...withoutMean } = good;
    const bad = { ...withoutMean, '3.weight': Tensor.zeros([1]), '1.1.act.weight': Tensor.zeros([2]), '0.weight': 'x' as unknown as Tensor };
    let message = '';
    try {
      m.loadStateDict(bad);
    } catch (e) {
      expect(e).toBeInstanceOf(Error);
      message = (e as Error).message;
    }
    expect(message).toBe(
      'Sequential.loadStateDict: missing key "1.1.running_mean"; unexpected key "3.weight"; "0.weight" is not a Tensor; "1.1.act.weight" has shape [2] in the state dict but [1] in the model; nothing was loaded',
    );
    // "1.1.weight" and "1.1.num_batches_tracked" were fine, but were not copied either.
    expect(snapshot(m)).toEqual(before);
  });

  it('each problem alone is an Error naming the key, with no partial load', () => {
    const cases: [string, (sd: Record<string, Tensor>) => void, RegExp][] = [
      ['missing', (sd) => delete sd['1.1.act.weight'], /missing key "1.1.act.weight"/],
      ['unexpected', (sd) => (sd['1.1.running_var'] = Tensor.zeros([3])), /unexpected key "1.1.running_var"/],
      ['mis-shaped', (sd) => (sd['1.1.num_batches_tracked'] = Tensor.zeros([1])), /"1.1.num_batches_tracked" has shape \[1\] in the state dict but \[\] in the model/],
      ['detached', (sd) => structuredClone(sd['1.1.weight']!.data.buffer, { transfer: [sd['1.1.weight']!.data.buffer as ArrayBuffer] }), /"1.1.weight" can no longer be used/],
    ];
    for (const [what, spoil, message] of cases) {
      const m = model();
      const before = snapshot(m);
      const sd = model().stateDict();
      for (const t of Object.values(sd)) t.data.fill(-1);
      spoil(sd);
      expect(() => m.loadStateDict(sd), what).toThrow(message);
      expect(snapshot(m), what).toEqual(before);
    }
    expect(() => model().loadStateDict(null as unknown as Record<string, Tensor>)).toThrow(TypeError);
  });

  it('strict: false loads what matches and reports the rest', () => {
    const m = model();
    const sd = model().stateDict();
    sd['0.weight']!.data.fill(0.5);
    delete sd['1.1.weight'];
    sd.extra = Tensor.zeros([1]);
    expect(m.loadStateDict(sd, { strict: false })).toEqual({ missingKeys: ['1.1.weight'], unexpectedKeys: ['extra'] });
    expect([...m.at(0).parameters()[0]!.data.data]).toEqual([0.5, 0.5, 0.5]);
    sd['0.weight'] = Tensor.zeros([2]);
    expect(() => m.loadStateDict(sd, { strict: false })).toThrow(/"0.weight" has shape \[2\]/);
  });
});

/**
 * Test-only stand-ins with the parameter and buffer names and shapes of torch.nn.Linear and
 * BatchNorm1d (their real liven versions come with other issues): enough to load PyTorch's
 * state dict of `Sequential(Linear(4, 3), BatchNorm1d(3), ReLU(), Sequential(Linear(3, 2), PReLU()))`.
 */
class Holder extends nn.Module {
  constructor(params: [string, number[]][], buffers: [string, number[]][] = []) {
    super();
    for (const [name, shape] of params) this.registerParameter(name, new nn.Parameter(Tensor.zeros(shape)));
    for (const [name, shape] of buffers) this.registerBuffer(name, Tensor.zeros(shape));
  }
  toConfig(): nn.ModuleConfig {
    return { type: 'Holder' };
  }
  protected forwardImpl(x: Tensor): Tensor {
    return x;
  }
  protected backwardImpl(g: Tensor): Tensor {
    return g;
  }
}

describe("PyTorch's BatchNorm state dict", () => {
  it('loads with strict keys, in the same order, int64 num_batches_tracked into a [] buffer', () => {
    const linear = (i: number, o: number) => new Holder([['weight', [o, i]], ['bias', [o]]]);
    const bn = new Holder([['weight', [3]], ['bias', [3]]], [['running_mean', [3]], ['running_var', [3]], ['num_batches_tracked', []]]);
    const m = new nn.Sequential(linear(4, 3), bn, new nn.ReLU(), new nn.Sequential(linear(3, 2), new nn.PReLU()));
    const fixture = JSON.parse(readFileSync(new URL('./fixtures/safetensors.json', import.meta.url), 'utf8')).sequentialBn;
    const loaded = io.loadSafetensors(fileURLToPath(new URL('./fixtures/safetensors/sequential_bn.safetensors', import.meta.url)));
    expect(m.loadStateDict(loaded)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    // PyTorch's state_dict() order, as the fixture script recorded it.
    expect(Object.keys(m.stateDict())).toEqual(Object.keys(fixture.tensors));
    expect(m.stateDict()['1.num_batches_tracked']!.data[0]).toBe(3);
    for (const [key, t] of Object.entries(m.stateDict())) {
      expect([...new Uint32Array(t.data.buffer)], key).toEqual(fixture.tensors[key].bits);
    }
  });
});

describe('toConfig and fromConfig', () => {
  const config = {
    type: 'Sequential',
    layers: [
      { type: 'PReLU', numParameters: 3, init: 0.1 },
      { type: 'Sequential', layers: [{ type: 'LeakyReLU', negativeSlope: 0.2 }, { type: 'ReLU' }, { type: 'Sequential', layers: [] }] },
      { type: 'Flatten', startDim: 1, endDim: -1 },
    ],
  };

  it('round-trip a nested model through JSON', () => {
    const m = nn.Sequential.fromConfig(JSON.parse(JSON.stringify(config)));
    expect(m.toConfig()).toEqual(config);
    expect(nn.Sequential.fromConfig(m.toConfig()).toConfig()).toEqual(config);
    expect(nn.moduleFromConfig(config)).toBeInstanceOf(nn.Sequential);
    expect(nn.moduleFromConfig({ type: 'LeakyReLU', negativeSlope: 0.5 })).toBeInstanceOf(nn.LeakyReLU);
    expect(nn.Sequential.fromConfig({ type: 'Sequential', layers: [] }).length).toBe(0);
  });

  it("registers every nn class with its own static fromConfig", () => {
    expect(nn.configTypes()).toEqual(expect.arrayContaining(['Flatten', 'LeakyReLU', 'PReLU', 'ReLU', 'Sequential']));
    expect(nn.configTypes()).not.toContain('Module');
    expect(nn.configTypes()).not.toContain('Parameter');
  });

  it("name the layer's path in errors, keeping the error's class", () => {
    const bad = (layers: unknown[]) => ({ type: 'Sequential', layers });
    expect(() => nn.Sequential.fromConfig(bad([{ type: 'ReLU' }, { type: 'Conv9d' }]))).toThrow(/^Sequential\.fromConfig: layer 1 \(Conv9d\): unknown layer type "Conv9d"; the known types are .*PReLU/);
    expect(() => nn.Sequential.fromConfig(bad([{ type: 'ReLU' }, bad([{ type: 'ReLU' }, { type: 'PReLU', numParameters: 0 }])]))).toThrow(/^Sequential\.fromConfig: layer 1\.1 \(PReLU\): PReLU numParameters must be a positive integer, got 0/);
    expect(() => nn.Sequential.fromConfig(bad([{ type: 'PReLU', numParameters: 0 }]))).toThrow(RangeError);
    expect(() => nn.Sequential.fromConfig(bad([{ type: 'LeakyReLU', slope: 1 }]))).toThrow(/layer 0 \(LeakyReLU\): LeakyReLU has no argument "slope"/);
    expect(() => nn.Sequential.fromConfig(bad([{ type: 'LeakyReLU', negativeSlope: 'x' }]))).toThrow(TypeError);
    expect(() => nn.Sequential.fromConfig(bad([null]))).toThrow(/layer 0: a layer config must be an object/);
    expect(() => nn.Sequential.fromConfig(bad([{ negativeSlope: 1 }]))).toThrow(/layer 0: a layer config needs a string "type"/);
    expect(() => nn.Sequential.fromConfig(bad([{ type: 'ReLU' }, { type: 'Sequential', layers: 3 }]))).toThrow(/layer 1: "layers" must be an array/);
    expect(() => nn.Sequential.fromConfig({ type: 'Sequential', layers: [], name: 'x' })).toThrow(/Sequential has no argument "name"/);
    expect(() => nn.Sequential.fromConfig({ type: 'ReLU' })).toThrow(/expected a config of type Sequential, got "ReLU"/);
    expect(() => nn.moduleFromConfig({ type: 'Module' })).toThrow(/unknown layer type "Module"/);
    expect(() => nn.moduleFromConfig({ type: '__proto__' })).toThrow(/unknown layer type/);
    expect(() => nn.Sequential.fromConfig(bad([{ type: 'Affine', features: 3 }]))).toThrow(/unknown layer type "Affine"/);
    // A test-only module's config is its own business; it is not registered.
    expect(model().toConfig().layers).toHaveLength(3);
  });
});
