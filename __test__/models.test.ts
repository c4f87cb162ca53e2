// models.resnet18 / resnet34 / mobilenetV2 against torchvision (scripts/make_fixtures.py, models).
//
// The fixtures commit no weights: every parameter and buffer comes from a formula that the
// script and `formulaValues` below compute bit for bit alike (a 32-bit hash of the state-dict key
// and the element's index, scaled in float64 by the entry's role, rounded once to float32), and
// so does the input. torchvision's model and liven's get the same numbers through their state
// dicts, which also checks that the keys mean the same tensors. Tensors too large to commit
// (gradients, running statistics) are compared by their sum, L2 norm and 16 fixed entries.
//
// Tolerances. Float32 sums in another order differ by ~1e-6 relative per layer; through 18 to
// 34 layers of convolutions and batch normalisations over batches of 2 (whose small variances
// amplify the differences) forward and back, they grow to the errors measured at `tolerance`.
// A ReLU whose pre-activation is within rounding of 0 can take the other branch, which moves a
// few gradient entries more than a sum or a norm: the sampled entries are compared against the
// tensor's RMS. A wrong index, stride, padding, width or order is off by 1e-2 or more.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as src from '../src/index.js';
import { Tensor, diag, io, models, nn } from '../src/index.js';
import * as dist from '../dist/index.js';
import { backends, describeEachBackend } from './helpers/backends.js';
import type { FixtureTensor } from './helpers/fixtures.js';
import { expectClose } from './helpers/numeric.js';

interface Summary {
  size: number;
  sum: number;
  norm: number;
  at: number[];
  values: number[];
}
interface Run {
  inputShape: number[];
  target: number[];
  evalLogits: FixtureTensor;
  logits: FixtureTensor;
  loss: number;
  gradInput: Summary;
  grads: Record<string, Summary>;
  buffers: Record<string, Summary>;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/models.json', import.meta.url), 'utf8')) as {
  keys: Record<string, Record<string, number[]>>;
  formulaProbe: Record<string, number[]>;
  resnet18: Run;
  resnet34: Run;
  mobilenetV2: Run;
  mobilenetV2File: { options: { numClasses: number; widthMult: number }; inputShape: number[]; evalLogits: FixtureTensor };
};
/** Equal float32 bits (fast enough for millions of elements, where a deep toEqual is not). */
function expectSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  expect(actual.length, `${what}: length`).toBe(expected.length);
  expect(bytes(actual).equals(bytes(expected)), `${what}: the same bits`).toBe(true);
}

/** Two state dicts with the same keys in the same order and the same bits. */
function expectSameState(actual: Record<string, Tensor>, expected: Record<string, Tensor>): void {
  expect(Object.keys(actual)).toEqual(Object.keys(expected));
  for (const [key, t] of Object.entries(expected)) expectSameBits(actual[key]!.data, t.data, key);
}

const mobilenetFile = fileURLToPath(new URL('./fixtures/safetensors/mobilenet_v2_w025.safetensors', import.meta.url));

/** The fixture script's formula_values: deterministic float32 values for the entry `key`. */
function formulaValues(key: string, shape: readonly number[]): Float32Array {
  let seed = 0x811c9dc5;
  for (const byte of Buffer.from(key)) seed = Math.imul(seed ^ byte, 0x01000193) >>> 0;
  const size = shape.reduce((a, b) => a * b, 1);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let h = seed ^ Math.imul(i + 1, 0x9e3779b1);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    const u = (h >>> 8) / 2 ** 24;
    if (key === 'input') out[i] = (2 * u - 1) * 2;
    else if (key.endsWith('running_mean')) out[i] = (2 * u - 1) * 0.1;
    else if (key.endsWith('running_var')) out[i] = 0.5 + u;
    else if (shape.length === 1 && key.endsWith('weight')) out[i] = 0.75 + 0.5 * u;
    else if (shape.length === 1) out[i] = (2 * u - 1) * 0.1;
    else out[i] = (2 * u - 1) * Math.sqrt(6 / fanIn);
  }
  return out;
}

/** A state dict for `model` from the formula (num_batches_tracked 0, as in torchvision's fresh model). */
function formulaStateDict(model: nn.Module): Record<string, Tensor> {
  const dict: Record<string, Tensor> = {};
  for (const [key, t] of Object.entries(model.stateDict())) {
    dict[key] = key.endsWith('num_batches_tracked') ? Tensor.zeros(t.shape) : Tensor.from(formulaValues(key, t.shape), [...t.shape]);
  }
  return dict;
}

/**
 * The largest relative error of a summarised tensor: of its L2 norm, of its sum (relative to
 * |sum| + norm) and of the sampled entries (relative to |entry| + the tensor's RMS). `floor`
 * is the smallest norm errors are relative to: a gradient that is 0 analytically (a BatchNorm
 * bias whose output only feeds a linear conv and another BatchNorm) is float32 noise in both.
 */
function summaryError(actual: Float32Array, want: Summary, floor = 0): number {
  expect(actual.length).toBe(want.size);
  let sum = 0;
  let sq = 0;
  for (const v of actual) {
    sum += v;
    sq += v * v;
  }
  const scale = Math.max(want.norm, floor);
  const rms = scale / Math.sqrt(want.size);
  let worst = Math.max(Math.abs(Math.sqrt(sq) - want.norm) / scale, Math.abs(sum - want.sum) / (Math.abs(want.sum) + scale));
  want.at.forEach((i, k) => {
    worst = Math.max(worst, Math.abs(actual[i]! - want.values[k]!) / (Math.abs(want.values[k]!) + rms));
  });
  return worst;
}

function expectSummary(actual: Float32Array, want: Summary, what: string, rtol: number, floor = 0): void {
  const err = summaryError(actual, want, floor);
  expect(err, `${what}: relative error (sum, norm, entries ${want.at.join(', ')})`).toBeLessThanOrEqual(rtol);
}

/**
 * Per run, the relative tolerances of the logits and of the gradient and buffer summaries: about
 * 20 times the largest error measured on either backend (resnet18: logits 4e-6, summaries 6e-5;
 * resnet34: 1.5e-5 and 9e-5; mobilenetV2: 1.1e-5 and 1.4e-2). MobileNetV2's gradients are the
 * ill-conditioned ones: batch statistics over few values amplify a single ReLU6 that rounding
 * moves across 0 or 6, and PyTorch's own float32 gradients differ from its float64 ones by up
 * to 1.2% here; a wrong backward (the residual, the depthwise conv, ReLU6's flat parts) is off
 * by far more.
 */
const tolerance = {
  resnet18: { logits: 1e-4, grads: 1e-3 },
  resnet34: { logits: 3e-4, grads: 2e-3 },
  mobilenetV2: { logits: 2e-4, grads: 5e-2 },
};

/** Norms below this are float32 noise around an analytic 0 (see summaryError). */
const floorOf = (run: Run) => 1e-4 * Math.max(...Object.values(run.grads).map((g) => g.norm));

/** The package under test: the sources, or the compiled dist/ that nn.ModelWorker runs. */
type Lib = typeof src;
const distLib = dist as unknown as Lib;

/** How a test runs the model's passes: directly, or through a worker. */
interface Passes {
  forward(x: Tensor): Tensor | Promise<Tensor>;
  backward(gradOutput: Tensor): Tensor | Promise<Tensor>;
}

/**
 * Loads the formula weights into `model` (built by `lib`), then checks eval logits, and one
 * training forward, loss and backward (input and parameter gradients, running statistics),
 * against the fixture's run.
 */
async function expectTorchvisionRun(lib: Lib, model: nn.Module, passes: Passes, run: Run, { logits: rtol, grads: gradRtol }: { logits: number; grads: number }): Promise<void> {
  const dict = Object.fromEntries(Object.entries(formulaStateDict(model)).map(([k, t]) => [k, lib.Tensor.from(t.data, [...t.shape])]));
  expect(model.loadStateDict(dict)).toEqual({ missingKeys: [], unexpectedKeys: [] });
  const x = lib.Tensor.from(formulaValues('input', run.inputShape), run.inputShape);
  const largest = (t: FixtureTensor) => t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  model.eval();
  expectClose((await passes.forward(x)).data, run.evalLogits, 'eval logits', { atol: rtol * largest(run.evalLogits), rtol });
  model.train();
  model.zeroGrad();
  const logits = await passes.forward(x);
  expectClose(logits.data, run.logits, 'training logits', { atol: rtol * largest(run.logits), rtol });
  const lossFn = new lib.nn.CrossEntropyLoss();
  expect(lossFn.forward(logits, run.target)).toBeCloseTo(run.loss, 4);
  expectSummary((await passes.backward(lossFn.backward())).data, run.gradInput, 'input gradient', gradRtol);
  const params = new Map(model.namedParameters());
  expect([...params.keys()]).toEqual(Object.keys(run.grads));
  for (const [name, s] of Object.entries(run.grads)) expectSummary(params.get(name)!.grad.data, s, `gradient of ${name}`, gradRtol, floorOf(run));
  const buffers = new Map(model.namedBuffers());
  expect([...buffers.keys()]).toEqual(Object.keys(run.buffers));
  for (const [name, s] of Object.entries(run.buffers)) expectSummary(buffers.get(name)!.data, s, `buffer ${name}`, gradRtol);
}

/** What each fixture run was built with: numClasses 10 and, for MobileNetV2, no dropout (so that train mode is deterministic). */
const builders = {
  resnet18: (lib: Lib) => lib.models.resnet18({ numClasses: 10 }),
  resnet34: (lib: Lib) => lib.models.resnet34({ numClasses: 10 }),
  mobilenetV2: (lib: Lib) => lib.models.mobilenetV2({ numClasses: 10, dropout: 0 }),
};

describe('models: torchvision state-dict keys', () => {
  const cases: [string, () => nn.Module][] = [
    ['resnet18', () => models.resnet18()],
    ['resnet18 numClasses 10', () => models.resnet18({ numClasses: 10 })],
    ['resnet34', () => models.resnet34()],
    ['mobilenetV2', () => models.mobilenetV2()],
    ...[0.25, 0.35, 0.5, 0.75, 1.3, 1.4].map((w): [string, () => nn.Module] => [`mobilenetV2 widthMult ${w}`, () => models.mobilenetV2({ widthMult: w, numClasses: 10 })]),
  ];
  it('covers every case the fixture script recorded', () => {
    expect(cases.map(([name]) => name).sort()).toEqual(Object.keys(fixture.keys).sort());
  });
  for (const [name, build] of cases) {
    it(`${name}: the same keys in the same order, with the same shapes`, () => {
      const shapes = Object.entries(build().stateDict()).map(([k, t]) => [k, [...t.shape]]);
      // torchvision's num_batches_tracked is a 0-d int64 tensor, liven's a 0-d float32 one.
      expect(shapes).toEqual(Object.entries(fixture.keys[name]!));
    });
  }

  it('inChannels changes conv1 only', () => {
    const model = models.resnet18({ inChannels: 1 });
    const gray = Object.entries(model.stateDict()).map(([k, t]) => [k, [...t.shape]]);
    expect(gray).toEqual(Object.entries(fixture.keys.resnet18!).map(([k, s]) => [k, k === 'conv1.weight' ? [64, 1, 7, 7] : s]));
    expect(model.forward(Tensor.zeros([2, 1, 28, 28])).shape).toEqual([2, 1000]);
  });

  it("the weight formula gives the fixture script's float32 values bit for bit", () => {
    for (const [key, values] of Object.entries(fixture.formulaProbe)) {
      expect([...formulaValues(key, key === 'fc.bias' ? [5] : [5, 3]).subarray(0, 5)], key).toEqual(values);
    }
  });

  it('initialises as torchvision: He-normal fan-out convs, BatchNorm 1 and 0, MobileNetV2 linear N(0, 0.01) and zero bias', () => {
    const std = (t: Tensor) => Math.sqrt(t.data.reduce((s, v) => s + v * v, 0) / t.size);
    const r = models.resnet18();
    const conv = r.stateDict()['layer3.0.conv2.weight']!; // 256 out channels, 3×3: std √(2 / (256·9))
    expect(std(conv)).toBeCloseTo(Math.sqrt(2 / (256 * 9)), 3);
    expect(new Set(r.stateDict()['layer1.0.bn1.weight']!.data)).toEqual(new Set([1]));
    const m = models.mobilenetV2();
    expect(std(m.stateDict()['classifier.1.weight']!)).toBeCloseTo(0.01, 3);
    expect(new Set(m.stateDict()['classifier.1.bias']!.data)).toEqual(new Set([0]));
  });
});

describeEachBackend('models against torchvision', (backend) => {
  // ResNet-34 repeats ResNet-18's blocks: on the (slow) js backend, ResNet-18 covers them.
  for (const name of backend === 'js' ? (['resnet18', 'mobilenetV2'] as const) : (['resnet18', 'mobilenetV2', 'resnet34'] as const)) {
    it(`${name}: eval logits, then training logits, loss, input and parameter gradients, running statistics`, async () => {
      const model = builders[name](src);
      await expectTorchvisionRun(src, model, model, fixture[name], tolerance[name]);
    });
  }

  it("loads a MobileNetV2 that PyTorch saved with safetensors, strictly, and gives PyTorch's eval logits", () => {
    const f = fixture.mobilenetV2File;
    const model = models.mobilenetV2(f.options);
    expect(model.loadStateDict(io.loadSafetensors(mobilenetFile))).toEqual({ missingKeys: [], unexpectedKeys: [] });
    // Trained running statistics: three training passes in PyTorch.
    expect(model.stateDict()['features.0.1.num_batches_tracked']!.data[0]).toBe(3);
    model.eval();
    const x = Tensor.from(formulaValues('input', f.inputShape), f.inputShape);
    expectClose(model.forward(x), f.evalLogits, 'eval logits', { atol: 1e-5, rtol: 1e-4 });
  });

  it('a config round trip (through JSON) gives the same model: keys, outputs and gradients bit for bit', () => {
    for (const model of [models.resnet18({ numClasses: 10 }), models.mobilenetV2({ numClasses: 10, widthMult: 0.25, dropout: 0 })]) {
      const config = JSON.parse(JSON.stringify(model.toConfig())) as nn.ModuleConfig;
      const again = nn.moduleFromConfig(config);
      expect(again.toConfig()).toEqual(config);
      again.loadStateDict(model.stateDict());
      const x = Tensor.from(formulaValues('input', [2, 3, 32, 32]), [2, 3, 32, 32]);
      for (const m of [model, again]) m.eval();
      expectSameBits(again.forward(x).data, model.forward(x).data, 'eval output');
      for (const m of [model, again]) m.train();
      const y = model.forward(x);
      expectSameBits(again.forward(x).data, y.data, 'training output');
      const g = Tensor.from(formulaValues('gradient', y.shape), [...y.shape]);
      expectSameBits(again.backward(g).data, model.backward(g).data, 'input gradient');
      const grads = new Map(again.namedParameters());
      for (const [name, p] of model.namedParameters()) expectSameBits(grads.get(name)!.grad.data, p.grad.data, `gradient of ${name}`);
      expectSameState(again.stateDict(), model.stateDict());
    }
  });
});

describe('models through nn.ModelWorker', () => {
  const workers: dist.nn.ModelWorker[] = [];
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.terminate()));
  });
  for (const backend of backends) {
    for (const name of ['resnet18', 'mobilenetV2'] as const) {
      it(`${name} [${backend}]: PyTorch's eval and training logits, input gradient, running statistics and gradients`, async () => {
        // The worker runs the compiled package (dist/), whose backend switch is its own.
        const previous = dist.getBackend();
        dist.setBackend(backend);
        try {
          const model = builders[name](distLib);
          const worker = new dist.nn.ModelWorker(model as unknown as dist.nn.Module);
          workers.push(worker);
          const passes = { forward: (x: Tensor) => worker.forward(x as unknown as dist.Tensor), backward: (g: Tensor) => worker.backward(g as unknown as dist.Tensor) } as unknown as Passes;
          await expectTorchvisionRun(distLib, model, passes, fixture[name], tolerance[name]);
        } finally {
          dist.setBackend(previous);
        }
      });
    }
  }
});

describe('models: names a monitor report shows', () => {
  it("resnet18: every ReLU by its node path, both of a BasicBlock's", () => {
    const model = models.resnet18({ numClasses: 10 });
    const monitor = new diag.ActivationMonitor(model);
    model.forward(Tensor.from(formulaValues('input', [2, 3, 32, 32]), [2, 3, 32, 32]));
    const blocks = [1, 2, 3, 4].flatMap((l) => [0, 1].flatMap((b) => [`layer${l}.${b}.relu1`, `layer${l}.${b}.relu2`]));
    expect(monitor.report().map((r) => r.layer)).toEqual(['relu', ...blocks]);
    monitor.detach();
  });

  it('mobilenetV2: every ReLU6 by its torchvision module path', () => {
    const model = models.mobilenetV2({ numClasses: 10, widthMult: 0.25 });
    const monitor = new diag.ActivationMonitor(model);
    model.eval().forward(Tensor.from(formulaValues('input', [2, 3, 32, 32]), [2, 3, 32, 32]));
    const blocks = Array.from({ length: 17 }, (_, i) => (i === 0 ? ['features.1.conv.0.2'] : [`features.${i + 1}.conv.0.2`, `features.${i + 1}.conv.1.2`])).flat();
    expect(monitor.report().map((r) => r.layer)).toEqual(['features.0.2', ...blocks, 'features.18.2']);
    expect(new Set(monitor.report().map((r) => r.kind))).toEqual(new Set(['ReLU6']));
    monitor.detach();
  });
});

describe('models: the classifier', () => {
  it("mobilenetV2 puts its dropout before the classifier's linear layer, as torchvision", () => {
    const model = models.mobilenetV2({ numClasses: 7, widthMult: 0.25, dropout: 0.3 });
    const classifier = (model.toConfig() as nn.GraphConfig).nodes.find((n) => n.name === 'classifier')!.module;
    expect(classifier).toEqual({ type: 'Sequential', layers: [{ type: 'Dropout', p: 0.3 }, expect.objectContaining({ type: 'Linear', inFeatures: 1280, outFeatures: 7 })] });
  });
});

describe('models: bad options and inputs', () => {
  it('rejects bad options with the option and value in the message', () => {
    expect(() => models.resnet18({ numClasses: 0 })).toThrow(RangeError);
    expect(() => models.resnet18({ numClasses: 0 })).toThrow(/numClasses.*0/);
    expect(() => models.resnet34({ inChannels: 2.5 })).toThrow(RangeError);
    expect(() => models.resnet18({ numClasses: '10' as unknown as number })).toThrow(TypeError);
    expect(() => models.resnet18({ numclasses: 10 } as unknown as models.ResNetOptions)).toThrow(/no option "numclasses"; its options are numClasses, inChannels/);
    expect(() => models.resnet18(null as unknown as models.ResNetOptions)).toThrow(TypeError);
    expect(() => models.mobilenetV2({ widthMult: 0 })).toThrow(RangeError);
    expect(() => models.mobilenetV2({ widthMult: Number.NaN })).toThrow(RangeError);
    expect(() => models.mobilenetV2({ dropout: 1 })).toThrow(/dropout must be in \[0, 1\), got 1/);
    expect(() => models.mobilenetV2({ dropout: -0.1 })).toThrow(RangeError);
    expect(() => models.mobilenetV2({ width: 1 } as unknown as models.MobileNetV2Options)).toThrow(TypeError);
  });

  it('an input with the wrong channels is a RangeError naming the shapes, and changes nothing', () => {
    const model = models.resnet18({ numClasses: 10 });
    const before = model.stateDict();
    expect(() => model.forward(Tensor.zeros([2, 1, 32, 32]))).toThrow(RangeError);
    expect(() => model.forward(Tensor.zeros([2, 1, 32, 32]))).toThrow(/\[2, 1, 32, 32\]/);
    expect(() => model.forward(Tensor.zeros([3, 32, 32]))).toThrow(RangeError);
    // One 32×32 image reaches layer4 as [1, 512, 1, 1]: one value per channel, which training-mode
    // BatchNorm refuses, after the earlier BatchNorms have run; their statistics are restored.
    expect(() => model.train().forward(Tensor.from(formulaValues('input', [1, 3, 32, 32]), [1, 3, 32, 32]))).toThrow(/more than 1 value per channel.*\[1, 512, 1, 1\]/);
    expectSameState(model.stateDict(), before);
  });
});
