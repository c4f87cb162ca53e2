// The dying-ReLU clinic's experiments: each a small controlled comparison on the same data,
// seeds and budget, with a verdict computed from its own numbers and whether its claim holds
// beyond the spread over seeds.
import * as init from '../init/index.js';
import { Rng } from '../init/rng.js';
import { ELU, GELU, LeakyReLU, PReLU, ReLU, SELU, SiLU } from '../nn/activation.js';
import { Conv2d } from '../nn/conv.js';
import { Flatten } from '../nn/flatten.js';
import { Graph } from '../nn/graph.js';
import { Linear } from '../nn/linear.js';
import { Add } from '../nn/merge.js';
import type { Module } from '../nn/module.js';
import { BatchNorm1d, BatchNorm2d, GroupNorm, L2Norm } from '../nn/norm.js';
import { GlobalAvgPool2d, GlobalMaxPool2d, MaxPool2d } from '../nn/pool.js';
import { Sequential } from '../nn/sequential.js';
import * as optim from '../optim/index.js';
import { Tensor } from '../tensor.js';
import { allHold, formatSpread, holdsGreater, spread, type Spread } from './stats.js';
import type { RunResult, RunSpec } from './train.js';

/** The pooling experiment's setting (see its verdict). */
const POOLING = { channels: 32, lr: 0.1, steps: 300 };
/** ReDo's schedule and τ in the recycle experiment. */
const RECYCLE = { every: 50, tau: 0.025 };

/** A printed table (and the HTML one): a header and rows of cells. */
export interface Table {
  title?: string;
  header: string[];
  rows: string[][];
}

/** One run of an experiment over every seed. */
export interface SeededRun {
  name: string;
  /** One result per seed, in the order of the clinic's seeds. */
  perSeed: RunResult[];
}

export interface ExperimentResult {
  runs: SeededRun[];
  tables: Table[];
  /** Charts beyond the training curves: [step, value] per seed of each run. */
  curves?: { title: string; percent?: boolean; yLabel?: string; runs: { name: string; perSeed: [number, number][][] }[] }[];
  verdict: string;
  /** The claim `holds` judges, in words. */
  claim: string;
  /** True when the claim holds beyond the spread over seeds, false when its opposite does, null when undecided (see `holdsGreater`). */
  holds: boolean | null;
}

/** What `summarise` gets besides the runs. */
export interface SummaryContext {
  quick: boolean;
  seeds: number[];
  /** Called with a step's name and the fraction of it done. */
  progress: (label: string, done: number) => void;
}

/** One controlled comparison: its runs, and how their numbers become tables, a verdict and `holds`. */
export interface Experiment {
  id: string;
  title: string;
  /** The runs, built from the flags alone: a worker thread rebuilds them from (id, index). */
  specs(quick: boolean): RunSpec[];
  /** Tables, verdict and holds from every run over every seed. */
  summarise(runs: SeededRun[], ctx: SummaryContext): ExperimentResult;
}

const num = (x: number, digits = 3) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

/** Dead and nearly-dead share of all watched units of a run (test set, eval mode); NaN for a diverged run. */
export function deadShare(r: RunResult): { dead: number; nearly: number } {
  const units = r.health.reduce((a, h) => a + h.units, 0);
  if (units === 0) return { dead: NaN, nearly: NaN };
  return { dead: r.health.reduce((a, h) => a + h.dead, 0) / units, nearly: r.health.reduce((a, h) => a + h.nearlyDead, 0) / units };
}

/** A figure of each seed's run. */
const per = (run: SeededRun, f: (r: RunResult) => number): number[] => run.perSeed.map(f);
const acc = (run: SeededRun) => per(run, (r) => r.accuracy);
const dead = (run: SeededRun) => per(run, (r) => deadShare(r).dead);
const mean = (values: number[]) => spread(values).mean;
const pm = (values: number[], percent = true) => formatSpread(spread(values), percent);

/** Every figure the tables print, as mean and spread over seeds (results.json's `spread`). */
export function runFigures(run: SeededRun): Record<string, Spread | Record<string, { dead: Spread; nearlyDead: Spread }>> {
  const layers: Record<string, { dead: Spread; nearlyDead: Spread }> = {};
  for (const h of run.perSeed.find((r) => r.health.length > 0)?.health ?? []) {
    const of = (f: 'dead' | 'nearlyDead') => spread(run.perSeed.map((r) => { const x = r.health.find((y) => y.layer === h.layer); return x ? x[f] / x.units : NaN; }));
    layers[`${h.kind} ${h.layer}`] = { dead: of('dead'), nearlyDead: of('nearlyDead') };
  }
  return {
    accuracy: spread(acc(run)),
    finalLoss: spread(per(run, (r) => r.finalLoss)),
    lossOscillation: spread(per(run, (r) => r.lossOscillation)),
    dead: spread(dead(run)),
    nearlyDead: spread(per(run, (r) => deadShare(r).nearly)),
    layers,
  };
}

function runName(run: SeededRun): string {
  const diverged = run.perSeed.filter((r) => r.diverged).length;
  return run.name + (diverged > 0 ? ` (diverged: ${diverged}/${run.perSeed.length} seeds)` : '');
}

/**
 * The standard table: one row per run, each figure as mean ± std over seeds; dead / nearly dead
 * per watched layer (for deep models, over all layers and for the first and last one).
 */
function runTable(runs: SeededRun[]): Table {
  const layers = runs.flatMap((r) => r.perSeed).find((r) => r.health.length > 0)?.health.map((h) => h.layer) ?? [];
  const kinds = runs.flatMap((r) => r.perSeed).find((r) => r.health.length > 0)?.health.map((h) => `${h.kind} ${h.layer}`) ?? [];
  const deep = layers.length > 4;
  const columns = deep ? ['all layers', `first (${kinds[0]})`, `last (${kinds.at(-1)})`] : kinds;
  const layerShare = (run: SeededRun, layer: string) => {
    const of = (f: 'dead' | 'nearlyDead') => per(run, (r) => { const h = r.health.find((x) => x.layer === layer); return h ? h[f] / h.units : NaN; });
    return `${pm(of('dead'))} / ${pm(of('nearlyDead'))}`;
  };
  return {
    header: ['run', 'accuracy', 'final loss', 'loss std (last 25%)', ...columns.map((l) => `${l} dead / nearly`)],
    rows: runs.map((run) => {
      const cells = deep
        ? [`${pm(dead(run))} / ${pm(per(run, (r) => deadShare(r).nearly))}`, layerShare(run, layers[0]!), layerShare(run, layers.at(-1)!)]
        : layers.map((l) => layerShare(run, l));
      return [runName(run), pm(acc(run)), pm(per(run, (r) => r.finalLoss), false), pm(per(run, (r) => r.lossOscillation), false), ...cells];
    }),
  };
}

/** "holds beyond the spread" / "does not hold (the opposite does)" / "undecided". */
function said(h: boolean | null): string {
  return h === true ? 'It holds beyond the spread over seeds.' : h === false ? 'The opposite holds beyond the spread over seeds.' : 'Undecided: the difference is within the spread over seeds.';
}

function result(runs: SeededRun[], claim: string, holds: boolean | null, verdict: string, tables: Table[] = [runTable(runs)]): ExperimentResult {
  return { runs, tables, claim, holds, verdict: `${verdict} Claim: ${claim}. ${said(holds)}` };
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

function budget(quick: boolean, full: number): number {
  return quick ? 6 : full;
}

const GOOD_LR = 0.02;
const BAD_LR = 0.1;

/**
 * A deep ReLU MLP (784 → 64 × depth → 10), each weight from `initialise`, zero biases. With
 * `residual`, every hidden layer after the first is a block h + relu(W h) (an nn.Graph) whose W
 * is scaled by 1/√(blocks) after `initialise`, as Fixup (Zhang et al. 2019) does: unnormalised,
 * each block would add its branch's variance and 19 of them multiply the signal's by up to 2^19.
 */
function deepMlp(initialise: (w: Tensor) => void, { depth = 20, residual = false } = {}): () => Module {
  return () => {
    const linear = (i: number, o: number) => {
      const l = new Linear(i, o);
      initialise(l.weight.data);
      init.zeros(l.bias!.data);
      return l;
    };
    if (!residual) {
      const layers: Module[] = [];
      for (let i = 0; i < depth; i++) layers.push(linear(i === 0 ? 784 : 64, 64), new ReLU());
      return new Sequential(...layers, linear(64, 10));
    }
    const g = new Graph();
    g.node('fc0', linear(784, 64), 'input').node('act0', new ReLU(), 'fc0');
    let h = 'act0';
    for (let i = 1; i < depth; i++) {
      const fc = linear(64, 64);
      for (let j = 0; j < fc.weight.data.size; j++) fc.weight.data.data[j]! /= Math.sqrt(depth - 1);
      g.node(`fc${i}`, fc, h).node(`act${i}`, new ReLU(), `fc${i}`).node(`sum${i}`, new Add(), [h, `act${i}`]);
      h = `sum${i}`;
    }
    return g.node('out', linear(64, 10), h).output('out');
  };
}

const xavier = (w: Tensor) => void init.xavierNormal(w);
const he = (w: Tensor) => void init.kaimingNormal(w, { nonlinearity: 'relu' });

/** The activations compared at the lethal lr (the newer smooth ones join when liven has them). */
const ACTIVATIONS: { name: string; act: Act }[] = [
  { name: 'ReLU', act: relu },
  { name: 'LeakyReLU(0.01)', act: () => new LeakyReLU() },
  { name: 'PReLU', act: () => new PReLU() },
  { name: 'ELU', act: () => new ELU() },
  { name: 'SELU', act: () => new SELU() },
  { name: 'GELU', act: () => new GELU() },
  { name: 'SiLU', act: () => new SiLU() },
];

/** The clinic's experiments, in the order they print. */
export const experiments: Experiment[] = [
  {
    id: 'shift',
    title: '1. Shifted pre-activations: a hidden layer centred at +0.1 versus -0.1',
    specs(quick) {
      const steps = budget(quick, 300);
      // Tiny weights make each hidden unit's pre-activation ≈ its bias, so the bias sets the centre.
      const mlp = (centre: number) => () => {
        const hidden = new Linear(784, 128);
        init.normal(hidden.weight.data, 0, 0.002);
        init.constant(hidden.bias!.data, centre);
        return new Sequential(hidden, new ReLU(), new Linear(128, 10));
      };
      return [
        { name: 'centre +0.1', model: mlp(0.1), optimizer: sgd(0.05), images: false, batchSize: 32, steps },
        { name: 'centre -0.1', model: mlp(-0.1), optimizer: sgd(0.05), images: false, batchSize: 32, steps },
      ];
    },
    summarise(runs) {
      const [up, down] = runs as [SeededRun, SeededRun];
      const atStart = (run: SeededRun) => per(run, (r) => Object.values(r.history[0]?.deadFraction ?? {})[0] ?? NaN);
      const holds = holdsGreater(dead(down), dead(up));
      const verdict = `Centred at -0.1, ${pm(atStart(down))} of the hidden units were dead in the first step and ${pm(dead(down))} at the end (accuracy ${pm(acc(down))}), against ${pm(dead(up))} at +0.1 (${pm(acc(up))})${holds === true ? ': dead units get no gradient, so they do not recover.' : '.'}`;
      return result(runs, 'more units end up dead when the pre-activations start centred at -0.1 than at +0.1', holds, verdict);
    },
  },
  {
    id: 'lr',
    title: `2. Learning rate too high: the small CNN at lr ${GOOD_LR} and ${BAD_LR}, then the remedies at ${BAD_LR}`,
    specs(quick) {
      const steps = budget(quick, 300);
      const base = { model: () => cnn(), images: true, batchSize: 32, steps };
      return [
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
      ];
    },
    summarise(runs) {
      const [good, bad, ...remedies] = runs as [SeededRun, SeededRun, ...SeededRun[]];
      const holds = holdsGreater(dead(bad), dead(good));
      // A remedy counts when it cuts the dead share and raises accuracy, both beyond the spread.
      const fixed = remedies.filter((r) => holdsGreater(dead(bad), dead(r)) === true && holdsGreater(acc(r), acc(bad)) === true);
      const verdict = `At lr ${BAD_LR}, ${pm(dead(bad))} of the ReLU units were dead on the test set (accuracy ${pm(acc(bad))}) against ${pm(dead(good))} at lr ${GOOD_LR} (${pm(acc(good))}). ${fixed.length > 0 ? `Remedies that cut the dead share and raised accuracy beyond the spread: ${fixed.map((r) => `${r.name} (${pm(dead(r))} dead, ${pm(acc(r))})`).join('; ')}.` : 'No remedy both cut the dead share and raised accuracy beyond the spread.'}`;
      return result(runs, `more units die at lr ${BAD_LR} than at lr ${GOOD_LR}`, holds, verdict);
    },
  },
  {
    id: 'activation',
    title: `3. Activation at the bad lr (${BAD_LR}): ${ACTIVATIONS.map((a) => a.name.replace(/\(.*\)/, '')).join(', ')}`,
    specs(quick) {
      const steps = budget(quick, 300);
      const base = { images: true, batchSize: 32, steps, optimizer: sgd(BAD_LR), nearlyDeadThreshold: 1e-2 };
      return ACTIVATIONS.map(({ name, act }) => ({ ...base, name, model: () => cnn({ act }) }));
    },
    summarise(runs) {
      const zeros = (run: SeededRun) => per(run, (r) => (r.health.length ? r.health.reduce((a, h) => a + h.zeroFraction, 0) / r.health.length : NaN));
      const nearly = (run: SeededRun) => per(run, (r) => deadShare(r).nearly);
      const [plain, leaky] = runs as [SeededRun, SeededRun];
      const list = (f: (run: SeededRun) => number[], of: readonly SeededRun[] = runs) => of.map((r) => `${r.name} ${pm(f(r))}`).join(', ');
      // The dead rule (pre-activation <= 0 everywhere) is the ReLU family's; the smooth ones have none.
      const reluFamily = runs.filter((r) => /ReLU/.test(r.name));
      const diverged = runs.filter((r) => r.perSeed.some((x) => x.diverged)).map(runName);
      const stillNegative = mean(dead(leaky)) + mean(nearly(leaky)) >= 0.5 * (mean(dead(plain)) + mean(nearly(plain)));
      const verdict = `Exact zeros in the activations: ${list(zeros)}. Units negative on every test image ("dead" by the pre-activation rule, ReLU family only): ${list(dead, reluFamily)}; of the rest, nearly dead (max |output| < 0.01): ${list(nearly)}. ${mean(zeros(leaky)) < mean(zeros(plain)) ? 'Leaky slopes remove the exact zeros' : 'Leaky slopes did not remove the exact zeros here'}${stillNegative ? ', but the units stay negative: their outputs are merely small, which is what practitioners see.' : ' and the units came back to life.'}${diverged.length > 0 ? ` ${diverged.join(', ')}: the loss or a gradient became non-finite at this lr.` : ''} Accuracy: ${list(acc)}.`;
      return result(runs, `at lr ${BAD_LR} LeakyReLU reaches a higher test accuracy than ReLU`, holdsGreater(acc(leaky), acc(plain)), verdict);
    },
  },
  {
    id: 'norm',
    title: '4. Normalisation at batch 32 and batch 2 (same number of images): an MLP with none, BatchNorm1d, GroupNorm; the CNN with BatchNorm2d',
    specs(quick) {
      // 4,800 images: BatchNorm's collapse at batch 2 shows well within them (and batch 2's
      // 2,400 steps per run are the clinic's longest).
      const images = budget(quick, 150) * 32;
      const specs: RunSpec[] = [];
      // Where BatchNorm's batch statistics are over the batch alone: features of an MLP, 2 values each at batch 2.
      const mlp = (norm?: (f: number) => Module) => () => new Sequential(new Linear(784, 128), ...(norm ? [norm(128)] : []), new ReLU(), new Linear(128, 64), ...(norm ? [norm(64)] : []), new ReLU(), new Linear(64, 10));
      for (const batchSize of [32, 2]) {
        const base = { images: false, batchSize, steps: Math.max(1, Math.round(images / batchSize)), optimizer: sgd(batchSize === 32 ? GOOD_LR : GOOD_LR / 4) };
        specs.push(
          { ...base, name: `MLP, none, batch ${batchSize}`, model: mlp() },
          { ...base, name: `MLP, BatchNorm1d, batch ${batchSize}`, model: mlp((f) => new BatchNorm1d(f)) },
          { ...base, name: `MLP, GroupNorm(4), batch ${batchSize}`, model: mlp((f) => new GroupNorm(4, f)) },
        );
      }
      for (const batchSize of [32, 2]) {
        specs.push({ images: true, batchSize, steps: Math.max(1, Math.round(images / batchSize)), optimizer: sgd(batchSize === 32 ? GOOD_LR : GOOD_LR / 4), name: `CNN, BatchNorm2d, batch ${batchSize}`, model: () => cnn({ norm: (c) => new BatchNorm2d(c) }) });
      }
      return specs;
    },
    summarise(runs) {
      const drop = (big: number, small: number) => runs[big]!.perSeed.map((r, i) => r.accuracy - runs[small]!.perSeed[i]!.accuracy);
      const bnDrop = drop(1, 4);
      const gnDrop = drop(2, 5);
      const cnnDrop = drop(6, 7);
      const holds = holdsGreater(bnDrop, gnDrop);
      const verdict = `From batch 32 to batch 2, the MLP with BatchNorm1d lost ${pm(bnDrop)} of test accuracy (${pm(acc(runs[1]!))} → ${pm(acc(runs[4]!))}) and with GroupNorm ${pm(gnDrop)} (${pm(acc(runs[2]!))} → ${pm(acc(runs[5]!))}); without normalisation ${pm(drop(0, 3))}. ${holds === true ? 'Statistics of 2 samples per feature are too noisy for BatchNorm, and group statistics do not depend on the batch (Wu & He 2018).' : ''} The CNN with BatchNorm2d lost ${pm(cnnDrop)}: there a channel's statistics pool over the batch and 28×28 positions, 1,568 values even at batch 2, which is why the earlier CNN-only version of this experiment did not reproduce the claim.`;
      return result(runs, 'BatchNorm loses more accuracy than GroupNorm going from batch 32 to batch 2 (MLP, paired by seed)', holds, verdict);
    },
  },
  {
    id: 'init',
    title: '5. Initialisation: a deep plain ReLU MLP under Xavier and He; narrow nets born dead',
    specs(quick) {
      const steps = budget(quick, 200);
      return [
        { name: 'Xavier (normal)', model: deepMlp(xavier), optimizer: sgd(0.01), images: false, batchSize: 32, steps },
        { name: 'He (kaiming normal)', model: deepMlp(he), optimizer: sgd(0.01), images: false, batchSize: 32, steps },
      ];
    },
    summarise(runs, ctx) {
      const trials = ctx.quick ? 200 : 4000;
      const widths = [2, 3, 5, 10];
      const expected: Record<number, string> = { 2: '~0.88', 3: '~0.58', 5: '~0.13', 10: '~0.001' };
      const seed = ctx.seeds[0]!;
      const bornDead = widths.map((width) => {
        ctx.progress(`born dead, width ${width}`, 0);
        return { width, he: bornDeadFraction(width, 10, trials, seed, 'he'), rai: width === 2 ? bornDeadFraction(width, 10, trials, seed, 'rai') : NaN };
      });
      const [x, h] = runs as [SeededRun, SeededRun];
      const holds = holdsGreater(acc(h), acc(x));
      const verdict = `He reached ${pm(acc(h))} and Xavier ${pm(acc(x))}${holds === true ? ': Xavier halves the signal\'s variance at every ReLU layer, so 20 layers shrink it ~10⁶-fold (He et al. 2015).' : '.'} Born dead (constant on [-1, 1], 10 weight layers, ${trials} nets): ${bornDead.map((b) => `width ${b.width} ${num(b.he, 3)}`).join(', ')}; RAI at width 2: ${num(bornDead[0]!.rai, 3)} (Lu et al. 2019 report ~0.27).`;
      return result(runs, 'a 20-layer ReLU MLP trains better under He than under Xavier initialisation', holds, verdict, [
        runTable(runs),
        {
          title: `Born dead: fraction of ${trials} random deep narrow ReLU nets (1-D input on [-1, 1], 10 weight layers, zero biases, He-normal weights) that are constant on the whole input domain (seed ${seed}; a Monte Carlo estimate, standard error ≤ ${num(0.5 / Math.sqrt(trials), 3)})`,
          header: ['width', 'born dead (He)', 'expected (Lu et al. 2019)', 'born dead (RAI)'],
          rows: bornDead.map((b) => [String(b.width), num(b.he, 3), expected[b.width]!, Number.isNaN(b.rai) ? '' : `${num(b.rai, 3)} (~0.27 expected)`]),
        },
      ]);
    },
  },
  {
    id: 'pooling',
    title: '6. The last pooling layer: global max, global average, global max + L2Norm',
    specs(quick) {
      const steps = budget(quick, POOLING.steps);
      const head = (pool: () => Module[]) => () =>
        new Sequential(new Conv2d(1, 16, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2), new Conv2d(16, POOLING.channels, 3, { padding: 1 }), new ReLU(), ...pool(), new Linear(POOLING.channels, 10));
      const base = { images: true, batchSize: 32, steps, optimizer: sgd(POOLING.lr) };
      return [
        { ...base, name: 'GlobalMaxPool2d', model: head(() => [new GlobalMaxPool2d()]) },
        { ...base, name: 'GlobalAvgPool2d', model: head(() => [new GlobalAvgPool2d()]) },
        { ...base, name: 'GlobalMaxPool2d + L2Norm(scale 10)', model: head(() => [new GlobalMaxPool2d(), new L2Norm({ scale: 10 })]) },
      ];
    },
    summarise(runs) {
      const [max, avg, l2] = runs as [SeededRun, SeededRun, SeededRun];
      const osc = (run: SeededRun) => per(run, (r) => r.lossOscillation);
      const holds = holdsGreater(osc(max), osc(l2));
      const accHolds = holdsGreater(acc(l2), acc(max));
      const verdict = `${POOLING.channels} channels before the global pooling, lr ${POOLING.lr}, ${POOLING.steps} steps. Loss oscillation (std over the last quarter): max ${pm(osc(max), false)}, avg ${pm(osc(avg), false)}, max + L2Norm ${pm(osc(l2), false)}; accuracy ${pm(acc(max))}, ${pm(acc(avg))}, ${pm(acc(l2))}. ${holds === true ? 'The blog\'s calmer loss reproduces.' : 'The blog\'s calmer loss does not reproduce here, neither in this setting nor in the first version of this experiment (16 channels, lr 0.04): the negative result stands, for this network and data; the blog\'s own network and data are not known here.'} Whether L2Norm raises accuracy over max pooling alone: ${said(accHolds)}`;
      return result(runs, 'L2Norm after global max pooling calms the loss (a smaller oscillation over the last quarter than max pooling alone)', holds, verdict);
    },
  },
  {
    id: 'recycle',
    title: `7. Recycling dormant units (ReDo, Sokar et al. 2023) at the lethal lr ${BAD_LR}: none versus diag.recycleDormant every ${RECYCLE.every} steps`,
    specs(quick) {
      const steps = budget(quick, 300);
      const base = { model: () => cnn(), images: true, batchSize: 32, steps, optimizer: sgd(BAD_LR), evalEvery: quick ? 3 : RECYCLE.every };
      return [
        { ...base, name: 'no recycling' },
        { ...base, name: `ReDo every ${quick ? 3 : RECYCLE.every} steps (τ ${RECYCLE.tau})`, recycle: { every: quick ? 3 : RECYCLE.every, tau: RECYCLE.tau } },
      ];
    },
    summarise(runs) {
      const [none, redo] = runs as [SeededRun, SeededRun];
      const steps = none.perSeed[0]!.accuracyCurve.map(([s]) => s);
      const at = (run: SeededRun, i: number) => per(run, (r) => r.accuracyCurve[i]?.[1] ?? NaN);
      const recycled = per(redo, (r) => r.recycled);
      const holds = holdsGreater(dead(none), dead(redo));
      const accHolds = holdsGreater(acc(redo), acc(none));
      const over: Table = {
        title: 'Test accuracy over training (mean ± std over seeds)',
        header: ['run', ...steps.map((s) => `step ${s}`)],
        rows: runs.map((run) => [runName(run), ...steps.map((_, i) => pm(at(run, i)))]),
      };
      const r = spread(recycled);
      const verdict = `Recycling ${r.mean.toFixed(0)}${Number.isFinite(r.std) ? ` ± ${r.std.toFixed(0)}` : ''} units per run, ReDo ended with ${pm(dead(redo))} of the units dead on the test set and ${pm(acc(redo))} accuracy, against ${pm(dead(none))} and ${pm(acc(none))} without (the dead share per batch over time is in the curves, accuracy over time in the second table). Whether recycling also raises the final accuracy: ${said(accHolds)}`;
      return {
        ...result(runs, `at lr ${BAD_LR}, recycling dormant units every ${RECYCLE.every} steps leaves fewer units dead at the end of training`, holds, verdict, [runTable(runs), over]),
        curves: [{ title: 'test accuracy', percent: true, yLabel: 'accuracy', runs: runs.map((run) => ({ name: run.name, perSeed: run.perSeed.map((r) => r.accuracyCurve) })) }],
      };
    },
  },
  {
    id: 'residual',
    title: '8. Skip connections: a 20-layer ReLU MLP, plain versus residual (nn.Graph with nn.Add, Fixup-scaled branches), under Xavier and He',
    specs(quick) {
      const steps = budget(quick, 200);
      const base = { optimizer: sgd(0.01), images: false, batchSize: 32, steps };
      return [
        { ...base, name: 'plain, Xavier', model: deepMlp(xavier) },
        { ...base, name: 'residual, Xavier', model: deepMlp(xavier, { residual: true }) },
        { ...base, name: 'plain, He', model: deepMlp(he) },
        { ...base, name: 'residual, He', model: deepMlp(he, { residual: true }) },
      ];
    },
    summarise(runs) {
      const [px, rx, ph, rh] = runs as [SeededRun, SeededRun, SeededRun, SeededRun];
      const xavierHolds = holdsGreater(acc(rx), acc(px));
      const heHolds = holdsGreater(acc(rh), acc(ph));
      const verdict = `Under Xavier the plain net reached ${pm(acc(px))} and the residual one ${pm(acc(rx))}; under He ${pm(acc(ph))} and ${pm(acc(rh))}. A skip connection carries the signal (and its gradient) past every layer, so depth no longer shrinks it (the residual branches' weights are scaled by 1/√19 as in Fixup: without that or a normalisation, the sum of 19 branches blows the signal up and training diverges).`;
      return result(runs, 'with skip connections the 20-layer MLP reaches a higher accuracy than the plain one, under both Xavier and He', allHold([xavierHolds, heHolds]), `${verdict} Xavier: ${said(xavierHolds)} He: ${said(heHolds)}`);
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
