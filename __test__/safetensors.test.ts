import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Tensor, io, nn } from '../src/index.js';
import { native } from '../src/backend/index.js';
import { jsKernels } from '../src/backend/js/index.js';
import { describeEachBackend } from './helpers/backends.js';
import { rng } from './helpers/numeric.js';

interface BitsTensor {
  shape: number[];
  bits: number[];
}
const fixtureDir = new URL('./fixtures/safetensors/', import.meta.url);
const fixture = JSON.parse(readFileSync(new URL('./fixtures/safetensors.json', import.meta.url), 'utf8')) as {
  sequentialBn: { metadata: Record<string, string>; tensors: Record<string, BitsTensor & { dtype: string }> };
  preluModel: { config: nn.ModuleConfig; input: { shape: number[]; data: number[] }; output: { shape: number[]; data: number[] }; tensors: Record<string, BitsTensor> };
  dtypes: { metadata: Record<string, string>; tensors: Record<string, BitsTensor> };
};
const file = (name: string) => readFileSync(new URL(name, fixtureDir));
const bitsOf = (t: Tensor) => [...new Uint32Array(t.data.buffer, t.data.byteOffset, t.size)];

function expectTensors(got: Record<string, Tensor>, want: Record<string, BitsTensor>): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const [key, w] of Object.entries(want)) {
    expect(got[key]!.shape, key).toEqual(w.shape);
    expect(bitsOf(got[key]!), key).toEqual(w.bits);
  }
}

/** A file with `header` as its JSON text (padded with spaces to 8 bytes) and `data`. */
function build(header: string, data: ArrayLike<number> = []): Uint8Array {
  const h = new TextEncoder().encode(header);
  const padded = Math.ceil(h.length / 8) * 8;
  const out = new Uint8Array(8 + padded + data.length).fill(0x20, 8, 8 + padded);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(h, 8);
  out.set(data, 8 + padded);
  return out;
}
const entry = (dtype: string, shape: number[], begin: number, end: number) => JSON.stringify({ dtype, shape, data_offsets: [begin, end] });
const two = (a: [number, number], b: [number, number], len: number) =>
  build(`{"a":${entry('U8', [a[1] - a[0]], ...a)},"b":${entry('U8', [b[1] - b[0]], ...b)}}`, new Uint8Array(len));
const i64File = (values: bigint[]) => {
  const data = new Uint8Array(8 * values.length);
  values.forEach((v, i) => new DataView(data.buffer).setBigInt64(8 * i, v, true));
  return build(`{"n":${entry('I64', [values.length], 0, data.length)}}`, data);
};

/** Every malformed file the readers must reject, with what the message must say. */
const malformed: [string, () => Uint8Array, RegExp][] = [
  ['an empty file', () => new Uint8Array(0), /the file has 0 bytes, fewer than the 8 of the header length: truncated/],
  ['7 bytes', () => new Uint8Array(7), /the file has 7 bytes/],
  ['a header cut short', () => build(`{"a":${entry('F32', [2], 0, 8)}}`, new Uint8Array(8)).subarray(0, 20), /the header length is 56 bytes, but only 12 bytes follow it: truncated/],
  ['data cut short', () => { const f = build(`{"a":${entry('F32', [2], 0, 8)}}`, new Uint8Array(8)); return f.subarray(0, f.length - 1); }, /tensor "a": data_offsets \[0, 8\] reach past the end of the data \(7 bytes\): truncated/],
  ['a huge header length', () => { const f = new Uint8Array(16); new DataView(f.buffer).setBigUint64(0, 100_000_001n, true); return f; }, /the header length is 100000001 bytes, more than the limit of 100000000/],
  ['header length 2^64 - 1', () => new Uint8Array(8).fill(0xff), /the header length is 18446744073709551615 bytes, more than the limit/],
  ['invalid UTF-8', () => { const f = build('{"a":"xx"}'); f[14] = 0xff; return f; }, /the header is not valid UTF-8/],
  ['a byte-order mark', () => build('\ufeff{}'), /does not start with '\{'/],
  ['a JSON array', () => build('[1]'), /does not start with '\{'/],
  ['invalid JSON', () => build('{"a":'), /the header is not valid JSON/],
  ['text after the JSON', () => build('{}x'), /the header is not valid JSON/],
  ['deep nesting', () => build(`{"a":${'['.repeat(200)}${']'.repeat(200)}}`), /the header is not valid JSON/],
  ['a number out of range', () => build('{"__metadata__":{},"x":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"note":1e400}}'), /the header is not valid JSON/],
  ['a lone surrogate', () => build('{"__metadata__":{"k":"\\ud800"}}'), /the header is not valid JSON/],
  ['a duplicate tensor', () => build(`{"a":${entry('F32', [1], 0, 4)},"a":${entry('F32', [1], 0, 4)}}`, new Uint8Array(4)), /duplicate key "a"/],
  ['a duplicate field', () => build('{"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4)), /duplicate key "dtype"/],
  ['an entry that is not an object', () => build('{"a":1}'), /tensor "a": the entry must be an object/],
  ['no dtype', () => build('{"a":{"shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4)), /tensor "a": dtype must be a string/],
  ['an unknown dtype', () => build(`{"a":${entry('F33', [1], 0, 4)}}`, new Uint8Array(4)), /tensor "a": unknown dtype "F33"/],
  ['a negative dimension', () => build(`{"a":${entry('F32', [-1], 0, 4)}}`, new Uint8Array(4)), /tensor "a": shape must be an array of non-negative integers/],
  ['a fractional dimension', () => build(`{"a":${entry('F32', [1.5], 0, 4)}}`, new Uint8Array(4)), /shape must be an array of non-negative integers/],
  ['a dimension past 2^53', () => build(`{"a":${entry('F32', [2 ** 53], 0, 4)}}`, new Uint8Array(4)), /shape must be an array of non-negative integers/],
  ['one offset', () => build('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', new Uint8Array(4)), /tensor "a": data_offsets must be two non-negative integers/],
  ['string offsets', () => build('{"a":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}}', new Uint8Array(4)), /data_offsets must be two non-negative integers/],
  ['offsets backwards', () => build(`{"a":${entry('F32', [0], 4, 0)}}`, new Uint8Array(4)), /tensor "a": data_offsets \[4, 0\] end before they begin/],
  ['a size that disagrees with the shape', () => build(`{"a":${entry('F32', [2, 3], 0, 20)}}`, new Uint8Array(20)), /tensor "a": shape \[2, 3\] of F32 needs 24 bytes, but data_offsets \[0, 20\] span 20/],
  ['a shape too large', () => build(`{"a":${entry('F64', [2 ** 30, 2 ** 30, 2 ** 30], 0, 4)}}`, new Uint8Array(4)), /tensor "a": shape \[1073741824, 1073741824, 1073741824\] is too large/],
  ['offsets far past the end', () => build(`{"a":${entry('U8', [4], 2 ** 53 - 10, 2 ** 53 - 6)}}`, new Uint8Array(4)), /reach past the end of the data \(4 bytes\)/],
  ['overlapping tensors', () => two([0, 4], [2, 6], 6), /tensor "b" \(data_offsets \[2, 6\]\) overlaps tensor "a"/],
  ['two tensors on the same bytes', () => two([0, 4], [0, 4], 4), /overlaps/],
  ['a hole between tensors', () => two([0, 4], [5, 8], 8), /1 unused bytes lie before tensor "b" \(data_offsets \[5, 8\]\)/],
  ['a hole at the start', () => two([1, 4], [4, 8], 8), /1 unused bytes lie before tensor "a"/],
  ['bytes after the last tensor', () => two([0, 4], [4, 8], 9), /1 bytes follow the last tensor's data/],
  ['metadata that is not a string', () => build('{"__metadata__":{"k":1}}'), /__metadata__ "k" is not a string/],
  ['metadata that is not an object', () => build('{"__metadata__":[]}'), /__metadata__ must be an object of strings/],
  ['an unsupported dtype', () => build(`{"u":${entry('U8', [2], 0, 2)}}`, [1, 2]), /tensor "u": dtype U8 is not supported; liven reads F32, F64, F16, BF16, I64 and I32/],
  ['an I64 beyond 2^53', () => i64File([1n, 2n ** 53n + 1n]), /tensor "n": I64 element 1 is 9007199254740993, beyond ±2\^53/],
  ['an I64 below -2^53', () => i64File([-(2n ** 53n) - 1n]), /I64 element 0 is -9007199254740993/],
];

describeEachBackend('safetensors', () => {
  it("reads every dtype of PyTorch's file bit for bit, with its metadata", () => {
    const { tensors, metadata } = io.parseSafetensors(file('dtypes.safetensors'));
    expectTensors(tensors, fixture.dtypes.tensors);
    expect(metadata).toEqual(fixture.dtypes.metadata);
    expect(tensors.scalar!.shape).toEqual([]);
    expect(tensors.i64!.data[5]).toBe(2 ** 53);
  });

  it("reads PyTorch's BatchNorm state dict, int64 num_batches_tracked included", () => {
    const { tensors, metadata } = io.loadSafetensorsFile(fileURLToPath(new URL('sequential_bn.safetensors', fixtureDir)));
    expectTensors(tensors, fixture.sequentialBn.tensors);
    expect(fixture.sequentialBn.tensors['1.num_batches_tracked']!.dtype).toBe('torch.int64');
    expect(tensors['1.num_batches_tracked']!.data[0]).toBe(3);
    expect(metadata).toEqual({ format: 'pt' });
  });

  it("writes the bytes PyTorch's save_file writes", () => {
    const ref = file('f32_reference.safetensors');
    const { tensors } = io.parseSafetensors(ref);
    expect(Buffer.from(io.serializeSafetensors(tensors, { metadata: { format: 'pt' } })).equals(ref)).toBe(true);
  });

  it('writes today exactly the files PyTorch loaded in scripts/check_roundtrip.py', () => {
    const bn = io.serializeSafetensors(io.parseSafetensors(file('sequential_bn.safetensors')).tensors, { metadata: { writer: 'liven' } });
    expect(Buffer.from(bn).equals(file('liven_sequential_bn.safetensors'))).toBe(true);

    const model = nn.Sequential.fromConfig(fixture.preluModel.config);
    model.loadStateDict(io.parseSafetensors(file('prelu_model.safetensors')).tensors);
    const y = model.forward(Tensor.from(fixture.preluModel.input.data, fixture.preluModel.input.shape));
    expect([...y.data]).toEqual(fixture.preluModel.output.data);
    const written = io.serializeSafetensors(model.stateDict(), {
      metadata: { writer: 'liven', config: JSON.stringify(model.toConfig()), output: JSON.stringify({ shape: y.shape, data: [...y.data] }) },
    });
    expect(Buffer.from(written).equals(file('liven_prelu_model.safetensors'))).toBe(true);
  });

  it('round-trips names, shapes, every float32 bit pattern and metadata', () => {
    const r = rng(5);
    const odd = new Float32Array(7);
    new Uint32Array(odd.buffer).set([0x7fc00001, 0xffffffff, 0x80000000, 0x00000001, 0x7f800000, 0x3f800000, 0xdeadbeef]);
    const tensors: Record<string, Tensor> = {
      'z.last': Tensor.from(Array.from({ length: 24 }, () => r() - 0.5), [2, 3, 4]),
      odd: Tensor.from(odd, [7]),
      '10.weight': Tensor.zeros([0, 3]),
      '2.weight': Tensor.from([1], []),
      ['__proto__']: Tensor.from([5], [1]),
      'ünï "q"': Tensor.from([1, 2], [1, 2]),
      // A view into a larger buffer: only its own bytes are written.
      view: new Tensor(new Float32Array(10).fill(3).subarray(2, 5), [3]),
    };
    const bytes = io.serializeSafetensors(tensors, { metadata: { a: '1', 'ü': 'ö\n' } });
    expect((bytes.length - 8 - 4 * (24 + 7 + 0 + 1 + 1 + 2 + 3)) % 8).toBe(0);
    const back = io.parseSafetensors(bytes);
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(tensors).sort());
    for (const [k, t] of Object.entries(tensors)) {
      expect(back.tensors[k]!.shape, k).toEqual(t.shape);
      expect(bitsOf(back.tensors[k]!), k).toEqual(bitsOf(t));
    }
    expect(Object.hasOwn(back.tensors, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(back.tensors)).toBe(Object.prototype);
    expect(back.metadata).toEqual({ a: '1', 'ü': 'ö\n' });
    expect(io.parseSafetensors(io.serializeSafetensors({})).tensors).toEqual({});
  });

  it('saves and loads files, writing them whole', () => {
    const dir = mkdtempSync(join(tmpdir(), 'liven-st-'));
    try {
      const path = join(dir, 'w.safetensors');
      const sd = { w: Tensor.from([1, -2, 3.5], [3]) };
      io.saveSafetensors(path, sd, { metadata: { epoch: '3' } });
      expect(readdirSync(dir)).toEqual(['w.safetensors']);
      expect(bitsOf(io.loadSafetensors(path).w!)).toEqual(bitsOf(sd.w));
      expect(io.loadSafetensorsFile(path).metadata).toEqual({ epoch: '3' });
      expect(() => io.loadSafetensors(join(dir, 'missing.safetensors'))).toThrow(/ENOENT/);
      expect(() => io.saveSafetensors(join(dir, 'no', 'such', 'dir.safetensors'), sd)).toThrow(/ENOENT/);
      expect(existsSync(join(dir, 'no'))).toBe(false);
      expect(readdirSync(dir)).toEqual(['w.safetensors']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('rejects malformed files with an Error that says what is wrong', () => {
    for (const [what, make, message] of malformed) {
      it(what, () => {
        const bytes = make();
        expect(() => io.parseSafetensors(bytes)).toThrow(message);
        expect(() => io.parseSafetensors(bytes)).toThrow(/^parseSafetensors: /);
      });
    }
  });

  it('names the file in load errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'liven-st-'));
    try {
      const path = join(dir, 'bad.safetensors');
      io.saveSafetensors(path, { a: Tensor.from([1, 2], [2]) });
      const good = readFileSync(path);
      const cut = join(dir, 'cut.safetensors');
      writeFileSync(cut, good.subarray(0, good.length - 2));
      expect(() => io.loadSafetensors(cut)).toThrow(`loadSafetensors(${JSON.stringify(cut)}): tensor "a": data_offsets [0, 8] reach past the end of the data (6 bytes): truncated`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('serializeSafetensors arguments', () => {
  it('rejects what it cannot write, naming it', () => {
    expect(() => io.serializeSafetensors({ a: [1, 2] as unknown as Tensor })).toThrow(/"a" is not a Tensor/);
    expect(() => io.serializeSafetensors({ __metadata__: Tensor.zeros([1]) })).toThrow(RangeError);
    expect(() => io.serializeSafetensors({}, { metadata: { k: 1 as unknown as string } })).toThrow(/metadata "k" is number, not a string/);
    expect(() => io.serializeSafetensors(null as unknown as Record<string, Tensor>)).toThrow(TypeError);
    expect(() => io.parseSafetensors('abc' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe.runIf(native)('the Rust and TypeScript readers agree', () => {
  /** Both readers' verdict on `bytes`: the table, or that it was rejected. */
  const verdict = (read: typeof jsKernels.safetensorsParse, bytes: Uint8Array) => {
    try {
      return read(bytes);
    } catch (e) {
      return `rejected${/valid JSON/.test((e as Error).message) ? ' (JSON)' : `: ${(e as Error).message}`}`;
    }
  };

  it('on all 65,536 half-precision values and every BF16 pattern, bit for bit', () => {
    const all = new Uint8Array(2 * 65536);
    for (let h = 0; h < 65536; h++) new DataView(all.buffer).setUint16(2 * h, h, true);
    for (const dtype of ['F16', 'BF16']) {
      const rust = new Float32Array(65536);
      const js = new Float32Array(65536);
      native!.safetensorsToF32(all, dtype, rust);
      jsKernels.safetensorsToF32(all, dtype, js);
      expect(new Uint32Array(js.buffer), dtype).toEqual(new Uint32Array(rust.buffer));
    }
  });

  it('on every fixture and thousands of damaged copies', () => {
    const r = rng(11);
    let accepted = 0;
    const seeds = ['dtypes.safetensors', 'sequential_bn.safetensors', 'f32_reference.safetensors', 'prelu_model.safetensors'].map(file);
    for (let n = 0; n < 3000; n++) {
      const base = seeds[n % seeds.length]!;
      const bytes = Uint8Array.from(base);
      const kind = n % 3;
      if (kind === 0) {
        // Flip a byte in the length field, the header or the data.
        const at = Math.floor(r() * Math.min(bytes.length, 8 + 200));
        bytes[at] = Math.floor(r() * 256);
      } else if (kind === 1) {
        // Change a digit in the header (offsets, shapes).
        const text = new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))));
        const digits = [...text.matchAll(/\d/g)].map((m) => m.index!);
        const at = digits[Math.floor(r() * digits.length)]!;
        bytes[8 + at] = 0x30 + Math.floor(r() * 10);
      }
      const cut = kind === 2 ? bytes.subarray(0, Math.floor(r() * bytes.length)) : bytes;
      const rust = verdict(native!.safetensorsParse, cut);
      const js = verdict(jsKernels.safetensorsParse, cut);
      expect(rust, `case ${n}`).toEqual(js);
      if (typeof rust !== 'string') accepted++;
    }
    // Some damage is harmless (a digit of the same value, a changed data byte): both must accept it.
    expect(accepted).toBeGreaterThan(10);
  });
});

describe('without the native addon', () => {
  it('the built package still loads weights (the TypeScript reader)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'liven-st-no-native-'));
    try {
      const root = fileURLToPath(new URL('..', import.meta.url));
      const pkg = join(dir, 'node_modules', 'liven');
      cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
      cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
      // as npm installs it: with its dependencies beside it (the protobuf runtime io.loadOnnx uses)
      cpSync(join(root, 'node_modules', '@bufbuild'), join(dir, 'node_modules', '@bufbuild'), { recursive: true });
      const path = fileURLToPath(new URL('sequential_bn.safetensors', fixtureDir));
      const script = `const { io, getBackend } = require('liven'); const t = io.loadSafetensors(${JSON.stringify(path)}); console.log(getBackend(), JSON.stringify(Object.fromEntries(Object.entries(t).map(([k, v]) => [k, [...new Uint32Array(v.data.buffer)]]))))`;
      const r = spawnSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const [backend, json] = [r.stdout.slice(0, r.stdout.indexOf(' ')), r.stdout.slice(r.stdout.indexOf(' ') + 1)];
      expect(backend).toBe('js');
      const want = Object.fromEntries(Object.entries(fixture.sequentialBn.tensors).map(([k, v]) => [k, v.bits]));
      expect(JSON.parse(json)).toEqual(want);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
