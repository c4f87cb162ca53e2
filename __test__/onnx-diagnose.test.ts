// `liven diagnose --model model.onnx` as a user runs it (the built CLI in a child process): with
// a batch, the monitor's report on the imported graph; without, the units dead from the weights
// alone; on any bad file or argument, exit status 2 and one line on stderr.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, diag, io } from '../src/index.js';
import { onnxBytes } from './helpers/onnx.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli.js');
const fixtures = fileURLToPath(new URL('./fixtures/onnx/', import.meta.url));

function liven(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, 'diagnose', ...args], { cwd: root, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Conv → Relu → Conv whose channel 1 has no positive weight and no positive bias → Relu. */
const planted = onnxBytes({
  nodes: [
    { op: 'Conv', name: '/conv1/Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: { kernel_shape: [1, 1] } },
    { op: 'Relu', name: '/relu1/Relu', inputs: ['c1'], outputs: ['r1'] },
    { op: 'Conv', name: '/conv2/Conv', inputs: ['r1', 'w2', 'b2'], outputs: ['c2'], attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
    { op: 'Relu', name: '/relu2/Relu', inputs: ['c2'], outputs: ['y'] },
  ],
  inputDims: ['batch', 1, 4, 4],
  initializers: [
    { name: 'w1', dims: [2, 1, 1, 1], values: [1, -1] },
    { name: 'b1', dims: [2], values: [0, 0.5] },
    { name: 'w2', dims: [2, 2, 3, 3], values: Array.from({ length: 36 }, (_, i) => (i < 18 ? Math.sin(i) : -Math.abs(Math.cos(i)))) },
    { name: 'b2', dims: [2], values: [0.1, -0.2] },
  ],
  outputs: ['y'],
});

describe('liven diagnose --model model.onnx', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'liven-diagnose-onnx-'));
    copyFileSync(join(fixtures, 'toy_opset17.onnx'), join(dir, 'toy.onnx'));
    copyFileSync(join(fixtures, 'toy_opset17.input.safetensors'), join(dir, 'batch.safetensors'));
    writeFileSync(join(dir, 'planted.onnx'), planted);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('with --input: the monitor report of the imported graph, rows under the ONNX node names', () => {
    const r = liven(['--model', join(dir, 'toy.onnx'), '--input', join(dir, 'batch.safetensors'), '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const g = io.loadOnnx(join(dir, 'toy.onnx'));
    const monitor = new diag.ActivationMonitor(g);
    g.forward(io.loadSafetensors(join(dir, 'batch.safetensors')).input!);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(monitor.report())));
    expect(monitor.report().map((row) => row.layer)).toEqual(['prelu_PRelu', 'leaky_LeakyRelu', 'relu1_Relu', 'relu2_Relu', 'relu3_Relu']);
    const table = liven(['--model', join(dir, 'toy.onnx'), '--input', join(dir, 'batch.safetensors')]);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/^.*toy\.onnx, eval mode, on 4 samples of shape \[3, 12, 12\]/);
    expect(table.stdout).toMatch(/relu2_Relu\s+ReLU\s+8\s+3\s/);
  });

  it('with --report: the HTML report', () => {
    const out = join(dir, 'report.html');
    const r = liven(['--model', join(dir, 'toy.onnx'), '--input', join(dir, 'batch.safetensors'), '--report', out]);
    expect(r.status).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('relu2_Relu');
  });

  it('without --input: the planted unit, dead from the weights alone', () => {
    const r = liven(['--model', join(dir, 'planted.onnx'), '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      { layer: 'relu1_Relu', kind: 'ReLU', units: 2, dead: 0, deadFraction: 0, deadUnits: [] },
      { layer: 'relu2_Relu', kind: 'ReLU', units: 2, dead: 1, deadFraction: 0.5, deadUnits: [1] },
    ]);
    const table = liven(['--model', join(dir, 'planted.onnx')]);
    expect(table.status).toBe(0);
    expect(table.stdout).toContain('from the weights alone');
    expect(table.stdout).toMatch(/relu2_Relu\s+ReLU\s+2\s+1\s+50\.0%\s+1/);
    // and on data the unit is dead too
    const g = io.loadOnnx(planted);
    const monitor = new diag.ActivationMonitor(g);
    g.forward(Tensor.from(Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7) * 3), [4, 1, 4, 4]));
    expect(monitor.unitReport('relu2_Relu').dead[1]).toBe(1);
  });

  it('bad input: exit status 2 and one line that says what', () => {
    writeFileSync(join(dir, 'garbage.onnx'), new TextEncoder().encode('definitely not protobuf \u0000\u00ff'));
    writeFileSync(join(dir, 'truncated.onnx'), readFileSync(join(dir, 'toy.onnx')).subarray(0, 5000));
    writeFileSync(join(dir, 'erf.onnx'), onnxBytes({ nodes: [{ op: 'Erf', name: 'e', inputs: ['x'], outputs: ['y'] }], outputs: ['y'] }));
    writeFileSync(join(dir, 'external.onnx'), onnxBytes({ nodes: [{ op: 'PRelu', inputs: ['x', 's'], outputs: ['y'] }], outputs: ['y'], initializers: [{ name: 's', dims: [4], external: { location: '../outside.bin' } }] }));
    const cases: [string[], RegExp][] = [
      [['--model', join(dir, 'garbage.onnx')], /cannot be imported: not an ONNX model/],
      [['--model', join(dir, 'truncated.onnx')], /cannot be imported: /],
      [['--model', join(dir, 'erf.onnx')], /cannot be imported: 1 operator cannot be imported: Erf \(node "e"\)/],
      [['--model', join(dir, 'external.onnx')], /outside the model's folder/],
      [['--model', join(dir, 'missing.onnx')], /cannot read the model file/],
      [['--model', join(dir, 'toy.onnx'), '--weights', join(dir, 'batch.safetensors')], /--weights is for a JSON config/],
      [['--model', join(dir, 'toy.onnx'), '--report', join(dir, 'r.html')], /--report needs --input/],
      [['--model', join(dir, 'planted.onnx'), '--input', join(dir, 'batch.safetensors')], /does not fit the model/],
      [['--model', join(dir, 'toy.onnx'), '--max-model-bytes', '1000'], /--max-model-bytes/],
    ];
    for (const [args, message] of cases) {
      const r = liven(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });
});
