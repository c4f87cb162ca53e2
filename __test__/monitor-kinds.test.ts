// ActivationMonitor on every activation kind: the dead rule for the ReLU family, nearly dead and
// dormant for all, saturated for the bounded kinds, each checked against a direct computation
// over the outputs (and inputs) the layers produced.
import { describe, expect, it } from 'vitest';
import { Tensor, diag, nn } from '../src/index.js';
import { describeEachBackend } from './helpers/backends.js';
import { randomTensor } from './helpers/numeric.js';

/** Every kind, with the output range of the bounded ones. */
const kinds: [string, () => nn.Module, [number, number] | null][] = [
  ['ReLU', () => new nn.ReLU(), null],
  ['ReLU6', () => new nn.ReLU6(), [0, 6]],
  ['LeakyReLU', () => new nn.LeakyReLU({ negativeSlope: -0.2 }), null],
  ['PReLU', () => new nn.PReLU({ numParameters: 6, init: 0.1 }), null],
  ['ELU', () => new nn.ELU(), null],
  ['CELU', () => new nn.CELU({ alpha: 2 }), null],
  ['SELU', () => new nn.SELU(), null],
  ['GELU', () => new nn.GELU(), null],
  ['SiLU', () => new nn.SiLU(), null],
  ['Mish', () => new nn.Mish(), null],
  ['Softplus', () => new nn.Softplus(), null],
  ['Hardswish', () => new nn.Hardswish(), null],
  ['Sigmoid', () => new nn.Sigmoid(), [0, 1]],
  ['Tanh', () => new nn.Tanh(), [-1, 1]],
  ['Hardtanh', () => new nn.Hardtanh({ minVal: -2, maxVal: 0.5 }), [-2, 0.5]],
  ['Hardsigmoid', () => new nn.Hardsigmoid(), [0, 1]],
];
const deadRule = new Set(['ReLU', 'ReLU6', 'LeakyReLU', 'PReLU']);

/**
 * A model whose Linear layers give each activation units of every sort: unit 0 always far
 * negative, unit 1 always far positive, unit 2 tiny positive, unit 3 tiny negative, units 4 and
 * 5 ordinary.
 */
function model(): nn.Sequential {
  const layers: nn.Module[] = [];
  for (const [, make] of kinds) {
    const inFeatures = layers.length === 0 ? 4 : 6;
    const lin = new nn.Linear(inFeatures, 6);
    lin.weight.data.data.fill(0);
    lin.bias!.data.data.set([-40, 40, 1e-5, -1e-4, 0, 0]);
    lin.weight.data.data.set([1, -1, 0.5, 0.25], 4 * inFeatures);
    lin.weight.data.data.set([-0.5, 2, 1, -1], 5 * inFeatures);
    layers.push(lin, make());
  }
  return new nn.Sequential(...layers);
}

describeEachBackend('ActivationMonitor on every activation kind', () => {
  it('watches every kind, with the dead rule for the ReLU family and saturated for the bounded kinds', () => {
    const m = model();
    const mon = new diag.ActivationMonitor(m);
    // Before a forward there is nothing to report: an Error, not rows of zeros.
    expect(() => mon.report()).toThrow(/no forward reached layer "1" \(ReLU\)/);
    // Inputs to every activation and its outputs, as seen by hooks of our own.
    const seen = new Map<nn.Module, { x: number[][]; y: number[][] }>();
    const activations = m.namedChildren().filter((_, i) => i % 2 === 1).map(([, a]) => a);
    for (const a of activations) {
      seen.set(a, { x: [], y: [] });
      a.registerForwardHook((_m, x, y) => {
        seen.get(a)!.x.push([...(x as Tensor).data]);
        seen.get(a)!.y.push([...y.data]);
      });
    }
    for (let step = 0; step < 3; step++) m.forward(randomTensor([5, 4], 10 + step, -3, 3));

    const report = mon.report();
    expect(report.map((r) => r.kind)).toEqual(kinds.map(([k]) => k));
    activations.forEach((a, li) => {
      const [kind, , range] = kinds[li]!;
      const xs = seen.get(a)!.x.flat();
      const ys = seen.get(a)!.y.flat();
      const units = 6;
      const perUnit = (u: number, v: number[]): number[] => v.filter((_, i) => i % units === u);
      const meanAbs = (u: number): number => perUnit(u, ys).reduce((s, v) => s + Math.abs(v), 0) / (ys.length / units);
      const layerAverage = [0, 1, 2, 3, 4, 5].reduce((s, u) => s + meanAbs(u), 0) / units;
      let dead = 0;
      let nearlyDead = 0;
      let dormant = 0;
      let saturated = 0;
      for (let u = 0; u < units; u++) {
        const isDead = deadRule.has(kind) && perUnit(u, xs).every((v) => v <= 0);
        dead += isDead ? 1 : 0;
        nearlyDead += !isDead && Math.max(...perUnit(u, ys).map(Math.abs)) < mon.nearlyDeadThreshold ? 1 : 0;
        dormant += meanAbs(u) / layerAverage <= mon.dormantThreshold ? 1 : 0;
        if (range) {
          const margin = 0.01 * (range[1] - range[0]);
          const lo = Math.fround(range[0] + margin);
          const hi = Math.fround(range[1] - margin);
          saturated += perUnit(u, ys).every((v) => v <= lo || v >= hi) ? 1 : 0;
        }
      }
      const r = report[li]!;
      const what = `${kind} (layer ${r.layer})`;
      // The share of positive pre-activations, whatever the output's sign.
      const active = mon.unitReport(r.layer).activeFraction;
      for (let u = 0; u < units; u++) {
        const xu = perUnit(u, xs);
        expect(active[u], `${what} unit ${u}`).toBe(xu.filter((v) => !(v <= 0)).length / xu.length);
      }
      expect({ dead: r.dead, nearlyDead: r.nearlyDead, dormant: r.dormant, saturated: r.saturated }, what).toEqual({ dead, nearlyDead, dormant, saturated: range ? saturated : null });
      expect(r.deadFraction, what).toBe(dead / units);
    });
    // The far units make the numbers non-trivial: the test would catch a zero everywhere.
    const byKind = Object.fromEntries(report.map((r) => [r.kind, r]));
    expect(byKind.ReLU!.dead).toBe(2); // units 0 and 3
    expect(byKind.ReLU6!.dead).toBeGreaterThanOrEqual(2);
    // The dead units and the tiny one sit at 0, unit 1 at 6.
    expect(byKind.ReLU6!.saturated).toBeGreaterThanOrEqual(byKind.ReLU6!.dead + 1);
    for (const k of ['Sigmoid', 'Tanh', 'Hardsigmoid', 'Hardtanh']) expect(byKind[k]!.saturated, k).toBeGreaterThanOrEqual(2);
    expect(byKind.ELU!.dead).toBe(0);
    expect(byKind.GELU!.nearlyDead).toBeGreaterThan(0);
    expect(byKind.GELU!.saturated).toBeNull();
  });

  it('saturated: every output within 1% of the range of an end, inclusive at the edge; one output inside is enough to not be', () => {
    // Sigmoid's outputs for pre-activations chosen around the 1% edges 0.01 and 0.99.
    const logit = (p: number): number => Math.log(p / (1 - p));
    const s = new nn.Sigmoid();
    const mon = new diag.ActivationMonitor(s);
    // Unit 0: both ends; unit 1: at the upper end except one sample just inside.
    s.forward(Tensor.from([logit(0.005), logit(0.995), logit(0.999), logit(0.9895)], [2, 2]));
    s.forward(Tensor.from([logit(0.995), logit(0.999)], [1, 2]));
    const u = mon.unitReport('');
    expect([...u.saturated!]).toEqual([1, 0]);
    expect(mon.report()[0]!.saturated).toBe(1);
    // Exactly at the edge counts (Hardtanh(0, 1): 0.01 and 0.99 are outputs themselves).
    const h = new nn.Hardtanh({ minVal: 0, maxVal: 1 });
    const hm = new diag.ActivationMonitor(h);
    h.forward(Tensor.from([0.01, 0.99, 0.0101, 0.99], [2, 2]));
    expect([...hm.unitReport('').saturated!]).toEqual([0, 1]);
    // Unbounded kinds have no saturated count: null, not 0.
    const e = new nn.ELU();
    const em = new diag.ActivationMonitor(e);
    e.forward(Tensor.from([-50, 50], [1, 2]));
    expect(em.report()[0]!.saturated).toBeNull();
    expect(em.unitReport('').saturated).toBeNull();
  });

  it('does not watch Identity, Dropout or pooling', () => {
    const m = new nn.Sequential(new nn.Identity(), new nn.Dropout(), new nn.Tanh(), new nn.AdaptiveAvgPool2d(1));
    expect(new diag.ActivationMonitor(m).layers).toEqual(['2']);
  });
});

describe('saturationRange', () => {
  it('is the output range of the bounded kinds only', () => {
    expect(diag.saturationRange(new nn.Hardtanh({ minVal: -3, maxVal: 2 }))).toEqual([-3, 2]);
    expect(diag.saturationRange(new nn.ReLU6())).toEqual([0, 6]);
    expect(diag.saturationRange(new nn.GELU())).toBeNull();
    expect(diag.saturationRange(new nn.ReLU())).toBeNull();
  });
});
