// Fuzzing io.loadOnnx (the reader is TypeScript, so fast-check rather than cargo fuzz): real
// files and small synthetic ones, mutated (bit flips, byte overwrites, cuts, splices, repeated
// runs). Every input either loads or throws an Error; nothing else escapes, nothing hangs.
// The committed corpus (fuzz/corpus/onnx) is replayed first: the seeds plus every input that
// once broke the rule. LIVEN_FUZZ_RUNS=n runs longer; LIVEN_FUZZ_SAVE=1 adds failures to it.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { io } from '../src/index.js';
import { onnxBytes } from './helpers/onnx.js';

const corpusDir = fileURLToPath(new URL('../fuzz/corpus/onnx/', import.meta.url));
const runs = Number(process.env.LIVEN_FUZZ_RUNS ?? 150);
const save = process.env.LIVEN_FUZZ_SAVE === '1';

/** Loads and, when it loads, runs a forward on a small input; returns what escaped, if anything. */
function escapes(bytes: Uint8Array): unknown {
  try {
    io.loadOnnx(bytes);
    return null;
  } catch (e) {
    return e instanceof Error && e.message.length > 0 && !(e instanceof RangeError && /call stack/.test(e.message)) ? null : e ?? 'a falsy throw';
  }
}

/** Writes the seeds: two real exports and synthetic models (run once by hand: LIVEN_FUZZ_SEEDS=1). */
function writeSeeds(): void {
  const toyDir = fileURLToPath(new URL('./fixtures/onnx/', import.meta.url));
  mkdirSync(corpusDir, { recursive: true });
  writeFileSync(join(corpusDir, 'seed-toy-opset11.onnx'), readFileSync(join(toyDir, 'toy_opset11.onnx')));
  writeFileSync(join(corpusDir, 'seed-acts-opset17.onnx'), readFileSync(join(toyDir, 'acts_opset17.onnx')));
  writeFileSync(join(corpusDir, 'seed-mlp.onnx'), onnxBytes({
    nodes: [
      { op: 'Gemm', name: 'fc', inputs: ['x', 'w', 'b'], outputs: ['h'], attrs: { transB: 1 } },
      { op: 'Relu', name: 'relu', inputs: ['h'], outputs: ['r'] },
      { op: 'Shape', name: 'shape', inputs: ['r'], outputs: ['s'] },
      { op: 'Gather', name: 'g', inputs: ['s', 'zero'], outputs: ['n'], attrs: { axis: 0 } },
      { op: 'Unsqueeze', name: 'u', inputs: ['n', 'zeros'], outputs: ['nu'] },
      { op: 'Concat', name: 'cat', inputs: ['nu', 'minus1'], outputs: ['shape2'], attrs: { axis: 0 } },
      { op: 'Reshape', name: 'reshape', inputs: ['r', 'shape2'], outputs: ['y'] },
    ],
    initializers: [
      { name: 'w', dims: [3, 4], values: [1, -2, 3, -4, 5, -6, 7, -8, 9, -1, 2, -3] },
      { name: 'b', dims: [3], values: [0.5, -0.5, 0] },
      { name: 'zero', dims: [], values: [0], int64: true },
      { name: 'zeros', dims: [1], values: [0], int64: true },
      { name: 'minus1', dims: [1], values: [-1], int64: true },
    ],
    outputs: ['y'],
  }));
  writeFileSync(join(corpusDir, 'seed-conv-pad.onnx'), onnxBytes({
    nodes: [
      { op: 'Pad', name: 'pad', inputs: ['x', 'pads'], outputs: ['p'] },
      { op: 'Conv', name: 'conv', inputs: ['p', 'w'], outputs: ['c'], attrs: { kernel_shape: [1, 1], pads: [0, 1, 1, 0] } },
      { op: 'BatchNormalization', name: 'bn', inputs: ['c', 's', 'b', 'm', 'v'], outputs: ['n'] },
      { op: 'Clip', name: 'clip', inputs: ['n', 'lo'], outputs: ['y'] },
    ],
    inputDims: ['batch', 1, 3, 3],
    initializers: [
      { name: 'pads', dims: [8], values: [0, 0, 1, 0, 0, 0, 0, 2], int64: true },
      { name: 'w', dims: [2, 1, 1, 1], values: [1, -1] },
      { name: 's', dims: [2], values: [1, 2] },
      { name: 'b', dims: [2], values: [0, 1] },
      { name: 'm', dims: [2], values: [0.5, 0] },
      { name: 'v', dims: [2], values: [1, 4] },
      { name: 'lo', dims: [], values: [0] },
    ],
    outputs: ['y'],
  }));
  writeFileSync(join(corpusDir, 'seed-external.onnx'), onnxBytes({
    nodes: [{ op: 'PRelu', inputs: ['x', 's'], outputs: ['y'] }],
    outputs: ['y'],
    initializers: [{ name: 's', dims: [4], external: { location: 'weights.bin', offset: 0, length: 16 } }],
  }));
}

if (process.env.LIVEN_FUZZ_SEEDS === '1') writeSeeds();

const corpus = readdirSync(corpusDir).sort().map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(corpusDir, f))) }));
const seeds = corpus.filter((c) => c.name.startsWith('seed-')).map((c) => c.bytes);

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), from: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('varint' as const), at: fc.nat(), value: fc.constantFrom(0x7f, 0xff, 0x80, 0x01) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(seed: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = Uint8Array.from(seed);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case 'flip':
        b[at]! ^= 1 << m.bit;
        break;
      case 'set':
        b[at] = m.value;
        break;
      case 'cut':
        b = b.subarray(0, at);
        break;
      case 'splice': {
        const from = m.from % b.length;
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(from, from + m.length), ...b.subarray(at)]);
        break;
      }
      case 'varint':
        // a run of continuation bytes: lengths and tags that claim far more than there is
        b = Uint8Array.from([...b.subarray(0, at), ...new Array<number>(10).fill(m.value), ...b.subarray(at)]);
        break;
    }
  }
  return b;
}

describe('io.loadOnnx fuzzing', () => {
  it('the corpus has seeds (real exports and synthetic models)', () => {
    expect(seeds.length).toBeGreaterThanOrEqual(4);
    for (const name of ['seed-toy-opset11.onnx', 'seed-mlp.onnx', 'seed-conv-pad.onnx']) {
      expect(io.loadOnnx(corpus.find((c) => c.name === name)!.bytes).nodes().length, name).toBeGreaterThan(0);
    }
  });

  it('replays every corpus file: loads or an Error', () => {
    for (const c of corpus) expect(escapes(c.bytes), c.name).toBeNull();
  });

  it(`mutated files: loads or an Error (${runs} runs)`, () => {
    const started = performance.now();
    fc.assert(
      fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 6 }), (s, ms) => {
        const bytes = mutate(seeds[s]!, ms);
        const escaped = escapes(bytes);
        if (escaped !== null && save) {
          mkdirSync(corpusDir, { recursive: true });
          writeFileSync(join(corpusDir, `crash-${Date.now()}.onnx`), bytes);
        }
        return escaped === null;
      }),
      { numRuns: runs, seed: process.env.LIVEN_FUZZ_SEED ? Number(process.env.LIVEN_FUZZ_SEED) : undefined },
    );
    if (runs > 1000) console.log(`onnx fuzz: ${runs} runs in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }, 600_000);
});

