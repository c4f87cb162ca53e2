// io.loadOnnx on models torch.onnx.export wrote (scripts/make_onnx_fixtures.py): PyTorch's
// logits and dead units per activation on both backends, backward and fine-tuning, and one
// Error that lists every operator liven cannot run.
import { gunzipSync } from 'node:zlib';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, diag, io, manualSeed, nn, optim } from '../src/index.js';
import { describeEachBackend } from './helpers/backends.js';
import { expectClose, gradcheck, randomTensor } from './helpers/numeric.js';
import { onnxBytes } from './helpers/onnx.js';

interface Expected {
  files: string[];
  opset: number;
  logits: { shape: number[]; data: number[] };
  activations: { node: string; op: string; module: string; dead: number[]; saturated?: number[] }[];
}

const fixtures = fileURLToPath(new URL('./fixtures/onnx/', import.meta.url));
const expected = JSON.parse(readFileSync(join(fixtures, 'expected.json'), 'utf8')) as Record<string, Expected>;
const dir = mkdtempSync(join(tmpdir(), 'liven-onnx-models-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// The big models are committed gzipped (weights from few values); external data stays beside.
beforeAll(() => {
  for (const f of readdirSync(fixtures)) {
    if (f.endsWith('.gz')) writeFileSync(join(dir, f.slice(0, -3)), gunzipSync(readFileSync(join(fixtures, f))));
    else if (f.endsWith('.onnx') || f.endsWith('.safetensors')) copyFileSync(join(fixtures, f), join(dir, f));
  }
});

const input = (name: string): Tensor => io.loadSafetensors(join(dir, `${name}.input.safetensors`)).input!;
/** The kinds liven's dead rule covers (pre-activation <= 0 everywhere); Clip nodes are ReLU6 or Hardtanh. */
const judged = (a: Expected['activations'][number]) => ['ReLU', 'LeakyReLU', 'PReLU', 'ReLU6'].includes(a.module);
const flagged = (flags: Uint8Array | null) => (flags === null ? null : [...flags.keys()].filter((u) => flags[u] === 1));

/** The liven layers each model needs beyond the first layer families (branch layers adds them). */
const needs: Record<string, string[]> = {
  acts_opset17: ['Sigmoid', 'Tanh', 'Hardtanh', 'Hardsigmoid', 'ReLU6', 'ELU', 'SELU', 'Softplus', 'Hardswish'],
  mobilenet_v2_opset11: ['ReLU6'],
};

describeEachBackend('io.loadOnnx: PyTorch parity', () => {
  for (const [name, want] of Object.entries(expected)) {
    it(`${name}: logits and dead units per activation equal PyTorch's`, () => {
      const missing = (needs[name] ?? []).filter((t) => !nn.configTypes().includes(t));
      if (missing.length > 0) {
        // Until those layers exist the import must say so, naming them.
        expect(() => io.loadOnnx(join(dir, `${name}.onnx`))).toThrow(`liven has no nn.${missing[0]}`);
        return;
      }
      const g = io.loadOnnx(join(dir, `${name}.onnx`));
      expect(g.training).toBe(false);
      const monitor = new diag.ActivationMonitor(g);
      // Each activation's pre-activation: per unit, its largest value over samples and positions.
      const largest = new Map<string, { unit: Float64Array; scale: number }>();
      for (const layer of monitor.layers) {
        (g.at(layer) as nn.Module).registerForwardHook((_m, x) => {
          const { outer, units, inner } = diag.unitLayout(x.shape);
          const unit = new Float64Array(units).fill(-Infinity);
          let scale = 0;
          for (let n = 0; n < outer; n++) for (let u = 0; u < units; u++) for (let i = 0; i < inner; i++) {
            const v = x.data[(n * units + u) * inner + i]!;
            unit[u] = Math.max(unit[u]!, v);
            scale = Math.max(scale, Math.abs(v));
          }
          largest.set(layer, { unit, scale });
        });
      }
      const y = g.forward(input(name));
      expectClose(y, want.logits, `${name} logits`, { atol: 2e-4, rtol: 2e-4 });
      const acts = want.activations.filter(judged).filter((a) => monitor.layers.includes(io.onnxGraphName(a.node)));
      expect(acts.length).toBeGreaterThan(0);
      for (const a of acts) {
        // Equal, but for a unit whose largest pre-activation is 0 up to float32 rounding (the
        // summation order differs from PyTorch's): dead or not, either side is right.
        const layer = io.onnxGraphName(a.node);
        const { unit, scale } = largest.get(layer)!;
        const ours = flagged(monitor.unitReport(layer).dead)!;
        const differ = [...ours.filter((u) => !a.dead.includes(u)), ...a.dead.filter((u) => !ours.includes(u))];
        for (const u of differ) expect(Math.abs(unit[u]!), `${name} ${a.node} unit ${u}: dead here ${ours.includes(u)}, in PyTorch ${a.dead.includes(u)}`).toBeLessThanOrEqual(1e-5 * scale);
        expect(differ.length, `${name} ${a.node}`).toBeLessThanOrEqual(1);
      }
      // Saturated units of the bounded kinds, against PyTorch's outputs by the same rule.
      for (const a of want.activations.filter((row) => row.saturated !== undefined)) {
        const unit = monitor.unitReport(io.onnxGraphName(a.node)) as { saturated?: Uint8Array | null };
        expect(flagged(unit.saturated ?? null), `${name} ${a.node} saturated`).toEqual(a.saturated);
      }
      // Units dead from the weights alone are dead on this batch too.
      for (const row of diag.staticDeadUnits(g)) {
        const onData = monitor.unitReport(row.layer).dead;
        for (const u of row.deadUnits) expect(onData[u], `${name} ${row.layer} unit ${u}`).toBe(1);
      }
    });
  }
});

describe('io.loadOnnx: the imported graph', () => {
  it('names nodes by their ONNX names, in the file order, with the weights as parameters and buffers', () => {
    const g = io.loadOnnx(join(dir, 'toy_opset17.onnx'));
    const names = g.nodes().map((n) => n.name);
    expect(names.slice(0, 4)).toEqual(['conv1_Conv', 'bn1_BatchNormalization', 'prelu_PRelu', 'pad_Pad']);
    expect(g.at('prelu_PRelu')).toBeInstanceOf(nn.PReLU);
    expect(g.at('leaky_LeakyRelu')).toBeInstanceOf(nn.LeakyReLU);
    expect(g.at('bn1_BatchNormalization')).toBeInstanceOf(nn.BatchNorm2d);
    expect(g.at('Reshape')).toBeInstanceOf(nn.Reshape);
    expect(Object.keys(g.stateDict())).toContain('bn2_BatchNormalization.running_var');
    expect(io.onnxGraphName('/layer1/layer1.0/relu/Relu')).toBe('layer1_layer1_0_relu_Relu');
  });

  it('the toy passes gradcheck (input and every parameter) in eval mode', () => {
    const g = io.loadOnnx(join(dir, 'toy_opset11.onnx'));
    gradcheck(g, randomTensor([1, 3, 12, 12], 3), { h: 1e-3, atol: 5e-3, rtol: 2e-2 });
  });

  it('fine-tunes: SGD steps on a fixed batch lower the cross-entropy', () => {
    const g = io.loadOnnx(join(dir, 'toy_opset17.onnx'));
    const x = input('toy_opset17');
    const target = [1, 4, 7, 2];
    const loss = new nn.CrossEntropyLoss();
    const opt = new optim.SGD(g.parameters(), { lr: 0.05 });
    const before = loss.forward(g.forward(x), target);
    for (let i = 0; i < 5; i++) {
      opt.zeroGrad();
      loss.forward(g.forward(x), target);
      g.backward(loss.backward());
      opt.step();
    }
    expect(loss.forward(g.forward(x), target)).toBeLessThan(before * 0.9);
  });

  it('round-trips through toConfig and a state dict (a JSON config + safetensors model from then on)', () => {
    const g = io.loadOnnx(join(dir, 'toy_opset11.onnx'));
    const copy = nn.moduleFromConfig(JSON.parse(JSON.stringify(g.toConfig())) as nn.ModuleConfig);
    copy.loadStateDict(io.parseSafetensors(io.serializeSafetensors(g.stateDict())).tensors);
    copy.eval();
    const x = input('toy_opset11');
    expect(copy.forward(x).data).toEqual(g.forward(x).data);
  });

  it('refuses a model over maxBytes before allocating it, and draws nothing from the generator', () => {
    const bytes = readFileSync(join(dir, 'toy_opset17.onnx'));
    expect(() => io.loadOnnx(bytes, { maxBytes: 1000 })).toThrow(io.ModelTooLargeError);
    manualSeed(3);
    io.loadOnnx(bytes);
    const drawnAfterLoad = new nn.Linear(4, 4).weight.data.data.slice();
    manualSeed(3);
    expect(new nn.Linear(4, 4).weight.data.data).toEqual(drawnAfterLoad);
  });

  it('loads from bytes when the weights are inline', () => {
    const g = io.loadOnnx(readFileSync(join(dir, 'toy_opset17.onnx')));
    expectClose(g.forward(input('toy_opset17')), expected.toy_opset17!.logits, 'toy from bytes', { atol: 2e-4, rtol: 2e-4 });
  });
});

describe('io.loadOnnx: small graphs against hand-computed values', () => {
  it('a gate: x · GlobalAveragePool(x) (kept [N, C, 1, 1]) through Mul, and MatMul by a weight as Linear', () => {
    const g = io.loadOnnx(onnxBytes({
      nodes: [
        { op: 'GlobalAveragePool', name: 'gap', inputs: ['x'], outputs: ['m'] },
        { op: 'Mul', name: 'gate', inputs: ['x', 'm'], outputs: ['y'] },
        { op: 'Flatten', name: 'flat', inputs: ['y'], outputs: ['f'], attrs: { axis: 1 } },
        { op: 'MatMul', name: 'mm', inputs: ['f', 'w'], outputs: ['z'] },
      ],
      inputDims: ['batch', 2, 1, 2],
      initializers: [{ name: 'w', dims: [4, 1], values: [1, 2, 3, 4] }],
      outputs: ['z'],
    }));
    // channel means 1.5 and 3.5: y = [1.5, 3, 10.5, 14]; z = 1.5 + 6 + 31.5 + 56
    const x = Tensor.from([1, 2, 3, 4], [1, 2, 1, 2]);
    expect([...g.forward(x).data]).toEqual([95]);
    expect(g.at('gap_0')).toBeInstanceOf(nn.GlobalAvgPool2d); // then 'gap', a Reshape to [N, C, 1, 1]
    expect(g.at('gap')).toBeInstanceOf(nn.Reshape);
    expect(g.at('mm')).toBeInstanceOf(nn.Linear);
  });
});

describe('io.loadOnnx: what it cannot run', () => {
  it('every unsupported operator in one Error, with node names', () => {
    const bytes = onnxBytes({
      nodes: [
        { op: 'Relu', name: 'ok', inputs: ['x'], outputs: ['a'] },
        { op: 'Erf', name: 'erf1', inputs: ['a'], outputs: ['b'] },
        { op: 'LSTM', name: 'rnn', inputs: ['b'], outputs: ['c'] },
        { op: 'Clip', name: 'clip', inputs: ['c'], outputs: ['d'], attrs: {} },
        { op: 'Pad', name: 'reflect', inputs: ['d', 'pads'], outputs: ['e'], attrs: { mode: 'reflect' } },
      ],
      initializers: [{ name: 'pads', dims: [4], values: [0, 1, 0, 1], int64: true }],
      outputs: ['e'],
    });
    let message = '';
    try {
      io.loadOnnx(bytes);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^loadOnnx: 4 operators cannot be imported: /);
    expect(message).toContain('Erf (node "erf1"): no liven module for it');
    expect(message).toContain('LSTM (node "rnn")');
    expect(message).toContain('Clip (node "clip"): a clip to [-Infinity, Infinity]');
    expect(message).toContain('Pad (node "reflect"): mode reflect');
    expect(message).not.toContain('"ok"');
  });

  it('a Mul by a constant and an Add of a weight are named, not run wrongly', () => {
    const bytes = onnxBytes({
      nodes: [
        { op: 'Add', name: 'shift', inputs: ['x', 'w'], outputs: ['a'] },
        { op: 'Mul', name: 'times', inputs: ['a', 'w'], outputs: ['b'] },
      ],
      initializers: [{ name: 'w', dims: [4], values: [1, 2, 3, 4] }],
      outputs: ['b'],
    });
    expect(() => io.loadOnnx(bytes)).toThrow(/2 operators cannot be imported: Add \(node "shift"\).*; Mul \(node "times"\)/);
  });

  it('many nodes with the same problem make one entry with a count', () => {
    const nodes = Array.from({ length: 5 }, (_, i) => ({ op: 'Erf', name: `e${i}`, inputs: [i === 0 ? 'x' : `v${i - 1}`], outputs: [`v${i}`] }));
    expect(() => io.loadOnnx(onnxBytes({ nodes, outputs: ['v4'] }))).toThrow('loadOnnx: 5 operators cannot be imported: Erf (5 nodes: "e0", "e1", "e2", ...): no liven module for it');
  });
});
