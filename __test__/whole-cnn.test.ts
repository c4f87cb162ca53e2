// A whole CNN whose weights PyTorch saved (scripts/make_fixtures.py, whole_cnn): liven builds it
// from its config, loads the file, and must give PyTorch's logits, loss, every gradient, the
// BatchNorm running statistics and the parameters after two SGD steps with momentum.
//
// Tolerances. liven and PyTorch sum in different orders (gemm blocking, SIMD lanes, threads), so
// each float32 sum of K terms differs by about sqrt(K)·2^-24 of the terms' magnitude; the deepest
// sums here are the conv weight gradients (K = 5·11·9 = 495 positions), and the normalisations
// divide by standard deviations near 1, so they do not amplify. Over the ~10 layers forward and
// back that is ~1e-6 of a tensor's largest value (measured on both backends: at most 1.0e-6).
// Each tensor is compared with an absolute tolerance of SCALE · (its largest |value|) plus the
// same relative one, 20 times the measured error, while a wrong index, formula, option or branch
// is off by 1e-3 or more (momentum 0.85 instead of 0.9 moves a weight by 1e-4 = 30 · atol).
// The fixture keeps every ReLU pre-activation and max-pool choice at least 1e-5 from a tie
// (kinkMargins), so rounding cannot flip a branch and these bounds hold everywhere.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { Tensor, io, nn, optim } from '../src/index.js';
import * as dist from '../dist/index.js';
import { describeEachBackend } from './helpers/backends.js';
import type { FixtureTensor } from './helpers/fixtures.js';
import { expectClose } from './helpers/numeric.js';

interface Step {
  input: FixtureTensor;
  target: number[];
  logits: FixtureTensor;
  loss: number;
  gradInput: FixtureTensor;
  grads: Record<string, FixtureTensor>;
  buffers: Record<string, FixtureTensor>;
  params: Record<string, FixtureTensor>;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/whole-cnn.json', import.meta.url), 'utf8')) as {
  config: nn.ModuleConfig;
  stateDict: Record<string, { shape: number[]; dtype: string }>;
  sgd: { lr: number; momentum: number; weightDecay: number };
  evalLogits: FixtureTensor;
  steps: [Step, Step];
  evalLogitsAfter: FixtureTensor;
  kinkMargins: [number, number][];
};
const weightsPath = fileURLToPath(new URL('./fixtures/safetensors/whole_cnn.safetensors', import.meta.url));

const SCALE = 2e-5;
function expectNear(actual: Tensor | Float32Array, expected: FixtureTensor, what: string): void {
  const largest = expected.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expectClose(actual, expected, what, { atol: SCALE * largest, rtol: SCALE });
}
const bits = (t: { data: Float32Array }) => [...new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)];
const input = (s: Step) => Tensor.from(s.input.data, s.input.shape);

/** The model as a PyTorch user would get it here: config, then PyTorch's file, strict. */
function load(): nn.Sequential {
  const model = nn.Sequential.fromConfig(structuredClone(fixture.config));
  expect(model.loadStateDict(io.loadSafetensors(weightsPath))).toEqual({ missingKeys: [], unexpectedKeys: [] });
  return model;
}

const tmp = mkdtempSync(join(tmpdir(), 'liven-whole-cnn-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it('the fixture stays away from every ReLU and max-pool tie, and its config is the model PyTorch saved', () => {
  for (const [act, pool] of fixture.kinkMargins) expect(Math.min(act, pool)).toBeGreaterThan(1e-5);
  // toConfig spells out every default, so compare the keys liven's model has with PyTorch's.
  const model = nn.Sequential.fromConfig(structuredClone(fixture.config));
  expect(Object.keys(model.stateDict())).toEqual(Object.keys(fixture.stateDict));
  for (const [key, t] of Object.entries(model.stateDict())) expect(t.shape, key).toEqual(fixture.stateDict[key]!.shape);
  expect(nn.Sequential.fromConfig(model.toConfig()).toConfig()).toEqual(model.toConfig());
});

describeEachBackend('a whole CNN with PyTorch-saved weights', (backend) => {
  it("gives PyTorch's eval logits, then its training logits, loss, gradients, running statistics and SGD steps", () => {
    const model = load();
    // num_batches_tracked and the running statistics came from PyTorch's warm-up passes.
    expect(model.stateDict()['1.num_batches_tracked']!.data[0]).toBe(3);
    expectNear(model.eval().forward(input(fixture.steps[0])), fixture.evalLogits, 'eval logits');

    model.train();
    const lossFn = new nn.CrossEntropyLoss();
    const opt = new optim.SGD(model.parameters(), fixture.sgd);
    fixture.steps.forEach((want, step) => {
      const at = `step ${step + 1}`;
      opt.zeroGrad();
      const logits = model.forward(input(want));
      expectNear(logits, want.logits, `${at}: logits`);
      expect(lossFn.forward(logits, want.target), `${at}: loss`).toBeCloseTo(want.loss, 5);
      expectNear(model.backward(lossFn.backward()), want.gradInput, `${at}: input gradient`);
      const params = new Map(model.namedParameters());
      expect([...params.keys()].sort()).toEqual(Object.keys(want.grads).sort());
      for (const [name, g] of Object.entries(want.grads)) {
        if (name === '0.bias') {
          // The first conv feeds a training-mode BatchNorm, which subtracts any per-channel
          // constant: this gradient is exactly 0, and both libraries' values are rounding noise
          // of a sum over 495 positions whose terms add up to at most ~0.2 in absolute value,
          // so below 495·2^-24·0.2 ≈ 6e-6 (PyTorch's: 3e-8). Forgetting that would give ~0.1.
          for (const v of [...g.data, ...params.get(name)!.grad.data]) expect(Math.abs(v), `${at}: gradient of 0.bias`).toBeLessThan(6e-6);
        } else {
          expectNear(params.get(name)!.grad, g, `${at}: gradient of ${name}`);
        }
      }
      const buffers = new Map(model.namedBuffers());
      for (const [name, b] of Object.entries(want.buffers)) expectNear(buffers.get(name)!, b, `${at}: buffer ${name}`);
      opt.step();
      for (const [name, p] of Object.entries(want.params)) expectNear(params.get(name)!.data, p, `${at}: ${name} after SGD`);
    });
    expectNear(model.eval().forward(input(fixture.steps[0])), fixture.evalLogitsAfter, 'eval logits after training');
  });

  it('runs through nn.ModelWorker bit for bit as synchronously: forward, backward, running statistics', async () => {
    // The worker runs the compiled package (dist/), whose backend switch is its own.
    const previous = dist.getBackend();
    dist.setBackend(backend);
    const remote = dist.nn.Sequential.fromConfig(structuredClone(fixture.config));
    remote.loadStateDict(dist.io.loadSafetensors(weightsPath));
    const worker = new dist.nn.ModelWorker(remote);
    try {
      const sync = load();
      const want = fixture.steps[0];
      remote.eval();
      sync.eval();
      const eval_ = await worker.forward(dist.Tensor.from(want.input.data, want.input.shape));
      expect(bits(eval_), 'eval logits').toEqual(bits(sync.forward(input(want))));

      remote.train();
      sync.train();
      const y = await worker.forward(dist.Tensor.from(want.input.data, want.input.shape));
      const ySync = sync.forward(input(want));
      expect(bits(y), 'training logits').toEqual(bits(ySync));
      const lossFn = new nn.CrossEntropyLoss();
      lossFn.forward(ySync, want.target);
      const g = lossFn.backward();
      const dx = await worker.backward(dist.Tensor.from(g.data, g.shape));
      expect(bits(dx), 'input gradient').toEqual(bits(sync.backward(g)));
      const remoteState = remote.stateDict();
      const syncParams = new Map(sync.namedParameters());
      for (const [name, p] of remote.namedParameters()) expect(bits(p.grad), `gradient of ${name}`).toEqual(bits(syncParams.get(name)!.grad));
      for (const [key, t] of Object.entries(sync.stateDict())) expect(bits(remoteState[key]!), key).toEqual(bits(t));
      // And both are PyTorch's.
      expectNear(y.data, want.logits, 'worker logits');
    } finally {
      await worker.terminate();
      dist.setBackend(previous);
    }
  });

  it('saves back to safetensors with PyTorch\'s keys and shapes, as F32, and reloads exactly', () => {
    const model = load();
    const lossFn = new nn.CrossEntropyLoss();
    lossFn.forward(model.forward(input(fixture.steps[0])), fixture.steps[0].target);
    model.backward(lossFn.backward());
    new optim.SGD(model.parameters(), fixture.sgd).step();

    const path = join(tmp, `whole_cnn_${backend}.safetensors`);
    io.saveSafetensors(path, model.stateDict());
    const bytes = readFileSync(path);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[] }>;
    const { __metadata__: _, ...entries } = header;
    expect(Object.keys(entries).sort()).toEqual(Object.keys(fixture.stateDict).sort());
    for (const [key, { shape }] of Object.entries(fixture.stateDict)) {
      // num_batches_tracked is int64 in PyTorch; liven writes F32, which load_state_dict converts.
      expect(entries[key], key).toMatchObject({ dtype: 'F32', shape });
    }
    const again = load();
    again.loadStateDict(io.loadSafetensors(path));
    const saved = model.stateDict();
    expect(Object.keys(again.stateDict())).toEqual(Object.keys(saved));
    for (const [key, t] of Object.entries(again.stateDict())) expect(bits(t), key).toEqual(bits(saved[key]!));
    expect(again.stateDict()['1.num_batches_tracked']!.data[0]).toBe(4);
  });
});
