// Writes the seed corpus of the safetensors fuzz target: liven's fixtures, one small valid
// file per dtype, and truncated or garbled variants of each kind the reader must reject.
// Run from the repository root: node fuzz/make_corpus.mjs (the output is committed).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';

const out = new URL('./corpus/safetensors/', import.meta.url);
const fixtures = new URL('../__test__/fixtures/safetensors/', import.meta.url);
mkdirSync(out, { recursive: true });
const write = (name, bytes) => writeFileSync(new URL(name, out), bytes);

/** A file with `header` as its JSON text (padded to 8 bytes) and `data`. */
function build(header, data = new Uint8Array(0)) {
  const h = new TextEncoder().encode(header);
  const padded = Math.ceil(h.length / 8) * 8;
  const f = new Uint8Array(8 + padded + data.length).fill(0x20, 8, 8 + padded);
  new DataView(f.buffer).setBigUint64(0, BigInt(padded), true);
  f.set(h, 8);
  f.set(data, 8 + padded);
  return f;
}
const entry = (dtype, shape, begin, end) => JSON.stringify({ dtype, shape, data_offsets: [begin, end] });
const bytes = (n, seed) => Uint8Array.from({ length: n }, (_, i) => (i * 151 + seed * 97 + 13) & 0xff);

for (const f of readdirSync(fixtures)) write(`fixture-${f}`, readFileSync(new URL(f, fixtures)));
const sizes = { BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8 };
Object.entries(sizes).forEach(([dtype, size], i) => {
  const n = 6 * size;
  const file = build(`{"__metadata__":{"format":"pt"},"t":${entry(dtype, [2, 3], 0, n)}}`, bytes(n, i));
  write(`dtype-${dtype}.safetensors`, file);
  write(`cut-data-${dtype}`, file.subarray(0, file.length - 1));
});
const ok = build(`{"a":${entry('F32', [2], 0, 8)},"b":${entry('F16', [2], 8, 12)}}`, bytes(12, 1));
write('two.safetensors', ok);
write('rank-64.safetensors', build(`{"a":${entry('F32', Array(64).fill(1), 0, 4)}}`, bytes(4, 12)));
write('brackets-in-strings.safetensors', build(`{"__metadata__":{"k\\"[{":"\\"${'['.repeat(200)}"}}`));
write('cut-length', ok.subarray(0, 5));
write('cut-header', ok.subarray(0, 30));
const i64big = new Uint8Array(8);
new DataView(i64big.buffer).setBigInt64(0, 2n ** 60n, true);
const bad = {
  'huge-length': (() => { const f = new Uint8Array(16); new DataView(f.buffer).setBigUint64(0, 100_000_001n, true); return f; })(),
  'max-length': new Uint8Array(16).fill(0xff),
  'overlap': build(`{"a":${entry('U8', [4], 0, 4)},"b":${entry('U8', [4], 2, 6)}}`, bytes(6, 2)),
  'hole': build(`{"a":${entry('U8', [2], 0, 2)},"b":${entry('U8', [2], 4, 6)}}`, bytes(6, 3)),
  'trailing': build(`{"a":${entry('U8', [2], 0, 2)}}`, bytes(4, 4)),
  'size-mismatch': build(`{"a":${entry('F32', [3], 0, 8)}}`, bytes(8, 5)),
  'out-of-bounds': build(`{"a":${entry('F32', [1024], 0, 4096)}}`, bytes(8, 6)),
  'offsets-reversed': build(`{"a":${entry('U8', [0], 4, 0)}}`, bytes(4, 7)),
  'shape-overflow': build(`{"a":${entry('U8', [4294967296, 4294967296, 16], 0, 0)}}`),
  'shape-negative': build(`{"a":${entry('U8', [-1], 0, 0)}}`),
  'shape-fraction': build(`{"a":${entry('U8', [1.5], 0, 0)}}`),
  'duplicate-key': build(`{"a":${entry('U8', [1], 0, 1)},"a":${entry('U8', [1], 1, 2)}}`, bytes(2, 8)),
  'unknown-dtype': build(`{"a":${entry('F128', [1], 0, 16)}}`, bytes(16, 9)),
  'i64-beyond-2^53': build(`{"n":${entry('I64', [1], 0, 8)}}`, i64big),
  'metadata-number': build(`{"__metadata__":{"a":1}}`),
  'not-an-object': build('[1,2,3]'),
  'bom': build('\ufeff{}'),
  'invalid-utf8': (() => { const f = build('{"a\u00e9":1}'); f[11] = 0xff; return f; })(),
  'deep-nesting': build(`{"__metadata__":${'['.repeat(200)}${']'.repeat(200)}}`),
  'empty-object': build('{}'),
  'missing-offsets': build(`{"a":{"dtype":"F32","shape":[1]}}`, bytes(4, 10)),
  'extra-field': build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, bytes(4, 11)),
  // The limits checked before parsing (crates/liven-core/src/safetensors.rs: MAX_DEPTH, MAX_RANK).
  'nesting-past-the-limit': build(`{"a":${'['.repeat(127)}${']'.repeat(127)}}`),
  'rank-65': build(`{"a":${entry('F32', Array(65).fill(1), 0, 4)}}`, bytes(4, 12)),
};
for (const [name, f] of Object.entries(bad)) write(`bad-${name}`, f);
