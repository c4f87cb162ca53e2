// `liven diagnose` as a user runs it: the built CLI (dist/cli.js) in a child process, on files
// written with liven's io and on PyTorch's own safetensors files.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, diag, io, manualSeed, nn } from '../src/index.js';
import { randomTensor } from './helpers/numeric.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli.js');
const fixtureDir = fileURLToPath(new URL('./fixtures/safetensors/', import.meta.url));
const fixture = JSON.parse(readFileSync(new URL('./fixtures/safetensors.json', import.meta.url), 'utf8')) as {
  preluModel: { config: nn.ModuleConfig; input: { shape: number[]; data: number[] }; output: { shape: number[]; data: number[] } };
};

function liven(args: string[], cwd = root): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The report as the CLI prints it with --json: the same array, through JSON. */
const asJson = (report: diag.LayerReport[]) => `${JSON.stringify(report, null, 2)}\n`;

/** The monitor's report on `model` in eval mode over `x`, in this process. */
function reportInProcess(model: nn.Module, x: Tensor): diag.LayerReport[] {
  model.eval();
  const monitor = new diag.ActivationMonitor(model);
  model.forward(x);
  monitor.detach();
  return monitor.report();
}

const N = 37;

/**
 * A CNN with every kind of activation, nested, whose dead and nearly dead units are known:
 * channel 2 of the first conv has a bias of -100 (its ReLU never fires), and feature 3 of the
 * first Linear is ~1e-5 everywhere (its PReLU output stays below 1e-3 but is positive).
 */
function buildModel(): nn.Sequential {
  manualSeed(11);
  const conv = new nn.Conv2d(2, 4, 3, { padding: 1 });
  conv.bias!.data.data[2] = -100;
  const fc = new nn.Linear(24, 10);
  fc.weight.data.data.fill(1e-7, 3 * 24, 4 * 24);
  fc.bias!.data.data[3] = 1e-5;
  return new nn.Sequential(
    conv,
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Sequential(new nn.Conv2d(4, 6, 3), new nn.LeakyReLU({ negativeSlope: 0.1 })),
    new nn.Flatten(),
    fc,
    new nn.PReLU({ numParameters: 10 }),
    new nn.Linear(10, 5),
    new nn.ReLU(),
  );
}

describe('liven diagnose', () => {
  let dir: string;
  let model: nn.Sequential;
  let x: Tensor;
  let expected: diag.LayerReport[];
  const files = () => ['--model', join(dir, 'model.json'), '--weights', join(dir, 'model.safetensors'), '--input', join(dir, 'batch.safetensors')];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'liven-diagnose-'));
    model = buildModel();
    x = randomTensor([N, 2, 8, 8], 3, -2, 2);
    writeFileSync(join(dir, 'model.json'), JSON.stringify(model.toConfig()));
    io.saveSafetensors(join(dir, 'model.safetensors'), model.stateDict());
    // Another tensor beside "input", to be ignored.
    io.saveSafetensors(join(dir, 'batch.safetensors'), { labels: Tensor.zeros([N]), input: x });
    expected = reportInProcess(model, x);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the model is built so that the report has known dead and nearly dead units', () => {
    expect(expected.map((r) => [r.layer, r.kind, r.units, r.samples])).toEqual([
      ['1', 'ReLU', 4, N],
      ['3.1', 'LeakyReLU', 6, N],
      ['6', 'PReLU', 10, N],
      ['8', 'ReLU', 5, N],
    ]);
    expect(expected[0]!.dead).toBeGreaterThanOrEqual(1);
    expect(expected[2]!.nearlyDead).toBeGreaterThanOrEqual(1);
  });

  it('--json prints exactly ActivationMonitor.report() of the same model and batch, and nothing else', () => {
    const r = liven(['diagnose', ...files(), '--json']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(asJson(expected));
    // Bit for bit: JSON keeps every double exactly.
    const parsed = JSON.parse(r.stdout) as diag.LayerReport[];
    expect(parsed.map((l) => l.std)).toEqual(expected.map((l) => l.std));
  });

  it('--chunk gives the same report: exactly where the forward is batch-invariant, within rounding elsewhere', () => {
    const whole = JSON.parse(liven(['diagnose', ...files(), '--json']).stdout) as diag.LayerReport[];
    const close = (a: number, b: number, what: string) => expect(Math.abs(a - b), what).toBeLessThanOrEqual(1e-5 * Math.abs(b));
    for (const chunk of ['5', '36', '37', '1000']) {
      const r = liven(['diagnose', ...files(), '--json', '--chunk', chunk]);
      expect(r.status, r.stderr).toBe(0);
      const got = JSON.parse(r.stdout) as diag.LayerReport[];
      expect(got).toHaveLength(whole.length);
      got.forEach((g, i) => {
        const w = whole[i]!;
        const what = (key: string) => `chunk ${chunk}, layer ${w.layer}, ${key}`;
        for (const key of ['layer', 'kind', 'units', 'dead', 'deadFraction', 'nearlyDead', 'dormant', 'samples', 'nonFinite'] as const) expect(g[key], what(key)).toBe(w[key]);
        // Conv2d and pooling compute each sample alone, so the layers before the first Linear
        // see the same bits whatever the chunk; Linear's gemm rounds differently at other batch
        // sizes. The sums are taken in f32 blocks, so they move with the chunk boundaries.
        const exact = w.layer === '1' || w.layer === '3.1';
        for (const key of ['zeroFraction', 'min', 'max'] as const) {
          if (exact) expect(g[key], what(key)).toBe(w[key]);
          else close(g[key], w[key], what(key));
        }
        close(g.mean, w.mean, what('mean'));
        close(g.std, w.std, what('std'));
      });
    }
  });

  it('prints an aligned table with a line per activation layer', () => {
    const r = liven(['diagnose', ...files()]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toContain(`on ${N} samples of shape [2, 8, 8]`);
    const header = lines.findIndex((l) => l.startsWith('layer'));
    expect(lines[header]!.split(/\s{2,}/)).toEqual(['layer', 'kind', 'units', 'dead', 'dead %', 'nearly dead', 'dormant', 'zeros %', 'mean', 'std', 'min', 'max']);
    const rows = lines.slice(header + 2);
    expect(rows).toHaveLength(expected.length);
    // Every line is as wide as the header's columns say: the columns line up.
    const ends = (l: string) => [...l.matchAll(/\S+(?=\s{2,}|$)/g)].map((m) => m.index! + m[0].length);
    expect(rows.map(ends).map((e) => e.slice(2))).toEqual(rows.map(() => ends(lines[header]!).slice(2)));
    expected.forEach((e, i) => {
      const cells = rows[i]!.split(/\s+/);
      expect(cells.slice(0, 7)).toEqual([e.layer, e.kind, String(e.units), String(e.dead), `${(100 * e.deadFraction).toFixed(1)}%`, String(e.nearlyDead), String(e.dormant)]);
      expect(cells[7]).toBe(`${(100 * e.zeroFraction).toFixed(1)}%`);
      expect(Number(cells[11])).toBeCloseTo(e.max, 3 - Math.ceil(Math.log10(e.max)));
    });
  });

  it('--report writes the HTML report; --json output stays pure JSON', () => {
    const out = join(dir, 'report.html');
    const r = liven(['diagnose', ...files(), '--json', `--report=${out}`]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(asJson(expected));
    const html = readFileSync(out, 'utf8');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('model.json');
    for (const layer of expected) expect(html).toContain(`>${layer.layer}<`);
    expect(html).not.toMatch(/<script[^>]+src=|https?:\/\/(?!www\.w3\.org)/);
  });

  it('--help prints the usage; the top-level help lists diagnose', () => {
    const r = liven(['diagnose', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: liven diagnose --model/);
    expect(r.stdout).toContain('--chunk N');
    expect(liven(['help']).stdout).toMatch(/diagnose\s+a saved model/);
  });

  it("runs through the package's bin entry: dist/cli.js has the shebang and is executable", () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const bin = join(root, pkg.bin.liven!);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    accessSync(bin, constants.X_OK);
    const r = spawnSync(bin, ['diagnose', ...files(), '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(asJson(expected));
  });

  it('accepts a bare layer config (not a Sequential)', () => {
    manualSeed(2);
    const prelu = new nn.PReLU({ numParameters: 3, init: 0.2 });
    prelu.weight.data.data.set([0.5, -0.25, 0]);
    writeFileSync(join(dir, 'prelu.json'), JSON.stringify(prelu.toConfig()));
    io.saveSafetensors(join(dir, 'prelu.safetensors'), prelu.stateDict());
    const input = randomTensor([5, 3, 2, 2], 8);
    input.data.fill(-1, 0, 4); // channel 0 of sample 0 is negative, the rest random
    io.saveSafetensors(join(dir, 'prelu-batch.safetensors'), { input });
    const r = liven(['diagnose', '--model', join(dir, 'prelu.json'), '--weights', join(dir, 'prelu.safetensors'), '--input', join(dir, 'prelu-batch.safetensors'), '--json']);
    expect(r.status, r.stderr).toBe(0);
    const want = reportInProcess(prelu, input);
    expect(want[0]!.layer).toBe('');
    expect(r.stdout).toBe(asJson(want));
    expect(liven(['diagnose', '--model', join(dir, 'prelu.json'), '--weights', join(dir, 'prelu.safetensors'), '--input', join(dir, 'prelu-batch.safetensors')]).stdout).toMatch(/\n\(model\)\s+PReLU\s+3\s/);
  });

  describe('exits with status 2 and one line on stderr for', () => {
    beforeAll(() => {
      const w = (name: string, text: string) => writeFileSync(join(dir, name), text);
      w('broken.json', '{"type": "Sequential", "layers": [');
      w('unknown.json', JSON.stringify({ type: 'Sequential', layers: [{ type: 'Swish' }] }));
      w('badarg.json', JSON.stringify({ type: 'Sequential', layers: [{ type: 'Linear', inFeatures: -3, outFeatures: 2 }] }));
      const config = model.toConfig() as unknown as { type: string; layers: nn.ModuleConfig[] };
      w('extra-layer.json', JSON.stringify({ ...config, layers: [...config.layers, { type: 'Linear', inFeatures: 5, outFeatures: 2 }] }));
      w('fewer-layers.json', JSON.stringify({ ...config, layers: config.layers.slice(0, 7) }));
      w('wider.json', JSON.stringify({ ...config, layers: config.layers.map((l, i) => (i === 7 ? { ...l, outFeatures: 6 } : l)) }));
      w('not-safetensors.safetensors', 'hello, this is not a safetensors file at all');
      io.saveSafetensors(join(dir, 'no-input.safetensors'), { inputs: x, x });
      io.saveSafetensors(join(dir, 'channels.safetensors'), { input: Tensor.zeros([3, 3, 8, 8]) });
      io.saveSafetensors(join(dir, 'rank.safetensors'), { input: Tensor.zeros([3, 128]) });
      io.saveSafetensors(join(dir, 'size.safetensors'), { input: Tensor.zeros([3, 2, 10, 10]) });
      io.saveSafetensors(join(dir, 'scalar.safetensors'), { input: Tensor.from([1], []) });
      io.saveSafetensors(join(dir, 'empty.safetensors'), { input: Tensor.zeros([0, 2, 8, 8]) });
    });

    const p = (name: string) => join(dir, name);
    const withFile = (flag: string, name: string): string[] => {
      const args = files();
      args[args.indexOf(flag) + 1] = p(name);
      return args;
    };
    const cases: [string, () => string[], RegExp][] = [
      ['a missing model file', () => withFile('--model', 'nope.json'), /cannot read the model file ".*nope\.json": no such file/],
      ['a missing weights file', () => withFile('--weights', 'nope.safetensors'), /cannot read the weights file ".*nope\.safetensors": no such file/],
      ['a missing input file', () => withFile('--input', 'nope.safetensors'), /cannot read the input file ".*nope\.safetensors": no such file/],
      ['a directory as a file', () => withFile('--input', '.'), /cannot read the input file ".*": it is a directory/],
      ['unreadable JSON', () => withFile('--model', 'broken.json'), /the model file ".*broken\.json" is not valid JSON: /],
      ['an unknown layer type', () => withFile('--model', 'unknown.json'), /is not a valid model config: .*layer 0.*unknown layer type "Swish"/],
      ['a bad layer argument', () => withFile('--model', 'badarg.json'), /is not a valid model config: .*layer 0 \(Linear\).*-3/],
      ['weights missing keys of the config', () => withFile('--model', 'extra-layer.json'), /do not match the model in ".*extra-layer\.json": .*missing keys "9\.weight", "9\.bias"/],
      ['weights with keys the config lacks', () => withFile('--model', 'fewer-layers.json'), /do not match the model .*unexpected keys "7\.bias", "7\.weight"/],
      ['mis-shaped weights', () => withFile('--model', 'wider.json'), /do not match the model .*"7\.weight" has shape \[5, 10\] in the state dict but \[6, 10\] in the model/],
      ['a weights file that is not safetensors', () => withFile('--weights', 'not-safetensors.safetensors'), /the weights file ".*not-safetensors\.safetensors" is not a valid safetensors file: /],
      ['a batch file without "input"', () => withFile('--input', 'no-input.safetensors'), /has no tensor named "input" \(it has only "inputs", "x"\)/],
      ['an input with the wrong channels', () => withFile('--input', 'channels.safetensors'), /an input of shape \[3, 3, 8, 8\] does not fit the model: layer 0 \(Conv2d\): .*3 channels, expected 2/],
      ['an input of the wrong rank', () => withFile('--input', 'rank.safetensors'), /an input of shape \[3, 128\] does not fit the model: layer 0 \(Conv2d\)/],
      ['an input of the wrong size', () => withFile('--input', 'size.safetensors'), /an input of shape \[3, 2, 10, 10\] does not fit the model: layer 5 \(Linear\): .*\[3, 54\]/],
      ['a scalar input', () => withFile('--input', 'scalar.safetensors'), /the tensor "input" in ".*" has shape \[\]; it needs a first dimension of N >= 1/],
      ['an input of no samples', () => withFile('--input', 'empty.safetensors'), /has shape \[0, 2, 8, 8\]/],
      ['an unknown flag', () => [...files(), '--verbose'], /unknown option "--verbose"/],
      ['a stray argument', () => [...files(), 'extra'], /unexpected argument "extra"/],
      ['a missing required flag', () => files().slice(0, 4), /missing --input \(see liven diagnose --help\)/],
      ['no flags at all', () => [], /missing --model, --weights, --input/],
      ['a flag without its value', () => [...files(), '--report'], /--report needs a value/],
      ['a flag given twice', () => [...files(), '--model', p('model.json')], /--model is given twice/],
      ['a bad --chunk', () => [...files(), '--chunk', '2.5'], /--chunk must be a positive integer, got "2\.5"/],
      ['a zero --chunk', () => [...files(), '--chunk=0'], /--chunk must be a positive integer, got "0"/],
      ['a report that cannot be written', () => [...files(), '--report', p('no/such/dir/report.html')], /cannot write the report ".*report\.html": no such file/],
    ];
    for (const [name, args, message] of cases) {
      it(name, () => {
        const r = liven(['diagnose', ...args()]);
        expect(r.status).toBe(2);
        expect(r.stdout).toBe('');
        const lines = r.stderr.split('\n');
        expect(lines.at(-1)).toBe('');
        expect(lines, r.stderr).toHaveLength(2);
        expect(lines[0]).toMatch(/^liven diagnose: /);
        expect(lines[0]).toMatch(message);
      });
    }
  });
});

describe("liven diagnose on PyTorch's files", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'liven-diagnose-torch-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reports PyTorch's PReLU / LeakyReLU model with the statistics of PyTorch's own outputs", () => {
    const { config, input, output } = fixture.preluModel;
    writeFileSync(join(dir, 'prelu.json'), JSON.stringify(config));
    io.saveSafetensors(join(dir, 'batch.safetensors'), { input: Tensor.from(input.data, input.shape) });
    const r = liven(['diagnose', '--model', join(dir, 'prelu.json'), '--weights', join(fixtureDir, 'prelu_model.safetensors'), '--input', join(dir, 'batch.safetensors'), '--json']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as diag.LayerReport[];
    expect(report.map((l) => [l.layer, l.kind, l.units])).toEqual([['0', 'PReLU', 3], ['1.0', 'LeakyReLU', 3], ['1.1', 'PReLU', 3]]);

    // The last PReLU's output is what PyTorch returned (Flatten only reshapes it).
    const y = output.data;
    const [n, c, h, w] = input.shape as [number, number, number, number];
    const last = report[2]!;
    const mean = y.reduce((a, b) => a + b, 0) / y.length;
    expect(last.min).toBe(Math.min(...y));
    expect(last.max).toBe(Math.max(...y));
    expect(last.mean).toBeCloseTo(mean, 6);
    expect(last.std).toBeCloseTo(Math.sqrt(y.reduce((a, b) => a + (b - mean) ** 2, 0) / (y.length - 1)), 6);
    expect(last.zeroFraction).toBe(y.filter((v) => v === 0).length / y.length);
    // Its slope is positive, so its output has the sign of its pre-activation: a channel is dead
    // when every output of it is <= 0.
    const deadIn = (values: number[]) =>
      Array.from({ length: c }, (_, ch) => Array.from({ length: n * h * w }, (_, k) => values[Math.floor(k / (h * w)) * c * h * w + ch * h * w + (k % (h * w))]!)).filter((v) => v.every((e) => e <= 0)).length;
    expect(last.dead).toBe(deadIn(y));
    // The first PReLU's pre-activation is the input itself.
    expect(report[0]!.dead).toBe(deadIn(input.data));
    expect(report.every((l) => l.samples === n)).toBe(true);
  });

  it("loads PyTorch's BatchNorm model (int64 buffers) and runs it in eval mode", () => {
    const config = {
      type: 'Sequential',
      layers: [
        { type: 'Linear', inFeatures: 4, outFeatures: 3 },
        { type: 'BatchNorm1d', numFeatures: 3 },
        { type: 'ReLU' },
        { type: 'Sequential', layers: [{ type: 'Linear', inFeatures: 3, outFeatures: 2 }, { type: 'PReLU' }] },
      ],
    };
    const weights = join(fixtureDir, 'sequential_bn.safetensors');
    writeFileSync(join(dir, 'bn.json'), JSON.stringify(config));
    const x = randomTensor([16, 4], 21, -2, 2);
    io.saveSafetensors(join(dir, 'bn-batch.safetensors'), { input: x });
    const r = liven(['diagnose', '--model', join(dir, 'bn.json'), '--weights', weights, '--input', join(dir, 'bn-batch.safetensors'), '--json']);
    expect(r.status, r.stderr).toBe(0);

    const model = nn.Sequential.fromConfig(config);
    model.loadStateDict(io.loadSafetensors(weights));
    expect(r.stdout).toBe(asJson(reportInProcess(model, x)));

    // The ReLU's outputs by hand, in float64, from PyTorch's tensors: Linear, then BatchNorm
    // with the running statistics (eval mode), then max(0, ·).
    const t = io.loadSafetensors(weights);
    const d = (k: string) => t[k]!.data;
    const out: number[] = [];
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < 3; j++) {
        let h = d('0.bias')[j]!;
        for (let k = 0; k < 4; k++) h += d('0.weight')[j * 4 + k]! * x.data[i * 4 + k]!;
        const bn = ((h - d('1.running_mean')[j]!) / Math.sqrt(d('1.running_var')[j]! + 1e-5)) * d('1.weight')[j]! + d('1.bias')[j]!;
        out.push(Math.max(0, bn));
      }
    }
    const relu = (JSON.parse(r.stdout) as diag.LayerReport[]).find((l) => l.layer === '2')!;
    expect(relu.kind).toBe('ReLU');
    expect(relu.max).toBeCloseTo(Math.max(...out), 5);
    expect(relu.mean).toBeCloseTo(out.reduce((a, b) => a + b, 0) / out.length, 5);
    expect(relu.zeroFraction).toBe(out.filter((v) => v === 0).length / out.length);
    const dead = [0, 1, 2].filter((j) => out.every((v, k) => k % 3 !== j || v === 0)).length;
    expect(relu.dead).toBe(dead);
  });
});

describe('examples/train-mnist.js', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'liven-example-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('trains a few steps, saves a model that liven diagnose reads, and prints the command', () => {
    const r = spawnSync(process.execPath, [join(root, 'examples', 'train-mnist.js'), '40', dir], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const accuracy = Number(/test accuracy: ([\d.]+)% on 2000 digits/.exec(r.stdout)?.[1]);
    // Forty steps of SGD lift a 10-class CNN well above chance (10%).
    expect(accuracy).toBeGreaterThan(30);
    for (const f of ['model.json', 'model.safetensors', 'batch.safetensors']) expect(existsSync(join(dir, f)), f).toBe(true);
    const command = /npx liven (diagnose .*)$/m.exec(r.stdout)?.[1];
    expect(command).toBeDefined();
    const d = liven(command!.split(' '));
    expect(d.status, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/on 1000 samples of shape \[1, 28, 28\]/);
    expect(d.stdout).toMatch(/\n1\s+ReLU\s+8\s/);
    expect(d.stdout).toMatch(/\n4\s+ReLU\s+16\s/);
  });
});
