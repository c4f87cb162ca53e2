import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor, diag, init, manualSeed, nn, optim } from '../src/index.js';
import { describeEachBackend } from './helpers/backends.js';
import { randomTensor } from './helpers/numeric.js';

type State = Record<string, Tensor>;

/** What a recycle is expected to write, by state-dict key: flat index → value. */
type Expected = Record<string, Map<number, number>>;

/** Every entry of `after` equals `before` bit for bit, except those in `expected`, which hold exactly its values. */
function expectOnly(before: State, after: State, expected: Expected): void {
  expect(Object.keys(after)).toEqual(Object.keys(before));
  for (const key of Object.keys(before)) {
    const b = before[key]!.data;
    const a = after[key]!.data;
    const want = expected[key] ?? new Map<number, number>();
    for (let i = 0; i < a.length; i++) {
      const v = want.has(i) ? Math.fround(want.get(i)!) : b[i]!;
      if (!Object.is(a[i], v)) throw new Error(`${key}[${i}] is ${a[i]}, expected ${v}${want.has(i) ? ' (recycled)' : ' (untouched)'}`);
    }
  }
}

/** The draws the recycle makes after `manualSeed(seed)`: one kaiming_uniform(a = √5) row per unit, in order. */
function freshRows(seed: number, rowShape: number[], units: number): Float32Array[] {
  manualSeed(seed);
  return Array.from({ length: units }, () => init.kaimingUniform(Tensor.zeros([1, ...rowShape]), { a: Math.sqrt(5) }).data.slice());
}

function add(e: Expected, key: string, entries: Iterable<[number, number]>): void {
  const m = (e[key] ??= new Map());
  for (const [i, v] of entries) m.set(i, v);
}

/** Rows `units` of a tensor whose dimension 0 is the unit, set to `rows` (one per unit). */
function rowsOf(t: Tensor, units: number[], rows: Float32Array[]): [number, number][] {
  const len = t.size / t.shape[0]!;
  return units.flatMap((u, k) => Array.from({ length: len }, (_, i) => [u * len + i, rows[k]![i]!] as [number, number]));
}

function constant(units: number[], value: number): [number, number][] {
  return units.map((u) => [u, value]);
}

/** One training step with `opt`, so that its state exists and is non-zero. */
function trainStep(model: nn.Module, x: Tensor, opt: optim.Optimizer): void {
  opt.zeroGrad();
  const y = model.forward(x);
  model.backward(randomTensor([...y.shape], 99));
  opt.step();
}

describeEachBackend('diag.recycleDormant', () => {
  it('Linear → ReLU → Linear: fresh incoming row, bias 0, outgoing column 0, SGD momentum reset for exactly those entries', () => {
    const model = new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU(), new nn.Linear(4, 2));
    const fc1 = model.at(0) as nn.Linear;
    const fc2 = model.at(2) as nn.Linear;
    // On inputs in [-1, 1] (|w·x| < √3), unit 1 never fires: it is dead; the others always do.
    fc1.bias!.data.data.set([5, -100, 5, 5]);
    const x = randomTensor([8, 3], 1);
    const opt = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    trainStep(model, x, opt);
    const mon = new diag.ActivationMonitor(model);
    model.forward(x);
    expect([...mon.unitReport('1').dead]).toEqual([0, 1, 0, 0]);
    const before = model.stateDict();
    const momentum = model.parameters().map((p) => opt.momentumBuffer(p)!.slice());
    manualSeed(5);
    expect(diag.recycleDormant(model, mon, { tau: 0, optimizer: opt })).toBe(1);
    const rows = freshRows(5, [3], 1);
    // kaiming_uniform(a = √5) on a fan-in of 3 draws from U(±1/√3).
    for (const v of rows[0]!) expect(Math.abs(v)).toBeLessThanOrEqual(1 / Math.sqrt(3));
    const e: Expected = {};
    add(e, '0.weight', rowsOf(fc1.weight.data, [1], rows));
    add(e, '0.bias', constant([1], 0));
    add(e, '2.weight', [[1, 0], [5, 0]]); // column 1 of the [2, 4] weight
    expectOnly(before, model.stateDict(), e);
    // The momentum buffers: zero exactly where the weights were written.
    const written = [[3, 4, 5], [1], [1, 5], []];
    model.parameters().forEach((p, i) => {
      const buf = opt.momentumBuffer(p)!;
      for (let j = 0; j < buf.length; j++) expect(buf[j]).toBe(written[i]!.includes(j) ? 0 : momentum[i]![j]);
    });
    expect(fc2.weight.data.data[1]).toBe(0);
  });

  it('Conv2d → BatchNorm2d → ReLU → Conv2d: the channel\'s filter, its norm weight / bias / running stats, the next conv\'s input channel; Adam moments reset', () => {
    const conv1 = new nn.Conv2d(1, 3, 3, { padding: 1 });
    const bn = new nn.BatchNorm2d(3);
    const conv2 = new nn.Conv2d(3, 2, 1);
    const model = new nn.Sequential(conv1, bn, new nn.ReLU(), conv2);
    const x = randomTensor([4, 1, 5, 5], 2);
    const opt = new optim.Adam(model.parameters(), { lr: 0.01 });
    trainStep(model, x, opt);
    bn.bias!.data.data[2] = -100; // channel 2 dead after the norm
    const mon = new diag.ActivationMonitor(model);
    model.forward(x);
    expect([...mon.unitReport('2').dead]).toEqual([0, 0, 1]);
    const before = model.stateDict();
    const moments = model.parameters().map((p) => [opt.state(p)!.expAvg.slice(), opt.state(p)!.expAvgSq.slice()]);
    manualSeed(6);
    expect(diag.recycleDormant(model, mon, { tau: 0, optimizer: opt })).toBe(1);
    const rows = freshRows(6, [1, 3, 3], 1);
    const e: Expected = {};
    add(e, '0.weight', rowsOf(conv1.weight.data, [2], rows));
    add(e, '0.bias', constant([2], 0));
    add(e, '1.weight', constant([2], 1));
    add(e, '1.bias', constant([2], 0));
    add(e, '1.running_mean', constant([2], 0));
    add(e, '1.running_var', constant([2], 1));
    add(e, '3.weight', [[2, 0], [5, 0]]); // weight [2, 3, 1, 1]: input channel 2 of both outputs
    expectOnly(before, model.stateDict(), e);
    const written = [[18, 19, 20, 21, 22, 23, 24, 25, 26], [2], [2], [2], [2, 5], []];
    model.parameters().forEach((p, i) => {
      const s = opt.state(p)!;
      for (let j = 0; j < s.expAvg.length; j++) {
        expect(s.expAvg[j]).toBe(written[i]!.includes(j) ? 0 : moments[i]![0]![j]);
        expect(s.expAvgSq[j]).toBe(written[i]!.includes(j) ? 0 : moments[i]![1]![j]);
      }
    });
  });

  it('Conv2d → ReLU → MaxPool2d → Flatten → Linear: a channel\'s outgoing weights are its block of H·W columns; Adagrad sums back to their initial value', () => {
    const conv = new nn.Conv2d(1, 2, 3, { padding: 1 });
    const fc = new nn.Linear(8, 3);
    const model = new nn.Sequential(conv, new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), fc);
    const x = randomTensor([3, 1, 4, 4], 3);
    const opt = new optim.Adagrad(model.parameters(), { lr: 0.1, initialAccumulatorValue: 0.5 });
    trainStep(model, x, opt);
    conv.bias!.data.data.set([-100, 5]);
    const mon = new diag.ActivationMonitor(model);
    model.forward(x);
    const before = model.stateDict();
    manualSeed(7);
    expect(diag.recycleDormant(model, mon, { tau: 0, optimizer: opt })).toBe(1);
    const rows = freshRows(7, [1, 3, 3], 1);
    const e: Expected = {};
    add(e, '0.weight', rowsOf(conv.weight.data, [0], rows));
    add(e, '0.bias', constant([0], 0));
    // [N, 2, 2, 2] flattened: channel 0 is columns 0..3 of every row of the [3, 8] weight.
    add(e, '4.weight', [0, 1, 2].flatMap((o) => [0, 1, 2, 3].map((c) => [o * 8 + c, 0] as [number, number])));
    expectOnly(before, model.stateDict(), e);
    expect([...opt.state(fc.weight)!.sum].map((v, i) => (i % 8 < 4 ? v === 0.5 : v > 0.5))).toEqual(Array(24).fill(true));
    expect(opt.state(conv.bias!)!.sum[0]).toBe(0.5);
    expect(opt.state(conv.bias!)!.sum[1]).toBeGreaterThan(0.5);
  });

  it('nn.Graph: finds producer and consumer by walking the nodes, also in a nested Sequential; the network computes the same function right after', () => {
    const g = new nn.Graph();
    const fc1 = new nn.Linear(4, 5);
    const fc2 = new nn.Linear(5, 3);
    g.node('fc1', fc1, 'input');
    g.node('act', new nn.ReLU(), 'fc1');
    g.node('fc2', fc2, 'act');
    g.node('block', new nn.Sequential(new nn.Linear(3, 3), new nn.ReLU(), new nn.Linear(3, 2)), 'fc2');
    g.output('block');
    // Unit 3 of fc1 and unit 0 of block.0 dead, the others alive on every input.
    fc1.bias!.data.data.set([5, 5, 5, -100, 5]);
    ((g.at('block') as nn.Sequential).at(0) as nn.Linear).bias!.data.data.set([-100, 100, 100]);
    const x = randomTensor([6, 4], 4);
    const mon = new diag.ActivationMonitor(g);
    expect(mon.layers).toEqual(['act', 'block.1']);
    const y = g.forward(x).data.slice();
    const before = g.stateDict();
    manualSeed(8);
    expect(diag.recycleDormant(g, mon, { tau: 0 })).toBe(2);
    // The draws in order: fc1's unit 3 (fan-in 4), then block.0's unit 0 (fan-in 3).
    manualSeed(8);
    const rows = [init.kaimingUniform(Tensor.zeros([1, 4]), { a: Math.sqrt(5) }).data.slice()];
    const inner = init.kaimingUniform(Tensor.zeros([1, 3]), { a: Math.sqrt(5) }).data;
    const e: Expected = {};
    add(e, 'fc1.weight', rowsOf(fc1.weight.data, [3], rows));
    add(e, 'fc1.bias', constant([3], 0));
    add(e, 'fc2.weight', [0, 1, 2].map((o) => [o * 5 + 3, 0] as [number, number]));
    add(e, 'block.0.weight', [0, 1, 2].map((i) => [i, inner[i]!] as [number, number]));
    add(e, 'block.0.bias', constant([0], 0));
    add(e, 'block.2.weight', [0, 1].map((o) => [o * 3, 0] as [number, number]));
    expectOnly(before, g.stateDict(), e);
    // A dead ReLU unit gave 0 before; with zero outgoing weights it adds 0 after: the same function.
    expect([...g.forward(x).data]).toEqual([...y]);
  });

  it('a layer that is both consumer and producer: the outgoing zeros are written after the fresh row', () => {
    const model = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU(), new nn.Linear(3, 3), new nn.ReLU(), new nn.Linear(3, 1));
    (model.at(0) as nn.Linear).bias!.data.data.set([-100, 5, 5]);
    (model.at(2) as nn.Linear).bias!.data.data.set([50, 50, -100]);
    const mon = new diag.ActivationMonitor(model);
    model.forward(randomTensor([5, 2], 5));
    manualSeed(9);
    expect(diag.recycleDormant(model, mon, { tau: 0 })).toBe(2);
    const w = (model.at(2) as nn.Linear).weight.data.data;
    expect(w[2 * 3 + 0]).toBe(0); // row 2 (fresh) at column 0 (zeroed: unit 0 of the first layer)
    expect(w[2 * 3 + 1]).not.toBe(0);
  });

  it('property: only the chosen units\' rows, biases and outgoing columns change, whatever the sizes and the dormant set', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 5 }), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), fc.double({ min: 0, max: 0.5, noNaN: true }), fc.integer({ min: 0, max: 1000 }), (inF, hidden, outF, kill, tau, seed) => {
        const fc1 = new nn.Linear(inF, hidden);
        const fc2 = new nn.Linear(hidden, outF);
        const model = new nn.Sequential(fc1, new nn.ReLU(), fc2);
        for (let u = 0; u < hidden; u++) if (kill[u]) fc1.bias!.data.data[u] = -100;
        const mon = new diag.ActivationMonitor(model);
        model.forward(randomTensor([4, inF], seed));
        const r = mon.unitReport('1');
        const chosen = [...r.dead.keys()].filter((u) => r.dead[u] === 1 || r.dormancyScore[u]! <= tau);
        const before = model.stateDict();
        manualSeed(seed);
        expect(diag.recycleDormant(model, mon, { tau })).toBe(chosen.length);
        const e: Expected = {};
        add(e, '0.weight', rowsOf(fc1.weight.data, chosen, freshRows(seed, [inF], chosen.length)));
        add(e, '0.bias', constant(chosen, 0));
        add(e, '2.weight', chosen.flatMap((u) => Array.from({ length: outF }, (_, o) => [o * hidden + u, 0] as [number, number])));
        expectOnly(before, model.stateDict(), e);
      }),
      { numRuns: 60 },
    );
  });
});

describe('diag.recycleDormant: what it cannot recycle is an Error naming the layer, and nothing changes', () => {
  /** Runs a forward, then expects recycleDormant to throw `pattern` and leave every weight alone. */
  function expectRefused(model: nn.AnyModule, x: Tensor, pattern: RegExp, options: diag.RecycleOptions = {}): void {
    const mon = new diag.ActivationMonitor(model as nn.Module);
    (model as nn.Module).forward(x);
    for (const l of mon.layers) mon.unitReport(l); // every layer saw the forward
    const before = (model as nn.Module).stateDict();
    expect(() => diag.recycleDormant(model as nn.Module, mon, { tau: 1, ...options })).toThrow(pattern);
    expectOnly(before, (model as nn.Module).stateDict(), {});
  }
  const x = randomTensor([4, 3], 11);

  it('a residual sum (nn.Add), a concatenation (nn.Cat), fan-out', () => {
    const res = new nn.Graph();
    res.node('fc', new nn.Linear(3, 3), 'input').node('act', new nn.ReLU(), 'fc').node('sum', new nn.Add(), ['act', 'input']).node('out', new nn.Linear(3, 2), 'sum').output('out');
    expectRefused(res, x, /cannot recycle layer "act" \(ReLU\): the output of "act" goes into "sum" \(Add\), which combines 2 inputs/);
    const cat = new nn.Graph();
    cat.node('fc', new nn.Linear(3, 3), 'input').node('act', new nn.ReLU(), 'fc').node('cat', new nn.Cat(), ['act', 'input']).node('out', new nn.Linear(6, 2), 'cat').output('out');
    expectRefused(cat, x, /layer "act".*"cat" \(Cat\), which combines 2 inputs/);
    const fan = new nn.Graph();
    fan.node('fc', new nn.Linear(3, 3), 'input').node('act', new nn.ReLU(), 'fc').node('a', new nn.Linear(3, 2), 'act').node('b', new nn.Linear(3, 2), 'act').node('sum', new nn.Add(), ['a', 'b']).output('sum');
    expectRefused(fan, x, /layer "act".*fans out to "a" \(Linear\), "b" \(Linear\)/);
    const shared = new nn.Graph();
    shared.node('fc', new nn.Linear(3, 3), 'input').node('act', new nn.ReLU(), 'fc').node('out', new nn.Linear(3, 3), 'act').node('sum', new nn.Add(), ['out', 'fc']).output('sum');
    expectRefused(shared, x, /layer "act".*the output of "fc" fans out/);
  });

  it('no Linear / Conv2d before or after, a graph output, a nested producer; the layers option leaves such a layer out', () => {
    expectRefused(new nn.Sequential(new nn.ReLU(), new nn.Linear(3, 2)), x, /layer "0".*takes the graph's input "input"/);
    expectRefused(new nn.Sequential(new nn.Linear(3, 2), new nn.ReLU()), x, /layer "1".*is an output of the graph/);
    expectRefused(new nn.Sequential(new nn.Linear(3, 3), new nn.ReLU(), new nn.Softmax(), new nn.Linear(3, 2)), x, /layer "1".*"2" \(Softmax\), not a Linear or Conv2d/);
    expectRefused(new nn.Sequential(new nn.Sequential(new nn.Linear(3, 3)), new nn.ReLU(), new nn.Linear(3, 2)), x, /layer "1".*"0" \(Sequential\), not a Linear or Conv2d/);
    expectRefused(new nn.Sequential(new nn.Linear(3, 3), new nn.LayerNorm(3), new nn.ReLU(), new nn.Linear(3, 2)), x, /layer "2".*"1" \(LayerNorm\)/);
    // A Linear right after a conv acts on the width, not the channels, even when the sizes agree.
    expectRefused(new nn.Sequential(new nn.Conv2d(1, 3, 3), new nn.ReLU(), new nn.Linear(3, 2)), randomTensor([2, 1, 5, 5], 12), /layer "1".*"2" \(Linear\) would act on the last dimension/);
    const ok = new nn.Sequential(new nn.Linear(3, 3), new nn.ReLU(), new nn.Linear(3, 3), new nn.ReLU());
    const mon = new diag.ActivationMonitor(ok);
    ok.forward(x);
    expect(() => diag.recycleDormant(ok, mon)).toThrow(/layer "3"/);
    expect(diag.recycleDormant(ok, mon, { layers: ['1'], tau: 100 })).toBe(3);
  });

  it('bad arguments, a window without a forward, another model\'s monitor', () => {
    const model = new nn.Sequential(new nn.Linear(3, 3), new nn.ReLU(), new nn.Linear(3, 2));
    const mon = new diag.ActivationMonitor(model);
    expect(() => diag.recycleDormant(model, mon)).toThrow(/no forward reached layer "1"/);
    expect(() => diag.recycleDormant({} as never, mon)).toThrow(TypeError);
    expect(() => diag.recycleDormant(model, {} as never)).toThrow(TypeError);
    model.forward(x);
    expect(() => diag.recycleDormant(model, mon, { tau: -1 })).toThrow(RangeError);
    expect(() => diag.recycleDormant(model, mon, { tau: '1' as never })).toThrow(TypeError);
    expect(() => diag.recycleDormant(model, mon, { optimizer: {} as never })).toThrow(/optimizer must be/);
    expect(() => diag.recycleDormant(model, mon, { layers: ['9'] })).toThrow(/no watched layer "9"/);
    const twin = new nn.Sequential(new nn.Linear(3, 3), new nn.ReLU(), new nn.Linear(3, 2));
    expect(() => diag.recycleDormant(twin, mon)).toThrow(/not in this model/);
  });
});
