// Resource limits (issue 19, items 4-7; issue 14, section 4): small or hostile inputs must not
// exhaust memory, hang or run for long. Each case answers with a correct result, a typed Error,
// or (the CLI) exit status 2 and one line. Where memory or a crash is at stake, the case runs in
// a child process whose peak memory (maxRSS) and time are measured.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, init, io, manualSeed, nn } from '../src/index.js';
import { withBuildScope } from '../src/tensor.js';
import { describeEachBackend } from './helpers/backends.js';
import { distIndex, runModule, runNode } from './helpers/child.js';
import { randomizeParameters } from './helpers/modules.js';
import { randomTensor } from './helpers/numeric.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
/** The Done-when of issue 19: no case may take more memory or time than this. */
const MAX_MIB = 2048;
const MAX_MS = 20_000;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'liven-limits-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A safetensors file with `header` as its JSON text (padded with spaces to 8 bytes) and `data`. */
function build(header: string, data: ArrayLike<number> = []): Buffer {
  const h = Buffer.from(header);
  const padded = Math.ceil(h.length / 8) * 8;
  const out = Buffer.alloc(8 + padded + data.length, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  h.copy(out, 8);
  out.set(data, 8 + padded);
  return out;
}
const entry = (dtype: string, shape: number[], begin: number, end: number) => JSON.stringify({ dtype, shape, data_offsets: [begin, end] });
const zeroTensors = (n: number) => `{${Array.from({ length: n }, (_, i) => `"t${i}":${entry('F32', [0], 0, 0)}`).join(',')}}`;

describeEachBackend('safetensors limits, the same in both readers', () => {
  const { tensors, rank, depth, members, values } = io.SAFETENSORS_LIMITS;
  const parse = (header: string, data: ArrayLike<number> = []) => io.parseSafetensors(build(header, data));

  it('are the documented numbers', () => {
    expect(io.SAFETENSORS_LIMITS).toEqual({ tensors: 100_000, rank: 64, depth: 127, members: 65_536, values: 2_000_000 });
  });

  it('nesting: checked before parsing, brackets inside strings do not count', () => {
    const nest = (n: number) => `{"a":${'['.repeat(n)}${']'.repeat(n)}}`;
    // The top-level object is level 1: `depth - 1` arrays inside reach the limit.
    expect(() => parse(nest(depth - 1))).toThrow('parseSafetensors: tensor "a": the entry must be an object with dtype, shape and data_offsets');
    expect(() => parse(nest(depth))).toThrow('parseSafetensors: the header is not valid JSON: nested more than 127 deep');
    expect(parse(`{"__metadata__":{"k\\"[{":"\\"${'['.repeat(1000)}"}}`).metadata).toEqual({ 'k"[{': `"${'['.repeat(1000)}` });
  });

  it('tensors: 100,000 zero-size tensors are read, one more is refused', () => {
    expect(Object.keys(parse(zeroTensors(tensors)).tensors)).toHaveLength(tensors);
    expect(() => parse(zeroTensors(tensors + 1))).toThrow('parseSafetensors: the header has more than 100000 tensors');
    // With metadata the scan refuses the extra member; without, the table's count does.
    expect(() => parse(`{"__metadata__":{},${zeroTensors(tensors + 1).slice(1)}`)).toThrow('more than 100000 tensors');
  });

  it('rank: 64 dimensions are read, 65 refused', () => {
    expect(parse(`{"a":${entry('F32', Array(rank).fill(1), 0, 4)}}`, [0, 0, 0x80, 0x3f]).tensors.a!.shape).toHaveLength(rank);
    expect(() => parse(`{"a":${entry('F32', Array(rank + 1).fill(1), 0, 4)}}`, [0, 0, 0x80, 0x3f])).toThrow('parseSafetensors: tensor "a": shape has 65 dimensions, more than 64');
  });

  it('members: 65,536 metadata entries are read, one more is refused', () => {
    const metadata = (n: number) => `{"__metadata__":{${Array.from({ length: n }, (_, i) => `"k${i}":"v"`).join(',')}}}`;
    expect(Object.keys(parse(metadata(members)).metadata)).toHaveLength(members);
    expect(() => parse(metadata(members + 1))).toThrow('parseSafetensors: the header has an object or array of more than 65536 members');
  });

  it('values: counted as one plus every {, [ and , outside strings', () => {
    // 2 + 20,001 per array of 20,000 zeros inside one array.
    const arrays = (n: number) => `{"x":[${Array(n).fill(`[${Array(20_000).fill(0).join(',')}]`).join(',')}]}`;
    const fit = Math.floor((values - 2) / 20_001);
    expect(() => parse(arrays(fit))).toThrow('parseSafetensors: tensor "x": the entry must be an object');
    expect(() => parse(arrays(fit + 1))).toThrow('parseSafetensors: the header holds more than 2000000 JSON values');
  });
});

describe('hostile safetensors headers in a child process: bounded memory and time', () => {
  const MB99 = 99_000_000;
  /** Headers of about 99 MB (the format allows 100 MB), made without building 99 MB strings twice. */
  const files: [string, () => Buffer, RegExp][] = [
    ['nested 49 million deep', () => build(`{"a":${'['.repeat((MB99 >> 1) - 4)}${']'.repeat((MB99 >> 1) - 4)}}`), /^Error: .*: the header is not valid JSON: nested more than 127 deep$/],
    ['1.6 million zero-size tensors', () => build(zeroTensors(1_600_000)), /^Error: .*: the header has more than 100000 tensors$/],
    ['49 million numbers', () => build(`{"x":[${'0,'.repeat((MB99 >> 1) - 8)}0]}`), /^Error: .*: the header has an object or array of more than 65536 members$/],
    ['one 99 MB metadata string', () => build(`{"__metadata__":{"k":"${'x'.repeat(MB99 - 30)}"}}`), /^accepted 0 1$/],
    ['100,000 zero-size tensors', () => build(zeroTensors(100_000)), /^accepted 100000 0$/],
    ['65,536 metadata entries', () => build(`{"__metadata__":{${Array.from({ length: 65_536 }, (_, i) => `"${i}":"${i}"`).join(',')}}}`), /^accepted 0 65536$/],
  ];
  const code = `
    import { io, setBackend } from ${JSON.stringify(distIndex)};
    const [backend, path] = process.argv.slice(1);
    setBackend(backend);
    try {
      const f = io.loadSafetensorsFile(path);
      console.log('accepted', Object.keys(f.tensors).length, Object.keys(f.metadata).length);
    } catch (e) {
      console.log(e.name + ': ' + e.message);
    }`;
  for (const [what, make, verdict] of files) {
    it(what, () => {
      const path = join(dir, 'hostile.safetensors');
      writeFileSync(path, make());
      for (const backend of ['js', 'native']) {
        const r = runModule(code, [backend, path]);
        expect(r.status, `${backend}: ${r.stderr}`).toBe(0);
        expect(r.stdout.trim(), backend).toMatch(verdict);
        expect(r.maxRssMiB, backend).toBeLessThan(MAX_MIB);
        expect(r.ms, backend).toBeLessThan(MAX_MS);
      }
      rmSync(path);
    });
  }
});

describe('files are read only when regular and within the limit', () => {
  it('a character device, a directory or a file over maxBytes is a FileLimitError before reading', () => {
    const check = (f: () => unknown, code: string, message: RegExp) => {
      let error: unknown;
      try {
        f();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(io.FileLimitError);
      expect((error as io.FileLimitError).code).toBe(code);
      expect((error as Error).message).toMatch(message);
    };
    check(() => io.loadSafetensors('/dev/zero'), 'ENOTREG', /^loadSafetensors\("\/dev\/zero"\): it is a character device, not a regular file$/);
    check(() => io.loadSafetensors(dir), 'ENOTREG', /: it is a directory, not a regular file$/);
    const path = join(dir, 'small.safetensors');
    io.saveSafetensors(path, { w: Tensor.from([1, 2, 3], [3]) });
    const size = statSync(path).size;
    check(() => io.loadSafetensors(path, { maxBytes: size - 1 }), 'EFBIG', new RegExp(`it has ${size} bytes, more than the limit of ${size - 1} bytes$`));
    expect(io.loadSafetensors(path, { maxBytes: size }).w!.data).toEqual(Float32Array.from([1, 2, 3]));
    expect(() => io.loadSafetensors(path, { maxBytes: -1 })).toThrow(RangeError);
    expect(() => io.loadSafetensors(path, { maxBytes: '1' as unknown as number })).toThrow(TypeError);
    expect(io.DEFAULT_MAX_BYTES).toBe(4 * 2 ** 30);
  });

  it.runIf(process.platform === 'linux')('a FIFO nobody writes to is refused at once, not waited on', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const r = runModule(`import { io } from ${JSON.stringify(distIndex)}; try { io.loadSafetensors(process.argv[1]); } catch (e) { console.log(e.message); }`, [fifo], { timeoutMs: MAX_MS });
    expect(r.signal).toBeNull();
    expect(r.stdout.trim()).toBe(`loadSafetensors(${JSON.stringify(fifo)}): it is a FIFO, not a regular file`);
    rmSync(fifo);
  });
});

describe('saveSafetensors writes through an exclusive temporary file', () => {
  it('does not follow a link planted at the old predictable name, and leaves no temporary file', () => {
    const sub = join(dir, 'save');
    mkdirSync(sub);
    const path = join(sub, 'w.safetensors');
    const victim = join(sub, 'victim');
    writeFileSync(victim, 'precious');
    // The name the old writer used (`<path>.<pid>.tmp`): a link there must not be followed.
    symlinkSync(victim, `${path}.${process.pid}.tmp`);
    io.saveSafetensors(path, { w: Tensor.from([1, 2], [2]) });
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(io.loadSafetensors(path).w!.data).toEqual(Float32Array.from([1, 2]));
    expect(lstatSync(path).isFile()).toBe(true);
    if (process.platform !== 'win32') expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(sub).sort()).toEqual(['victim', 'w.safetensors', `w.safetensors.${process.pid}.tmp`].sort());
    rmSync(sub, { recursive: true });
  });

  it('removes its temporary file when the rename fails, and changes nothing', () => {
    const sub = join(dir, 'save-fail');
    // The target is a non-empty directory: the file is written, then rename fails.
    mkdirSync(join(sub, 'w.safetensors'), { recursive: true });
    writeFileSync(join(sub, 'w.safetensors', 'inside'), 'x');
    expect(() => io.saveSafetensors(join(sub, 'w.safetensors'), { w: Tensor.zeros([4]) })).toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect(readdirSync(sub)).toEqual(['w.safetensors']);
    expect(readdirSync(join(sub, 'w.safetensors'))).toEqual(['inside']);
    rmSync(sub, { recursive: true });
  });
});

/**
 * A small config for every layer type that cannot be built from `{ type }` alone. A type added
 * to `nn` that needs arguments needs a line here (the test below says so).
 */
const SAMPLES: Record<string, Record<string, unknown>> = {
  Linear: { inFeatures: 5, outFeatures: 3 },
  Conv2d: { inChannels: 2, outChannels: 4, kernelSize: 3, groups: 2 },
  BatchNorm1d: { numFeatures: 3 },
  BatchNorm2d: { numFeatures: 3 },
  GroupNorm: { numGroups: 2, numChannels: 4 },
  LayerNorm: { normalizedShape: [2, 3] },
  L2Norm: { dim: 1, scale: 20, numChannels: 3 },
  PReLU: { numParameters: 3 },
  MaxPool2d: { kernelSize: 2 },
  AvgPool2d: { kernelSize: 2 },
  AdaptiveAvgPool2d: { outputSize: 1 },
  ConstantPad2d: { padding: 1 },
  Reshape: { shape: [0, -1] },
  Sequential: { layers: [{ type: 'Linear', inFeatures: 4, outFeatures: 3 }, { type: 'BatchNorm1d', numFeatures: 3, affine: false }, { type: 'PReLU' }] },
  Graph: { inputs: ['x'], nodes: [{ name: 'fc', inputs: ['x'], module: { type: 'Linear', inFeatures: 4, outFeatures: 2 } }], outputs: ['fc'] },
};

/** Parameters (with their gradients) and buffers, in bytes, from the tensors' shapes. */
function stateBytes(m: nn.Module): number {
  return 4 * (2 * m.parameters().reduce((n, p) => n + p.data.size, 0) + m.namedBuffers().reduce((n, [, b]) => n + b.size, 0));
}

describe('building a model under a memory limit, for every layer type', () => {
  const configs = () =>
    nn.configTypes().map((type): [string, nn.ModuleConfig] => {
      const sample = SAMPLES[type];
      if (sample !== undefined) return [type, { type, ...sample }];
      try {
        nn.moduleFromConfig({ type });
      } catch (e) {
        throw new Error(`nn.${type} needs arguments: add a sample config to SAMPLES in __test__/limits.test.ts (${(e as Error).message})`);
      }
      return [type, { type }];
    });

  it('measuring allocates no tensor memory and counts exactly what building allocates', () => {
    for (const [type, config] of configs()) {
      const { value: shapes, bytes } = withBuildScope('measure', () => nn.moduleFromConfig(config));
      const real = nn.moduleFromConfig(config);
      for (const [key, t] of [...shapes.namedParameters().flatMap(([k, p]): [string, Tensor][] => [[k, p.data], [`${k} (grad)`, p.grad]]), ...shapes.namedBuffers()]) {
        expect(t.data.length, `${type}: ${key} was allocated while measuring`).toBe(0);
      }
      expect(bytes, type).toBe(stateBytes(real));
      expect(shapes.namedParameters().map(([k, p]) => [k, p.data.shape]), type).toEqual(real.namedParameters().map(([k, p]) => [k, p.data.shape]));
      expect(shapes.namedBuffers().map(([k, b]) => [k, b.shape]), type).toEqual(real.namedBuffers().map(([k, b]) => [k, b.shape]));
    }
  });

  it('loads the weights bit for bit, without drawing from the generator', () => {
    for (const [type, config] of configs()) {
      const source = nn.moduleFromConfig(config);
      randomizeParameters(source, 7);
      const weights = source.stateDict();
      manualSeed(3);
      const loaded = io.loadModel(config, io.serializeSafetensors(weights));
      const next = init.uniform(Tensor.zeros([4]));
      manualSeed(3);
      expect(init.uniform(Tensor.zeros([4])).data, `${type}: the generator moved`).toEqual(next.data);
      expect(loaded.toConfig(), type).toEqual(source.toConfig());
      const got = loaded.stateDict();
      expect(Object.keys(got), type).toEqual(Object.keys(weights));
      for (const [key, t] of Object.entries(weights)) expect(got[key]!.data, `${type}: ${key}`).toEqual(t.data);
    }
  });
});

describe('io.buildWithWeights and io.loadModel', () => {
  const config: nn.ModuleConfig = {
    type: 'Sequential',
    layers: [
      { type: 'Conv2d', inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1 },
      { type: 'BatchNorm2d', numFeatures: 3 },
      { type: 'ReLU' },
      { type: 'Flatten' },
      { type: 'Linear', inFeatures: 48, outFeatures: 5 },
      { type: 'PReLU', numParameters: 5 },
    ],
  };
  const source = () => {
    const m = nn.Sequential.fromConfig(config);
    randomizeParameters(m, 11);
    return m;
  };

  it('gives the model fromConfig + loadStateDict gives, from a path, bytes or a state dict', () => {
    const want = source().eval();
    const path = join(dir, 'model.safetensors');
    io.saveSafetensors(path, want.stateDict());
    const x = randomTensor([2, 2, 4, 4], 5);
    const y = want.forward(x).data;
    for (const weights of [path, readFileSync(path), want.stateDict(), io.safetensorsWeights(readFileSync(path))]) {
      const got = io.loadModel(config, weights).eval();
      expect(got).toBeInstanceOf(nn.Sequential);
      expect(got.forward(x).data).toEqual(y);
    }
    const custom = io.buildWithWeights(() => new nn.Sequential(new nn.Linear(3, 2)), { '0.weight': Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]), '0.bias': Tensor.from([0, 1], [2]) });
    expect(custom.forward(Tensor.from([1, 1, 1], [1, 3])).data).toEqual(Float32Array.from([6, 16]));
  });

  it('lists every mismatch in a WeightsMismatchError, naming keys and shapes', () => {
    const weights = source().stateDict();
    delete weights['4.bias'];
    weights['4.weight'] = Tensor.zeros([5, 47]);
    weights.extra = Tensor.zeros([1]);
    let error: unknown;
    try {
      io.loadModel(config, weights);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(io.WeightsMismatchError);
    expect((error as io.WeightsMismatchError).problems).toEqual(['missing key "4.bias"', 'unexpected key "extra"', '"4.weight" has shape [5, 47] in the state dict but [5, 48] in the model']);
    expect((error as Error).message).toMatch(/^buildWithWeights: the weights do not match the model: missing key "4\.bias"; .*; nothing was built$/);
  });

  it('refuses a model over maxBytes with a ModelTooLargeError before allocating it', () => {
    const weights = source().stateDict();
    const bytes = stateBytes(source());
    expect(io.loadModel(config, weights, { maxBytes: bytes })).toBeInstanceOf(nn.Sequential);
    let error: unknown;
    try {
      io.loadModel(config, weights, { maxBytes: bytes - 1 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(io.ModelTooLargeError);
    expect(error).toBeInstanceOf(RangeError);
    expect(error).toMatchObject({ bytes, maxBytes: bytes - 1 });
    expect((error as Error).message).toBe(`buildWithWeights: the model needs ${bytes} bytes (${Number((bytes / 1024).toPrecision(3))} KiB) for its parameters, their gradients and its buffers, more than maxBytes, ${bytes - 1} bytes (${Number(((bytes - 1) / 1024).toPrecision(3))} KiB)`);
  });

  it('passes on the errors of the build and checks its arguments', () => {
    expect(() => io.loadModel({ type: 'Linear', inFeatures: -1, outFeatures: 2 }, {})).toThrow(RangeError);
    expect(() => io.loadModel({ type: 'Nope' }, {})).toThrow(/unknown layer type "Nope"/);
    expect(() => io.buildWithWeights(null as unknown as () => nn.Module, {})).toThrow(TypeError);
    expect(() => io.buildWithWeights(() => 3 as unknown as nn.Module, {})).toThrow(/build returned number, not a Module/);
    expect(() => io.buildWithWeights(() => new nn.ReLU(), { a: [1] as unknown as Tensor })).toThrow(/the weight "a" is not a Tensor/);
    expect(() => io.loadModel(config, '/dev/zero')).toThrow(/^loadModel: the weights file "\/dev\/zero": it is a character device, not a regular file$/);
  });

  it("issue 19's 57-byte config, Linear(46000, 46000) (16.9 GB with gradients), costs no gigabytes: empty weights, no weights, over the limit", () => {
    const linear = '{"type":"Linear","inFeatures":46000,"outFeatures":46000}\n';
    expect(linear).toHaveLength(57);
    const code = `
      import { Tensor, io } from ${JSON.stringify(distIndex)};
      const config = JSON.parse(process.argv[1]);
      const attempt = (weights) => { try { io.loadModel(config, weights); return 'loaded'; } catch (e) { return e.name + ': ' + e.message; } };
      const shapes = new Map([['weight', [46000, 46000]], ['bias', [46000]]]);
      console.log(JSON.stringify([
        attempt(new Uint8Array(0)),
        attempt({}),
        attempt({ shapes, read() { throw new Error('read'); } }),
      ]));`;
    const r = runModule(code, [linear]);
    expect(r.status, r.stderr).toBe(0);
    const [empty, none, tooLarge] = JSON.parse(r.stdout) as string[];
    expect(empty).toBe('Error: loadModel: the weights: the file has 0 bytes, fewer than the 8 of the header length: truncated');
    expect(none).toBe('WeightsMismatchError: buildWithWeights: the weights do not match the model: missing keys "weight", "bias"; nothing was built');
    expect(tooLarge).toMatch(/^ModelTooLargeError: buildWithWeights: the model needs 16928368000 bytes \(15\.8 GiB\) .* more than maxBytes, 4294967296 bytes \(4 GiB\)$/);
    expect(r.maxRssMiB).toBeLessThan(256);
    expect(r.ms).toBeLessThan(MAX_MS);
  });
});

describe('liven diagnose refuses what it cannot read safely: exit 2, one line', () => {
  let files: { model: string; weights: string; input: string };
  beforeAll(() => {
    // 64·64 + 64 parameters: 33,280 bytes with their gradients, from a file of about 17 kB.
    const model = new nn.Sequential(new nn.Linear(64, 64), new nn.ReLU());
    files = { model: join(dir, 'd-model.json'), weights: join(dir, 'd-weights.safetensors'), input: join(dir, 'd-input.safetensors') };
    writeFileSync(files.model, JSON.stringify(model.toConfig()));
    io.saveSafetensors(files.weights, model.stateDict());
    io.saveSafetensors(files.input, { input: randomTensor([6, 64], 1) });
    writeFileSync(join(dir, 'big-linear.json'), '{"type":"Linear","inFeatures":46000,"outFeatures":46000}');
    writeFileSync(join(dir, 'empty.safetensors'), '');
    writeFileSync(join(dir, 'no-tensors.safetensors'), build('{}'));
  });
  const args = (o: Partial<typeof files> = {}, extra: string[] = []) => {
    const f = { ...files, ...o };
    return ['diagnose', '--model', f.model, '--weights', f.weights, '--input', f.input, ...extra];
  };
  const p = (name: string) => join(dir, name);
  const cases: [string, () => string[], RegExp][] = [
    ['--model /dev/zero', () => args({ model: '/dev/zero' }), /^liven diagnose: cannot read the model file "\/dev\/zero": it is a character device, not a regular file$/],
    ['--weights /dev/zero', () => args({ weights: '/dev/zero' }), /cannot read the weights file "\/dev\/zero": it is a character device, not a regular file$/],
    ['--input /dev/urandom', () => args({ input: '/dev/urandom' }), /cannot read the input file "\/dev\/urandom": it is a character device, not a regular file$/],
    ['a config over --max-config-bytes', () => args({}, ['--max-config-bytes', '16']), /cannot read the model file ".*d-model\.json": it has \d+ bytes, more than the limit of 16 bytes \(--max-config-bytes raises it\)$/],
    ['weights over --max-model-bytes', () => args({}, ['--max-model-bytes=100']), /cannot read the weights file .*: it has \d+ bytes \(\d+\.\d KiB\), more than the limit of 100 bytes \(--max-model-bytes raises it\)$/],
    ['a model over --max-model-bytes', () => args({}, ['--max-model-bytes', '20000']), /the model in ".*d-model\.json" needs 33280 bytes \(32\.5 KiB\) for its parameters, their gradients and its buffers, more than --max-model-bytes, 20000 bytes \(19\.5 KiB\)$/],
    ['an input over --max-input-bytes', () => args({}, ['--max-input-bytes', '1KiB']), /cannot read the input file .*: it has \d+ bytes \(1\.\d+ KiB\), more than the limit of 1024 bytes \(1 KiB\) \(--max-input-bytes raises it\)$/],
    ['a bad size', () => args({}, ['--max-model-bytes', '4GB']), /--max-model-bytes must be a number of bytes, optionally with KiB, MiB, GiB or TiB \(e\.g\. 8GiB\), got "4GB"/],
    ['Linear(46000, 46000) with an empty weights file', () => args({ model: p('big-linear.json'), weights: p('empty.safetensors') }), /the weights file ".*empty\.safetensors" is not a valid safetensors file: the file has 0 bytes/],
    ['Linear(46000, 46000) with weights of no tensors', () => args({ model: p('big-linear.json'), weights: p('no-tensors.safetensors') }), /the weights in ".*no-tensors\.safetensors" do not match the model in ".*big-linear\.json": missing keys "weight", "bias"$/],
  ];
  for (const [what, argv, message] of cases) {
    it(what, () => {
      const r = runNode([cli, ...argv()], { timeoutMs: MAX_MS });
      expect(r.signal).toBeNull();
      expect(r.status, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n'), r.stderr).toHaveLength(2);
      expect(r.stderr.split('\n')[0]).toMatch(message);
      expect(r.maxRssMiB).toBeLessThan(256);
    });
  }

  it('runs within the limits it is given', () => {
    const r = runNode([cli, ...args({}, ['--max-model-bytes', '33280', '--max-input-bytes', '2KiB', '--max-config-bytes=1KiB', '--json'])]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(1);
    expect(existsSync(files.model)).toBe(true);
  });
});
