// The dying-ReLU clinic's experiments: each a small controlled comparison on the same data,
// seed and budget, with a verdict computed from its own numbers.
import * as init from '../init/index.js';
import { Rng } from '../init/rng.js';
import { LeakyReLU, PReLU, ReLU } from '../nn/activation.js';
import { Conv2d } from '../nn/conv.js';
import { Flatten } from '../nn/flatten.js';
import { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';
import { BatchNorm2d, GroupNorm, L2Norm } from '../nn/norm.js';
import { GlobalAvgPool2d, GlobalMaxPool2d, MaxPool2d } from '../nn/pool.js';
import { Sequential } from '../nn/sequential.js';
import * as optim from '../optim/index.js';
import { Tensor } from '../tensor.js';
import type { Digits } from '../data/mnist.js';
import { run, type RunResult, type RunSpec } from './train.js';

export interface Context {
  data: { train: Digits; test: Digits };
  seed: number;
  quick: boolean;
  /** Called with a run's name and the fraction of that run done. */
  progress: (label: string, done: number) => void;
}

export interface Table {
  title?: string;
  header: string[];
  rows: string[][];
}

export interface ExperimentResult {
  runs: RunResult[];
  tables: Table[];
  verdict: string;
}

export interface Experiment {
  id: string;
  title: string;
  run(ctx: Context): ExperimentResult;
}

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');
const num = (x: number, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

/** Dead and nearly-dead share of all watched units of a run (test set, eval mode). */
function deadShare(r: RunResult): { dead: number; nearly: number } {
  const units = r.health.reduce((a, h) => a + h.units, 0);
  if (units === 0) return { dead: NaN, nearly: NaN };
  return { dead: r.health.reduce((a, h) => a + h.dead, 0) / units, nearly: r.health.reduce((a, h) => a + h.nearlyDead, 0) / units };
}

/**
 * The standard table: one row per run, dead / nearly dead per watched layer (for deep models,
 * over all layers and for the first and last one).
 */
function runTable(runs: RunResult[]): Table {
  const layers = runs.find((r) => r.health.length > 0)?.health.map((h) => `${h.kind} ${h.layer}`) ?? [];
  const cell = (dead: number, nearly: number, units: number) => `${pct(dead / units)} / ${pct(nearly / units)}`;
  const deep = layers.length > 4;
  const columns = deep ? ['all layers', `first (${layers[0]})`, `last (${layers[layers.length - 1]})`] : layers;
  return {
    header: ['run', 'accuracy', 'final loss', 'loss std (last 25%)', ...columns.map((l) => `${l} dead / nearly`)],
    rows: runs.map((r) => {
      const h = r.health;
      let cells: string[];
      if (h.length === 0) cells = columns.map(() => 'n/a');
      else if (deep) {
        const all = deadShare(r);
        cells = [`${pct(all.dead)} / ${pct(all.nearly)}`, cell(h[0]!.dead, h[0]!.nearlyDead, h[0]!.units), cell(h.at(-1)!.dead, h.at(-1)!.nearlyDead, h.at(-1)!.units)];
      } else cells = h.map((x) => cell(x.dead, x.nearlyDead, x.units));
      return [r.name + (r.diverged ? ' (diverged)' : ''), pct(r.accuracy), num(r.finalLoss), num(r.lossOscillation), ...cells];
    }),
  };
}

function runAll(ctx: Context, specs: RunSpec[]): RunResult[] {
  return specs.map((spec) => run(spec, ctx.data, { seed: ctx.seed, onStep: (s) => ctx.progress(spec.name, s / spec.steps) }));
}

type Act = () => Module;
const relu: Act = () => new ReLU();

/** A small CNN: two conv blocks and a linear classifier (28×28 → 7×7 × 16 → 10). */
function cnn({ act = relu, norm }: { act?: Act; norm?: (channels: number) => Module } = {}): Sequential {
  const layers: Module[] = [new Conv2d(1, 8, 3, { padding: 1 })];
  if (norm) layers.push(norm(8));
  layers.push(act(), new MaxPool2d(2), new Conv2d(8, 16, 3, { padding: 1 }));
  if (norm) layers.push(norm(16));
  layers.push(act(), new MaxPool2d(2), new Flatten(), new Linear(16 * 7 * 7, 10));
  return new Sequential(...layers);
}

const sgd = (lr: number) => (params: Parameters<RunSpec['optimizer']>[0]) => ({ opt: new optim.SGD(params, { lr, momentum: 0.9 }) });

function budget(ctx: Context, full: number): number {
  return ctx.quick ? 6 : full;
}

const GOOD_LR = 0.02;
const BAD_LR = 0.1;

export const experiments: Experiment[] = [
  {
    id: 'shift',
    title: '1. Shifted pre-activations: a hidden layer centred at +0.1 versus -0.1',
    run(ctx) {
      const steps = budget(ctx, 300);
      // Tiny weights make each hidden unit's pre-activation ≈ its bias, so the bias sets the centre.
      const mlp = (centre: number) => () => {
        const hidden = new Linear(784, 128);
        init.normal(hidden.weight.data, 0, 0.002);
        init.constant(hidden.bias!.data, centre);
        return new Sequential(hidden, new ReLU(), new Linear(128, 10));
      };
      const runs = runAll(ctx, [
        { name: 'centre +0.1', model: mlp(0.1), optimizer: sgd(0.05), images: false, batchSize: 32, steps },
        { name: 'centre -0.1', model: mlp(-0.1), optimizer: sgd(0.05), images: false, batchSize: 32, steps },
      ]);
      const deadAtStart = runs.map((r) => Object.values(r.history[0]?.deadFraction ?? {})[0] ?? NaN);
      const [up, down] = runs.map(deadShare);
      const verdict = down!.dead > up!.dead + 0.2
        ? `Centred at -0.1, ${pct(deadAtStart[1]!)} of the hidden units were dead in the first steps and ${pct(down!.dead)} still were at the end (accuracy ${pct(runs[1]!.accuracy)}), against ${pct(up!.dead)} at +0.1 (${pct(runs[0]!.accuracy)}): dead units get no gradient, so they do not recover.`
        : `Did not reproduce at this scale: ${pct(down!.dead)} dead at -0.1 against ${pct(up!.dead)} at +0.1 (first steps: ${pct(deadAtStart[1]!)} vs ${pct(deadAtStart[0]!)}); the weights grew fast enough to pull units back above zero.`;
      return { runs, tables: [runTable(runs)], verdict };
    },
  },
  {
    id: 'lr',
    title: `2. Learning rate too high: the small CNN at lr ${GOOD_LR} and ${BAD_LR}, then the remedies at ${BAD_LR}`,
    run(ctx) {
      const steps = budget(ctx, 300);
      const base = { model: () => cnn(), images: true, batchSize: 32, steps };
      const runs = runAll(ctx, [
        { ...base, name: `lr ${GOOD_LR}`, optimizer: sgd(GOOD_LR) },
        { ...base, name: `lr ${BAD_LR}`, optimizer: sgd(BAD_LR) },
        {
          ...base,
          name: `lr ${BAD_LR} + warmup (LinearLR, ${Math.round(steps / 3)} steps)`,
          optimizer: (params) => {
            const opt = new optim.SGD(params, { lr: BAD_LR, momentum: 0.9 });
            return { opt, sched: new optim.LinearLR(opt, { startFactor: 0.01, endFactor: 1, totalIters: Math.round(steps / 3) }) };
          },
        },
        { ...base, name: `Adagrad lr ${BAD_LR}`, optimizer: (params) => ({ opt: new optim.Adagrad(params, { lr: BAD_LR }) }) },
        { ...base, name: `lr ${BAD_LR} + clipGradNorm(1)`, optimizer: sgd(BAD_LR), clipNorm: 1 },
        { ...base, name: `lower lr (${BAD_LR / 2})`, optimizer: sgd(BAD_LR / 2) },
      ]);
      const [good, bad, ...remedies] = runs.map(deadShare);
      const fixed = remedies.map((d, i) => [runs[i + 2]!.name, d.dead, runs[i + 2]!.accuracy] as const).filter(([, dead, acc]) => dead < bad!.dead - 0.05 && acc > runs[1]!.accuracy);
      const verdict = bad!.dead > good!.dead + 0.05 || runs[1]!.diverged
        ? `At lr ${BAD_LR}, ${pct(bad!.dead)} of the ReLU units were dead on the test set (accuracy ${pct(runs[1]!.accuracy)}) against ${pct(good!.dead)} at lr ${GOOD_LR} (${pct(runs[0]!.accuracy)}). ${fixed.length > 0 ? `Remedies that cut the dead share and raised accuracy: ${fixed.map(([n, d, a]) => `${n} (${pct(d)} dead, ${pct(a)})`).join('; ')}.` : 'No remedy both cut the dead share and raised accuracy here.'}`
        : `Did not reproduce at this scale: lr ${BAD_LR} left ${pct(bad!.dead)} of units dead against ${pct(good!.dead)} at lr ${GOOD_LR}.`;
      return { runs, tables: [runTable(runs)], verdict };
    },
  },
  {
    id: 'activation',
    title: `3. Activation at the bad lr (${BAD_LR}): ReLU, LeakyReLU, PReLU`,
    run(ctx) {
      const steps = budget(ctx, 300);
      const base = { images: true, batchSize: 32, steps, optimizer: sgd(BAD_LR), nearlyDeadThreshold: 1e-2 };
      const runs = runAll(ctx, [
        { ...base, name: 'ReLU', model: () => cnn() },
        { ...base, name: 'LeakyReLU(0.01)', model: () => cnn({ act: () => new LeakyReLU() }) },
        { ...base, name: 'PReLU', model: () => cnn({ act: () => new PReLU() }) },
      ]);
      const zeros = runs.map((r) => (r.health.length ? r.health.reduce((a, h) => a + h.zeroFraction, 0) / r.health.length : NaN));
      const shares = runs.map(deadShare);
      const diverged = runs.filter((r) => r.diverged).map((r) => r.name);
      const divergedNote = diverged.length > 0 ? ` ${diverged.join(' and ')} diverged (the loss or a gradient became non-finite) at this lr: a learned slope is one more parameter the large steps can throw off.` : '';
      const verdict = `Exact zeros in the activations: ${runs.map((r, i) => `${r.name} ${pct(zeros[i]!)}`).join(', ')}. Units negative on every test image ("dead" by the pre-activation rule): ${runs.map((r, i) => `${r.name} ${pct(shares[i]!.dead)}`).join(', ')}; of the rest, nearly dead (max |output| < 0.01): ${runs.map((r, i) => `${r.name} ${pct(shares[i]!.nearly)}`).join(', ')}. ${zeros[1]! < zeros[0]! ? 'Leaky slopes remove the exact zeros' : 'Leaky slopes did not remove the exact zeros here'}${shares[1]!.dead + shares[1]!.nearly >= 0.5 * (shares[0]!.dead + shares[0]!.nearly) ? ', but the units stay negative: their outputs are merely small, which is what practitioners see.' : ' and the units came back to life.'}${divergedNote}`;
      return { runs, tables: [runTable(runs)], verdict };
    },
  },
  {
    id: 'norm',
    title: '4. Normalisation: none, BatchNorm, GroupNorm at batch 32 and batch 2 (same number of images)',
    run(ctx) {
      const images = budget(ctx, 300) * 32;
      const specs: RunSpec[] = [];
      for (const batchSize of [32, 2]) {
        const base = { images: true, batchSize, steps: Math.max(1, Math.round(images / batchSize)), optimizer: sgd(batchSize === 32 ? GOOD_LR : GOOD_LR / 4) };
        specs.push(
          { ...base, name: `none, batch ${batchSize}`, model: () => cnn() },
          { ...base, name: `BatchNorm, batch ${batchSize}`, model: () => cnn({ norm: (c) => new BatchNorm2d(c) }) },
          { ...base, name: `GroupNorm(4), batch ${batchSize}`, model: () => cnn({ norm: (c) => new GroupNorm(4, c) }) },
        );
      }
      const runs = runAll(ctx, specs);
      const acc = (i: number) => runs[i]!.accuracy;
      const bnDrop = acc(1) - acc(4);
      const gnDrop = acc(2) - acc(5);
      const verdict = bnDrop > gnDrop + 0.01
        ? `Going from batch 32 to batch 2, BatchNorm lost ${pct(bnDrop)} of test accuracy (${pct(acc(1))} → ${pct(acc(4))}) and GroupNorm ${pct(gnDrop)} (${pct(acc(2))} → ${pct(acc(5))}): batch statistics of 2 samples are too noisy, group statistics do not depend on the batch (Wu & He 2018).`
        : `Did not reproduce at this scale: from batch 32 to batch 2 BatchNorm's accuracy changed by ${pct(-bnDrop)} and GroupNorm's by ${pct(-gnDrop)}.`;
      return { runs, tables: [runTable(runs)], verdict };
    },
  },
  {
    id: 'init',
    title: '5. Initialisation: a deep plain ReLU MLP under Xavier and He; narrow nets born dead',
    run(ctx) {
      const steps = budget(ctx, 200);
      const deep = (initialise: (w: Tensor) => void) => () => {
        const layers: Module[] = [];
        let width = 784;
        for (let i = 0; i < 20; i++) {
          const l = new Linear(width, 64);
          initialise(l.weight.data);
          init.zeros(l.bias!.data);
          layers.push(l, new ReLU());
          width = 64;
        }
        layers.push(new Linear(64, 10));
        return new Sequential(...layers);
      };
      const runs = runAll(ctx, [
        { name: 'Xavier (normal)', model: deep((w) => init.xavierNormal(w)), optimizer: sgd(0.01), images: false, batchSize: 32, steps },
        { name: 'He (kaiming normal)', model: deep((w) => init.kaimingNormal(w, { nonlinearity: 'relu' })), optimizer: sgd(0.01), images: false, batchSize: 32, steps },
      ]);
      const trials = ctx.quick ? 200 : 4000;
      const widths = [2, 3, 5, 10];
      const expected: Record<number, string> = { 2: '~0.88', 3: '~0.58', 5: '~0.13', 10: '~0.001' };
      const bornDead = widths.map((width) => {
        ctx.progress(`born dead, width ${width}`, 0);
        const he = bornDeadFraction(width, 10, trials, ctx.seed, 'he');
        const rai = width === 2 ? bornDeadFraction(width, 10, trials, ctx.seed, 'rai') : NaN;
        return { width, he, rai };
      });
      const [xavier, he] = runs;
      const verdict = `${he!.accuracy > xavier!.accuracy + 0.1 ? `He trains (${pct(he!.accuracy)}) where Xavier stalls (${pct(xavier!.accuracy)}): Xavier halves the signal's variance at every ReLU layer, so 20 layers shrink it ~10⁶-fold (He et al. 2015).` : `Did not reproduce at this scale: Xavier reached ${pct(xavier!.accuracy)} and He ${pct(he!.accuracy)}.`} Born dead (constant on [-1, 1], 10 weight layers, ${trials} seeds): ${bornDead.map((b) => `width ${b.width} ${num(b.he, 3)}`).join(', ')}; RAI at width 2: ${num(bornDead[0]!.rai, 3)} (Lu et al. 2019 report ~0.27).`;
      return {
        runs,
        tables: [
          runTable(runs),
          {
            title: `Born dead: fraction of ${trials} random deep narrow ReLU nets (1-D input on [-1, 1], 10 weight layers, zero biases, He-normal weights) that are constant on the whole input domain`,
            header: ['width', 'born dead (He)', 'expected (Lu et al. 2019)', 'born dead (RAI)'],
            rows: bornDead.map((b) => [String(b.width), num(b.he, 3), expected[b.width]!, Number.isNaN(b.rai) ? '' : `${num(b.rai, 3)} (~0.27 expected)`]),
          },
        ],
        verdict,
      };
    },
  },
  {
    id: 'pooling',
    title: '6. The last pooling layer: global max, global average, global max + L2Norm',
    run(ctx) {
      const steps = budget(ctx, 300);
      const head = (pool: () => Module[]) => () =>
        new Sequential(new Conv2d(1, 8, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2), new Conv2d(8, 16, 3, { padding: 1 }), new ReLU(), ...pool(), new Linear(16, 10));
      const base = { images: true, batchSize: 32, steps, optimizer: sgd(GOOD_LR * 2) };
      const runs = runAll(ctx, [
        { ...base, name: 'GlobalMaxPool2d', model: head(() => [new GlobalMaxPool2d()]) },
        { ...base, name: 'GlobalAvgPool2d', model: head(() => [new GlobalAvgPool2d()]) },
        { ...base, name: 'GlobalMaxPool2d + L2Norm(scale 10)', model: head(() => [new GlobalMaxPool2d(), new L2Norm({ scale: 10 })]) },
      ]);
      const [max, avg, l2] = runs;
      const verdict = `Loss oscillation (std over the last quarter): max ${num(max!.lossOscillation)}, avg ${num(avg!.lossOscillation)}, max + L2Norm ${num(l2!.lossOscillation)}; accuracy ${pct(max!.accuracy)}, ${pct(avg!.accuracy)}, ${pct(l2!.accuracy)}. ${l2!.lossOscillation < max!.lossOscillation && l2!.accuracy >= max!.accuracy ? 'L2Norm after max pooling calmed the loss and did not cost accuracy, as the blog found.' : 'The blog\'s finding (L2Norm after max pooling calms the loss and beats it) did not reproduce at this scale.'}`;
      return { runs, tables: [runTable(runs)], verdict };
    },
  },
];

/**
 * The fraction of `trials` random ReLU nets of `depth` weight layers and `width` units that
 * are born dead: constant on the input domain [-1, 1] (Lu et al. 2019). Checked on a grid of
 * 101 points: the net is piecewise linear, so a last hidden layer that gives the same output
 * at every grid point of such a fine grid is constant (with He's zero biases the only kink is
 * at 0 and the check is exact).
 */
export function bornDeadFraction(width: number, depth: number, trials: number, seed: number, scheme: 'he' | 'rai'): number {
  const rng = new Rng(seed * 7919 + width);
  const points = 101;
  const x = Tensor.from(Array.from({ length: points }, (_, i) => -1 + (2 * i) / (points - 1)), [points, 1]);
  let dead = 0;
  for (let t = 0; t < trials; t++) {
    let h = x;
    for (let l = 0; l < depth - 1; l++) {
      const layer = new Linear(h.shape[1]!, width);
      if (scheme === 'he') {
        init.kaimingNormal(layer.weight.data, { nonlinearity: 'relu', rng });
        init.zeros(layer.bias!.data);
      } else {
        init.rai(layer.weight.data, layer.bias!.data, { rng });
      }
      h = new ReLU().forward(layer.forward(h));
    }
    const first = h.data.subarray(0, width);
    let constant = true;
    for (let p = 1; p < points && constant; p++) {
      for (let u = 0; u < width; u++) if (h.data[p * width + u] !== first[u]) constant = false;
    }
    if (constant) dead++;
  }
  return dead / trials;
}
