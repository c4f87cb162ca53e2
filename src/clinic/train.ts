// The training loop every clinic experiment shares, and the numbers it reports.
import { DataLoader, accuracy, digitsDataset, type Column } from '../data/loader.js';
import { loadDigits, subset, trainTestSplit, type Digits } from '../data/mnist.js';
import * as diag from '../diag/index.js';
import { manualSeed } from '../init/rng.js';
import { CrossEntropyLoss } from '../nn/loss.js';
import type { Module } from '../nn/module.js';
import * as optim from '../optim/index.js';
import { Tensor } from '../tensor.js';

/** What a layer looked like over one window of forward passes. */
export interface LayerHealth {
  layer: string;
  kind: string;
  units: number;
  dead: number;
  nearlyDead: number;
  zeroFraction: number;
}


export interface RunResult {
  name: string;
  /** Test-set accuracy in [0, 1]. */
  accuracy: number;
  /** Mean training loss over the last tenth of the steps. */
  finalLoss: number;
  /** Standard deviation of the training loss over the last quarter of the steps. */
  lossOscillation: number;
  /** Per watched layer, over the whole test set in eval mode. */
  health: LayerHealth[];
  /** Per step: loss, lr, dead fraction per layer of that step's batch, gradient norm. */
  history: diag.TrainingRecord[];
  /** Warnings the training monitor raised (dead layers, jumps after lr changes, ...). */
  warnings: diag.TrainingWarning[];
  diverged: boolean;
  /** Units `diag.recycleDormant` recycled over the run (0 without `spec.recycle`). */
  recycled: number;
  /** Test accuracy every `spec.evalEvery` steps: [step, accuracy] (empty without it). */
  accuracyCurve: [number, number][];
  seconds: number;
}

export interface RunSpec {
  name: string;
  /** Builds the model (called after the generator is seeded). */
  model: () => Module;
  /** The optimiser for the model's parameters, and optionally a schedule stepped every step. */
  optimizer: (params: ReturnType<Module['parameters']>) => { opt: optim.Optimizer; sched?: { step(): void } };
  /** Images as `[N, 1, 28, 28]` (true) or `[N, 784]` (false). */
  images: boolean;
  batchSize: number;
  steps: number;
  /** Clip the gradient norm to this before each step. */
  clipNorm?: number;
  nearlyDeadThreshold?: number;
  /** ReDo: every `every` steps, `diag.recycleDormant` over that step's batch with this `tau`. */
  recycle?: { every: number; tau: number };
  /** Measure test accuracy every this many steps (for accuracy over time). */
  evalEvery?: number;
}

/** The clinic's data: the bundled digits split by `splitSeed` (a few hundred with `quick`); the same in every worker thread. */
export function clinicData(splitSeed: number, quick: boolean): { train: Digits; test: Digits } {
  const data = trainTestSplit(loadDigits(), { seed: splitSeed });
  if (!quick) return data;
  const first = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
  return { train: subset(data.train, first(256)), test: subset(data.test, first(200)) };
}

/** Endless batches: pass after pass of `loader`, each in a new order. */
function* batches(loader: DataLoader): Generator<{ x: Tensor; y: Int32Array }> {
  if (loader.length === 0) throw new RangeError(`batch size ${loader.batchSize} is larger than the ${loader.dataset.length} training digits`);
  for (;;) for (const [x, y] of loader as Iterable<Column[]>) yield { x: x as Tensor, y: y as Int32Array };
}

function healthOf(report: ReturnType<diag.ActivationMonitor['report']>): LayerHealth[] {
  return report.map((r) => ({ layer: r.layer, kind: r.kind, units: r.units, dead: r.dead, nearlyDead: r.nearlyDead, zeroFraction: r.zeroFraction }));
}

function std(values: number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
}

/** Test accuracy and per-layer health over the whole test set, in eval mode. */
export function evaluate(model: Module, test: Digits, images: boolean, nearlyDeadThreshold: number): { accuracy: number; health: LayerHealth[] } {
  const monitor = new diag.ActivationMonitor(model, { nearlyDeadThreshold });
  model.eval();
  let correct = 0;
  for (const [x, y] of new DataLoader(digitsDataset(test, { flat: !images }), { batchSize: 500 })) {
    correct += accuracy(model.forward(x as Tensor), y as Int32Array) * (y as Int32Array).length;
  }
  const health = healthOf(monitor.report());
  monitor.detach();
  model.train();
  return { accuracy: correct / test.count, health };
}

/**
 * Trains `spec` on `train` for `spec.steps` steps, recording the loss, lr and per-layer dead
 * fraction every `recordEvery` steps, then evaluates on `test`. A run whose loss becomes
 * non-finite stops there and is reported as diverged.
 */
export function run(spec: RunSpec, data: { train: Digits; test: Digits }, { seed, onStep }: { seed: number; onStep?: (step: number) => void }): RunResult {
  const started = performance.now();
  const nearlyDeadThreshold = spec.nearlyDeadThreshold ?? 1e-3;
  manualSeed(seed);
  const model = spec.model();
  const { opt, sched } = spec.optimizer(model.parameters());
  const lossFn = new CrossEntropyLoss();
  const monitor = new diag.ActivationMonitor(model, { nearlyDeadThreshold });
  const training = new diag.TrainingMonitor({ activations: monitor, model, resetEachStep: true });
  const train = batches(new DataLoader(digitsDataset(data.train, { flat: !spec.images }), { batchSize: spec.batchSize, shuffle: true, dropLast: true, seed: seed + 1 }));
  const losses: number[] = [];
  const accuracyCurve: [number, number][] = [];
  let recycled = 0;
  let diverged = false;
  model.train();
  for (let step = 0; step < spec.steps; step++) {
    const { x, y } = train.next().value!;
    const lr = opt.lr;
    const loss = lossFn.forward(model.forward(x), y);
    if (!Number.isFinite(loss)) {
      diverged = true;
      break;
    }
    losses.push(loss);
    opt.zeroGrad();
    model.backward(lossFn.backward(), { inputGrad: false }); // the images need no gradient
    try {
      // Both throw a RangeError, and change nothing, on a non-finite gradient.
      if (spec.clipNorm !== undefined) optim.clipGradNorm(model.parameters(), spec.clipNorm);
      opt.step();
    } catch (e) {
      if (e instanceof RangeError && /finite/.test(e.message)) {
        diverged = true;
        break;
      }
      throw e;
    }
    training.step({ loss, lr });
    // The monitor's window is still this step's batch (it starts anew at the next forward).
    if (spec.recycle && (step + 1) % spec.recycle.every === 0) recycled += diag.recycleDormant(model, monitor, { tau: spec.recycle.tau, optimizer: opt });
    if (spec.evalEvery && (step + 1) % spec.evalEvery === 0) {
      accuracyCurve.push([step + 1, evaluate(model, data.test, spec.images, nearlyDeadThreshold).accuracy]);
      monitor.reset(); // it watched the test forwards too: the next step starts a clean window
    }
    sched?.step();
    onStep?.(step + 1);
  }
  monitor.detach();
  const { accuracy, health } = diverged ? { accuracy: NaN, health: [] } : evaluate(model, data.test, spec.images, nearlyDeadThreshold);
  const tail = (fraction: number) => losses.slice(Math.floor(losses.length * (1 - fraction)));
  return {
    name: spec.name,
    accuracy,
    finalLoss: diverged ? NaN : tail(0.1).reduce((a, b) => a + b, 0) / tail(0.1).length,
    lossOscillation: diverged ? NaN : std(tail(0.25)),
    health,
    history: training.history,
    warnings: training.warnings,
    diverged,
    recycled,
    accuracyCurve,
    seconds: (performance.now() - started) / 1000,
  };
}
