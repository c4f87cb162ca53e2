import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, diag, getNumThreads, nn, setNumThreads } from '../src/index.js';
import { native } from '../src/backend/index.js';
import { jsKernels } from '../src/backend/js/index.js';
import { HIST_BINS } from '../src/backend/js/stats.js';
import { describeEachBackend } from './helpers/backends.js';
import { Chain, Offset, trainDyingMlp } from './helpers/diag-models.js';
import { randomTensor } from './helpers/numeric.js';

/** Rows of a [N, F] tensor given as arrays per sample. */
function rows(data: number[][]): Tensor {
  return Tensor.from(data.flat(), [data.length, data[0]!.length]);
}

/** The window statistics of `outputs` computed directly, in float64 (an independent oracle). */
function direct(outputs: Float32Array[]): { mean: number; meanAbs: number; std: number; min: number; max: number; zeroFraction: number } {
  const all = outputs.flatMap((o) => [...o]);
  const n = all.length;
  const mean = all.reduce((a, b) => a + b, 0) / n;
  const variance = all.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  const meanAbs = all.reduce((a, b) => a + Math.abs(b), 0) / n;
  return { mean, meanAbs, std: Math.sqrt(variance), min: Math.min(...all), max: Math.max(...all), zeroFraction: all.filter((v) => v === 0).length / n };
}

describeEachBackend('diag.deadUnits', () => {
  it('a unit at or below zero for every sample is dead; positive (or NaN) once is not', () => {
    const pre = rows([
      [-1, -2, 0, -1, -1],
      [-3, 5, -0, -1, NaN],
      [-1, -1, -2, -1e-30, -1],
    ]);
    const r = diag.deadUnits(pre);
    expect([...r.dead]).toEqual([1, 0, 1, 1, 0]);
    expect(r.count).toBe(3);
    expect(r.fraction).toBeCloseTo(0.6, 12);
  });

  it('channels are the units of a 4-D activation', () => {
    // [2, 3, 2, 2]: channel 0 negative everywhere, channel 1 positive at one position of sample 1, channel 2 zero.
    const x = Tensor.zeros([2, 3, 2, 2]);
    for (let n = 0; n < 2; n++) for (let p = 0; p < 4; p++) {
      x.data[n * 12 + p] = -0.5 - p;
      x.data[n * 12 + 4 + p] = n === 1 && p === 3 ? 1e-6 : -2;
    }
    const r = diag.deadUnits(x);
    expect([...r.dead]).toEqual([1, 0, 1]);
    expect(r.count).toBe(2);
  });

  it('rejects what is not a tensor or has no elements', () => {
    expect(() => diag.deadUnits([1, 2] as never)).toThrow(TypeError);
    expect(() => diag.deadUnits(Tensor.zeros([0, 3]))).toThrow(/\[0, 3\]/);
  });
});

describeEachBackend('diag.ActivationMonitor', () => {
  const nested = (): Chain =>
    new Chain(
      new Offset([-1, 0.5, 3, -2]),
      new nn.ReLU(),
      new Chain(new nn.LeakyReLU({ negativeSlope: 0.1 }), new nn.Flatten(), new Chain(new nn.PReLU({ numParameters: 4, init: -0.5 }))),
    );

  it('finds every activation at any depth, by path and kind', () => {
    const mon = new diag.ActivationMonitor(nested());
    expect(mon.layers).toEqual(['1', '2.0', '2.2.0']);
    const model = new nn.ReLU();
    expect(new diag.ActivationMonitor(model).layers).toEqual(['']);
  });

  it('reports dead units exactly on a nested model, in training and in eval mode', () => {
    const model = nested();
    const mon = new diag.ActivationMonitor(model);
    // Inputs in [0, 0.4): unit 0 (offset -1) and unit 3 (offset -2) stay negative: dead.
    const x1 = randomTensor([8, 4], 1, 0, 0.4);
    model.train().forward(x1);
    let r = mon.report();
    expect(r.map((l) => [l.layer, l.kind, l.units, l.dead])).toEqual([
      ['1', 'ReLU', 4, 2],
      // The LeakyReLU sees the ReLU's output: 0 for units 0 and 3, so they are dead there too.
      ['2.0', 'LeakyReLU', 4, 2],
      ['2.2.0', 'PReLU', 4, 2],
    ]);
    expect(r[0]!.deadFraction).toBe(0.5);
    expect(r[0]!.samples).toBe(8);
    // Eval mode is watched too: a batch where unit 0 goes positive once revives it in the window.
    const x2 = Tensor.zeros([2, 4]);
    x2.data[4] = 1.5;
    model.eval().forward(x2);
    r = mon.report();
    expect(r[0]!.dead).toBe(1);
    expect(r[0]!.samples).toBe(10);
    expect([...mon.unitReport('1').dead]).toEqual([0, 0, 0, 1]);
  });

  it('uses the pre-activation, not the output, for slopes that are not positive', () => {
    // A PReLU with slope -0.5 turns negative inputs into positive outputs: still dead.
    const model = new Chain(new nn.PReLU({ numParameters: 2, init: -0.5 }), new nn.LeakyReLU({ negativeSlope: -1 }));
    const mon = new diag.ActivationMonitor(model);
    model.forward(rows([[-1, 2], [-3, -1]]));
    expect([...mon.unitReport('0').dead]).toEqual([1, 0]);
    // The LeakyReLU's inputs are the PReLU's outputs [0.5, 2], [1.5, 0.5]: all positive.
    expect([...mon.unitReport('1').dead]).toEqual([0, 0]);
    const pre = new Chain(new nn.LeakyReLU({ negativeSlope: -1 }));
    const mon2 = new diag.ActivationMonitor(pre);
    pre.forward(rows([[-1, 2], [-3, -1]]));
    expect([...mon2.unitReport('0').dead]).toEqual([1, 0]);
  });

  it('nearly dead: alive, with the largest |output| strictly below the threshold', () => {
    const t = 2 ** -10;
    const model = new nn.ReLU();
    const mon = new diag.ActivationMonitor(model, { nearlyDeadThreshold: t });
    // Units: max |y| = t (not nearly dead), t/2 (nearly dead), dead, large.
    model.forward(rows([[t, t / 2, -1, 3], [0, t / 4, -2, 1]]));
    const u = mon.unitReport('');
    expect([...u.nearlyDead]).toEqual([0, 1, 0, 0]);
    expect([...u.dead]).toEqual([0, 0, 1, 0]);
    expect(mon.report()[0]!.nearlyDead).toBe(1);
    expect([...u.maxAbs]).toEqual([t, t / 2, 0, 3]);
  });

  it('dormant: mean |output| over the layer average at most τ, inclusive at the edge', () => {
    const model = new nn.ReLU();
    const mon = new diag.ActivationMonitor(model);
    // Layer average of the means: (1 + 53 · 3) / 4 = 40, so unit 0 scores 1/40 = 0.025 = τ.
    model.forward(rows([[1, 53, 53, 53]]));
    expect([...mon.unitReport('').dormancyScore]).toEqual([0.025, 53 / 40, 53 / 40, 53 / 40]);
    expect(mon.report()[0]!.dormant).toBe(1);
    mon.reset();
    // Unit 0 now scores 1.25/40.0625, just above 0.025... unless τ is raised to include it.
    model.forward(rows([[1.25, 53, 53, 53]]));
    expect(mon.report()[0]!.dormant).toBe(0);
    const wide = new diag.ActivationMonitor(model, { dormantThreshold: 0.1 });
    model.forward(rows([[1.25, 53, 53, 53]]));
    expect(wide.report()[0]!.dormant).toBe(1);
    // A layer whose outputs are all zero: every unit scores 0, every unit dormant (and dead).
    const zero = new nn.ReLU();
    const mz = new diag.ActivationMonitor(zero);
    zero.forward(rows([[-1, -2, 0]]));
    expect(mz.report()[0]).toMatchObject({ dead: 3, dormant: 3, zeroFraction: 1 });
  });

  it('channels are the units of 4-D activations: dead, nearly dead and dormant per channel', () => {
    const t = 2 ** -10;
    // [3, 4, 5, 5], inputs in [0, 1) then offset per channel before a ReLU:
    // channel 0 by -2 (dead), channel 1 zero input and -1 except one position at exactly t/2
    // (alive, nearly dead), channel 2 by +40 (alive, large), channel 3 zero input, offset 0
    // (pre-activation exactly 0 everywhere: dead).
    const x = randomTensor([3, 4, 5, 5], 9, 0, 1);
    for (let n = 0; n < 3; n++) for (let p = 0; p < 25; p++) x.data[n * 100 + 25 + p] = x.data[n * 100 + 75 + p] = 0;
    x.data[100 + 25 + 7] = 1 + t / 2;
    const model = new Chain(new Offset([-2, -1, 40, 0]), new nn.ReLU());
    const mon = new diag.ActivationMonitor(model, { nearlyDeadThreshold: t });
    model.eval().forward(x);
    const u = mon.unitReport('1');
    expect(mon.report()[0]).toMatchObject({ units: 4, samples: 3, dead: 2, nearlyDead: 1, dormant: 3 });
    expect([...u.dead]).toEqual([1, 0, 0, 1]);
    expect([...u.nearlyDead]).toEqual([0, 1, 0, 0]);
    expect([...u.maxAbs]).toEqual([0, t / 2, u.maxAbs[2], 0]);
    expect(u.activeFraction[1]).toBeCloseTo(1 / 75, 12);
    // Channel 1's mean |y| is t/2/75, far below τ times the layer average (≈ 40.5 / 4).
    expect([...u.dormant]).toEqual([1, 1, 0, 1]);
    expect(u.dormancyScore[2]).toBeCloseTo(4, 1);
    // The same channels through a per-channel PReLU with positive slopes: LeakyReLU-like
    // outputs, the same dead set (its output stands in for the pre-activation), no longer
    // nearly dead (|y| = 0.5 · 1 on the negative side).
    const prelu = new Chain(new Offset([-2, -1, 40, 0]), new nn.PReLU({ numParameters: 4, init: 0.5 }));
    const mp = new diag.ActivationMonitor(prelu, { nearlyDeadThreshold: t });
    prelu.forward(x);
    expect([...mp.unitReport('1').dead]).toEqual([1, 0, 0, 1]);
    expect([...mp.unitReport('1').nearlyDead]).toEqual([0, 0, 0, 0]);
  });

  it('zero fraction, mean, std, min and max equal a direct computation over the window', () => {
    const model = new Chain(new nn.LeakyReLU({ negativeSlope: 0.2 }), new nn.ReLU());
    const mon = new diag.ActivationMonitor(model);
    const seen: Float32Array[][] = [[], []];
    model.layers.forEach((m, i) => m.registerForwardHook((_m, _x, y) => seen[i]!.push(Float32Array.from(y.data))));
    // [N, C, H, W] and then another batch: the window spans both.
    model.forward(randomTensor([3, 5, 4, 3], 2, -1, 1));
    model.forward(randomTensor([2, 5, 4, 3], 3, -1, 1));
    const r = mon.report();
    for (const i of [0, 1]) {
      const want = direct(seen[i]!);
      expect(r[i]!.units).toBe(5);
      expect(r[i]!.samples).toBe(5);
      expect(r[i]!.zeroFraction).toBe(want.zeroFraction);
      expect(r[i]!.min).toBe(want.min);
      expect(r[i]!.max).toBe(want.max);
      // The native sums are float32 over blocks of 64, float64 beyond (stats.rs): 1e-5 relative.
      expect(Math.abs(r[i]!.mean - want.mean)).toBeLessThan(1e-5 * want.meanAbs);
      expect(Math.abs(r[i]!.std - want.std)).toBeLessThan(1e-5 * want.std);
    }
    expect(r[1]!.zeroFraction).toBeGreaterThan(0.3);
  });

  it('reset starts a new window; detach stops watching but keeps what was seen', () => {
    const model = new Chain(new nn.ReLU());
    const mon = new diag.ActivationMonitor(model);
    model.forward(rows([[-1, 1]]));
    expect(mon.report()[0]).toMatchObject({ units: 2, dead: 1, samples: 1 });
    mon.reset();
    // An empty window is an Error, not a row of zeros that reads as a healthy layer.
    expect(() => mon.report()).toThrow(/no forward reached layer "0" \(ReLU\).*ModelWorker/);
    expect(() => mon.unitReport('0')).toThrow(/no forward reached layer "0"/);
    expect(mon.hasData).toBe(false);
    expect(mon.histograms()[0]!.counts.every((c) => c === 0)).toBe(true);
    // After a reset the layer may take another shape.
    model.forward(rows([[1, 1, -1]]));
    expect(mon.report()[0]).toMatchObject({ units: 3, dead: 1 });
    expect(() => model.forward(rows([[1, 1]]))).toThrow(/layer "0" \(ReLU\) had 3 units.*\[1, 2\].*reset/);
    mon.detach();
    expect(mon.attached).toBe(false);
    model.forward(rows([[1, 1, 1, 1]]));
    expect(mon.report()[0]).toMatchObject({ units: 3, dead: 1, samples: 1 });
  });

  it('histograms count every output of a small activation into its octave', () => {
    const model = new nn.ReLU();
    const mon = new diag.ActivationMonitor(model);
    model.forward(rows([[-1, 0, 1, 1.5, 3, 0.25]]));
    const counts = mon.histograms()[0]!.counts;
    const edges = diag.histogramBinEdges();
    const at = (v: number): number => edges.findIndex((e) => (v === 0 ? e.sign === 0 : e.sign === Math.sign(v) && Math.abs(v) >= e.lo && Math.abs(v) < e.hi));
    const want = new Float64Array(HIST_BINS);
    for (const v of [0, 0, 1, 1.5, 3, 0.25]) want[at(v)]!++;
    expect([...counts]).toEqual([...want]);
  });

  it('rejects bad options and arguments', () => {
    expect(() => new diag.ActivationMonitor({} as never)).toThrow(TypeError);
    expect(() => new diag.ActivationMonitor(new nn.ReLU(), { nearlyDeadThreshold: -1 })).toThrow(RangeError);
    expect(() => new diag.ActivationMonitor(new nn.ReLU(), { dormantThreshold: 'x' as never })).toThrow(TypeError);
    expect(() => new diag.ActivationMonitor(new nn.ReLU()).unitReport('7')).toThrow(/no watched layer "7"/);
  });
});

describe('unitStats and sampledHistogram: native = JS', () => {
  const threads = getNumThreads();
  afterAll(() => setNumThreads(threads));
  const layouts: [number, number, number][] = [
    [7, 37, 1],
    [64, 300, 1],
    [4, 3, 5],
    [8, 6, 1 << 14],
    [3, 40000, 1],
  ];

  it.skipIf(!native)('gives the same counts, extremes and histograms, and sums to 1e-5', () => {
    for (const [outer, units, inner] of layouts) {
      const x = randomTensor([outer * units * inner], outer + units, -1, 1).data;
      for (let i = 0; i < x.length; i += 13) x[i] = 0;
      const y = new Float32Array(x.length);
      jsKernels.reluForward(x, y);
      const run = (k: typeof jsKernels): { acc: Float64Array; hist: Float64Array } => {
        const acc = new Float64Array(9 * units);
        acc.fill(Infinity, 6 * units, 7 * units);
        acc.fill(-Infinity, 7 * units, 8 * units);
        // Saturated at (and below) 0 and from 0.5 up, then with no bounds.
        k.unitStats(x, y, units, inner, acc, 0, 0.5);
        k.unitStats(y, y, units, inner, acc, NaN, NaN);
        const hist = new Float64Array(HIST_BINS);
        k.sampledHistogram(y, 4096, 12345, hist);
        k.sampledHistogram(x, 100000, 7, hist);
        return { acc, hist };
      };
      const js = run(jsKernels);
      const nat = run(native!);
      const what = `${outer}×${units}×${inner}`;
      expect([...nat.hist], what).toEqual([...js.hist]);
      const bad: string[] = [];
      for (let i = 0; i < js.acc.length; i++) {
        // Fields 3-5 are the sums (added in another order), the rest must be equal.
        const f = Math.floor(i / units);
        // The native sums are taken in float32 over blocks of 64 (see stats.rs): within 1e-5 of
        // the sum of magnitudes (Σ|y| for Σ|y| and Σy, Σy² for itself).
        const scale = f === 5 ? Math.abs(js.acc[i]!) : js.acc[3 * units + (i % units)]!;
        const ok = f >= 3 && f <= 5 ? Math.abs(nat.acc[i]! - js.acc[i]!) <= 1e-5 * scale : nat.acc[i] === js.acc[i];
        if (!ok && bad.length < 5) bad.push(`field ${f} unit ${i % units}: ${nat.acc[i]} vs ${js.acc[i]}`);
      }
      expect(bad, what).toEqual([]);
      // The same bits with one thread as with the pool.
      setNumThreads(1);
      const serial = run(native!);
      setNumThreads(threads);
      expect(serial.acc).toEqual(nat.acc);
    }
  });

  it.skipIf(!native)('checks lengths and layouts before writing', () => {
    const acc = new Float64Array(9 * 3).fill(5);
    expect(() => native!.unitStats(new Float32Array(10), new Float32Array(10), 3, 1, acc, NaN, NaN)).toThrow(/not a whole number/);
    expect(() => native!.unitStats(new Float32Array(9), new Float32Array(6), 3, 1, acc, NaN, NaN)).toThrow(/9/);
    expect(() => native!.unitStats(new Float32Array(9), new Float32Array(9), 3, 1, new Float64Array(5), NaN, NaN)).toThrow(/expected 27/);
    const shared = new Float64Array(30);
    const alias = new Float32Array(shared.buffer, 0, 6);
    expect(() => native!.unitStats(alias, alias, 3, 1, shared.subarray(0, 27), NaN, NaN)).toThrow(/shares memory/);
    expect(() => native!.sampledHistogram(new Float32Array(4), 0, 1, new Float64Array(HIST_BINS))).toThrow(/maxSamples/);
    expect(acc.every((v) => v === 5)).toBe(true);
  });
});

describe('diag.gradientStats and updateRatios', () => {
  it('gives the norms of each gradient and weight, and lr·‖g‖/‖w‖ with an optimiser', () => {
    const model = new Chain(new Offset([3, 4]), new nn.PReLU({ numParameters: 2, init: 0 }));
    const [offset, prelu] = model.layers as [Offset, nn.PReLU];
    offset.bias.grad.data.set([0.6, 0.8]);
    prelu.weight.grad.data.set([1e-30, 0]);
    const s = diag.gradientStats(model, { optimizer: { lr: 0.1 } });
    expect(s.map((p) => p.name)).toEqual(['0.bias', '1.weight']);
    expect(s[0]!.gradNorm).toBeCloseTo(1, 6);
    expect(s[0]!.weightNorm).toBe(5);
    expect(s[0]!.updateRatio).toBeCloseTo(0.1 / 5, 6);
    // Tiny values neither underflow in the squares nor make a zero weight's ratio finite.
    expect(s[1]!.gradNorm).toBeCloseTo(Math.fround(1e-30), 40);
    expect(s[1]!.updateRatio).toBe(Infinity);
    expect(diag.gradientStats(model)[0]).not.toHaveProperty('updateRatio');
    expect(() => diag.gradientStats(model, { optimizer: {} as never })).toThrow(/lr/);
    prelu.weight.grad.data[0] = NaN;
    expect(diag.gradientStats(model)[1]!.gradNorm).toBeNaN();
  });

  it('updateRatios measures the change a step makes', () => {
    const model = new Offset([3, 4]);
    const r = diag.updateRatios(model, () => {
      model.bias.data.data[0]! += 0.3;
      model.bias.data.data[1]! += 0.4;
    });
    expect(r[0]!.name).toBe('bias');
    expect(r[0]!.updateRatio).toBeCloseTo(0.1, 6);
  });
});

describe('diag.TrainingMonitor', () => {
  it('leaves the last step\'s window readable: mon.report() after the loop is the last step\'s, and the next forward starts a new one', () => {
    const model = new Chain(new nn.ReLU());
    const mon = new diag.ActivationMonitor(model);
    const tm = new diag.TrainingMonitor({ activations: mon });
    // Before any forward: no dead fractions recorded (not zeros), and report() says why.
    tm.step({ loss: 1 });
    expect(tm.history[0]!.deadFraction).toEqual({});
    model.forward(rows([[-1, 1, 2]]));
    tm.step({ loss: 1 });
    model.forward(rows([[-1, -1, 2]]));
    tm.step({ loss: 1 });
    expect(tm.history[2]!.deadFraction).toEqual({ '0': 2 / 3 });
    expect(mon.report()).toEqual(tm.lastReport);
    expect(mon.report()[0]).toMatchObject({ units: 3, dead: 2, samples: 1 });
    // A step without a forward since the last one does not count the same window twice.
    tm.step({ loss: 1 });
    expect(tm.history[3]!.deadFraction).toEqual({});
    expect(tm.lastReport).toEqual([]);
    expect(mon.report()[0]).toMatchObject({ units: 3, dead: 2, samples: 1 });
    model.forward(rows([[1, 1, 2]]));
    expect(mon.report()[0]).toMatchObject({ units: 3, dead: 0, samples: 1 });
  });

  it('records each step and warns when units die after the learning rate rises', () => {
    let mon!: diag.ActivationMonitor;
    let tm!: diag.TrainingMonitor;
    trainDyingMlp(80, {
      onStep: ({ loss, lr, model, step }) => {
        if (step === 0) {
          mon = new diag.ActivationMonitor(model);
          tm = new diag.TrainingMonitor({ activations: mon, model });
          // The monitor was made after this step's forward: nothing in its window yet.
        }
        tm.step({ loss, lr });
      },
    });
    expect(tm.history).toHaveLength(80);
    expect(tm.history[1]!.deadFraction).toHaveProperty('1');
    expect(tm.history[1]!.deadFraction).toHaveProperty('2.1');
    expect(Object.keys(tm.history[1]!.gradNorms)).toEqual(['0.weight', '0.bias', '2.0.weight', '2.0.bias', '3.weight', '3.bias']);
    const before = tm.history[39]!;
    const after = tm.history[79]!;
    expect(before.lr).toBe(0.05);
    expect(after.lr).toBe(0.5);
    // The big rate kills units in some layer.
    const deadAfter = Math.max(...Object.values(after.deadFraction));
    expect(deadAfter).toBeGreaterThan(Math.max(...Object.values(before.deadFraction)) + 0.1);
    const kinds = new Set(tm.warnings.map((w) => w.kind));
    expect(kinds.has('dead')).toBe(true);
    const jump = tm.warnings.find((w) => w.kind === 'deadJump');
    expect(jump).toBeDefined();
    expect(jump!.step).toBeGreaterThanOrEqual(40);
    expect(jump!.step).toBeLessThan(45);
    expect(jump!.message).toMatch(/^step \d+: layer "[\d.]+": dead fraction rose from [\d.]+% to [\d.]+% within \d step\(s\) of the learning rate changing from 0.05 to 0.5 at step 40/);
  });

  it('warns once per crossing of the dead threshold, naming step, layer and number', () => {
    const model = new Chain(new nn.ReLU());
    const mon = new diag.ActivationMonitor(model);
    const printed: string[] = [];
    const tm = new diag.TrainingMonitor({ activations: mon, print: (m) => printed.push(m) });
    const batch = (dead: number): Tensor => rows([Array.from({ length: 10 }, (_, i) => (i < dead ? -1 : 1))]);
    const steps = [1, 2, 3, 0, 2, 0, 0, 0, 0, 0, 2];
    const raised = steps.map((d) => (model.forward(batch(d)), tm.step({ loss: 1, lr: 0.1 })));
    // 10% is not above the threshold; 20% is; 30% crosses the next level (25%); one step below
    // it and back is noise (no repeat); five steps below it re-arm the warning.
    expect(raised.map((w) => w.length)).toEqual([0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(raised[2]![0]).toMatchObject({ step: 2, kind: 'deadEscalation', layer: '0', value: 0.3 });
    expect(raised[10]![0]).toMatchObject({ step: 10, kind: 'dead', value: 0.2 });
    expect(raised[1]![0]).toMatchObject({ step: 1, kind: 'dead', layer: '0', value: 0.2 });
    expect(raised[1]![0]!.message).toBe('step 1: layer "0" (ReLU): 2 of its 10 units are dead (20.0%), above the 10.0% threshold; consider a lower learning rate, LeakyReLU/PReLU, or another initialisation');
    expect(printed).toEqual(tm.warnings.map((w) => `liven: ${w.message}`));
    expect(tm.history.map((h) => h.deadFraction['0'])).toEqual(steps.map((d) => d / 10));
  });

  it('warns again as a dead layer escalates past 25%, 50% and 100%, and when the loss stalls at chance', () => {
    const model = new Chain(new nn.ReLU());
    const mon = new diag.ActivationMonitor(model);
    const tm = new diag.TrainingMonitor({ activations: mon, numClasses: 10, stallWindow: 5 });
    const batch = (dead: number): Tensor => rows([Array.from({ length: 20 }, (_, i) => (i < dead ? -1 : 1))]);
    // 45% dead at first (one warning), then 60% (past 50%), 70% (no new level), 100% (past 100%).
    const dead = [9, 12, 14, 20, 20, 20, 20, 20, 20];
    const chance = Math.log(10);
    const losses = [2.1, 2.2, 2.25, chance, chance + 0.001, chance - 0.002, chance, chance + 0.001, chance];
    const raised = dead.map((d, i) => (model.forward(batch(d)), tm.step({ loss: losses[i]!, lr: 0.1 })));
    expect(raised.map((ws) => ws.map((w) => w.kind))).toEqual([['dead'], ['deadEscalation'], [], ['deadEscalation'], [], [], [], ['stalled'], []]);
    expect(raised[1]![0]!.message).toBe('step 1: layer "0" (ReLU): 12 of its 20 units are dead (60.0%), past 50.0%; it was 45.0% when first warned about at step 0');
    expect(raised[3]![0]!.message).toMatch(/20 of its 20 units are dead \(100\.0%\), past 100\.0%/);
    expect(raised[7]![0]).toMatchObject({ step: 7, kind: 'stalled', layer: '0' });
    expect(raised[7]![0]!.message).toMatch(/^step 7: the loss has stayed at 2\.30\d+ at chance level \(ln 10 = 2\.303\) for 5 steps .* worst "0" at 100\.0%/);
    // A loss that moves again re-arms the stall warning.
    model.forward(batch(20));
    expect(tm.step({ loss: 1.5, lr: 0.1 })).toEqual([]);
    expect(() => new diag.TrainingMonitor({ numClasses: 1.5 })).toThrow(RangeError);
  });

  it('warns on a non-finite loss, activation and gradient, and on an exploding gradient norm', () => {
    const model = new Chain(new Offset([0, 0]), new nn.ReLU());
    const mon = new diag.ActivationMonitor(model);
    const tm = new diag.TrainingMonitor({ activations: mon, model, explodeFactor: 10 });
    const bias = (model.layers[0] as Offset).bias;
    const step = (loss: number, grad: [number, number], x: number[] = [1, 1]): diag.TrainingWarning[] => {
      bias.grad.data.set(grad);
      model.forward(rows([x]));
      return tm.step({ loss, lr: 0.01 });
    };
    for (let i = 0; i < 12; i++) expect(step(1, [1 + (i % 3) * 0.1, 0])).toEqual([]);
    const big = step(1, [0, 30]);
    expect(big).toHaveLength(1);
    expect(big[0]).toMatchObject({ step: 12, kind: 'explodingGradient', layer: '0.bias', value: 30 });
    expect(big[0]!.message).toMatch(/gradient norm 30\.00 is 27\.3x the median of the last 12 steps \(1\.100\); largest in "0\.bias"/);
    const nanLoss = step(NaN, [1, 0]);
    expect(nanLoss.map((w) => w.kind)).toEqual(['nonFiniteLoss']);
    expect(nanLoss[0]!.message).toMatch(/^step 13: the loss is NaN/);
    // A second NaN loss in a row is the same problem: not repeated.
    expect(step(NaN, [1, 0])).toEqual([]);
    const act = step(1, [1, 0], [Infinity, 1]);
    expect(act.map((w) => [w.kind, w.layer, w.value])).toEqual([['nonFiniteActivation', '1', 1]]);
    const grad = step(1, [NaN, 0]);
    expect(grad.map((w) => [w.kind, w.layer])).toEqual([['nonFiniteGradient', '0.bias']]);
    expect(tm.warnings.map((w) => w.kind)).toEqual(['explodingGradient', 'nonFiniteLoss', 'nonFiniteActivation', 'nonFiniteGradient']);
  });

  it('rejects bad options', () => {
    expect(() => new diag.TrainingMonitor({ deadThreshold: -0.1 })).toThrow(RangeError);
    expect(() => new diag.TrainingMonitor({ activations: {} as never })).toThrow(TypeError);
    expect(() => new diag.TrainingMonitor({ jumpWindow: 1.5 })).toThrow(RangeError);
    expect(() => new diag.TrainingMonitor().step({ loss: '1' as never })).toThrow(TypeError);
  });
});
