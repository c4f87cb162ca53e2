// The safetensors reader in TypeScript: the same checks and messages as
// crates/liven-core/src/safetensors.rs (whose comments explain the rules), for the JS backend.
import { compareUtf8 } from '../../io/utf8.js';
import type { SafetensorsEntry, SafetensorsTable } from '../types.js';

const MAX_HEADER_LEN = 100_000_000;
/** The limits of the Rust reader (MAX_TENSORS, MAX_RANK, MAX_DEPTH, MAX_MEMBERS, MAX_VALUES there say why). */
export const SAFETENSORS_LIMITS = Object.freeze({ tensors: 100_000, rank: 64, depth: 127, members: 65_536, values: 2_000_000 });
const SIZES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
};
const READABLE = new Set(['F32', 'F64', 'F16', 'BF16', 'I64', 'I32']);
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

const fail = (message: string): never => {
  throw new Error(message);
};
const q = (s: string) => JSON.stringify(s);
const fmt = (shape: number[]) => `[${shape.join(', ')}]`;
const safeUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function safetensorsParse(file: Uint8Array): SafetensorsTable {
  if (file.length < 8) fail(`the file has ${file.length} bytes, fewer than the 8 of the header length: truncated`);
  const n = new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_LEN)) fail(`the header length is ${n} bytes, more than the limit of ${MAX_HEADER_LEN} (a corrupt file?)`);
  const rest = file.length - 8;
  if (n > BigInt(rest)) fail(`the header length is ${n} bytes, but only ${rest} bytes follow it: truncated`);
  const dataStart = 8 + Number(n);
  let text = '';
  try {
    // ignoreBOM keeps a byte-order mark in the text, where it fails the '{' check as in Rust.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(file.subarray(8, dataStart));
  } catch {
    fail('the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail("the header does not start with '{'");
  // Before JSON.parse, which would spend gigabytes on a deeply nested or huge header.
  checkLimits(text);
  let root: Record<string, unknown> = {};
  try {
    root = JSON.parse(text);
  } catch (e) {
    fail(`the header is not valid JSON: ${(e as Error).message}`);
  }
  const duplicate = checkStructure(text);
  if (duplicate !== null) fail(`the header has a duplicate key ${q(duplicate)}`);

  const dataLen = file.length - dataStart;
  const tensors: SafetensorsEntry[] = [];
  let metadata: string[][] = [];
  // In key order, as serde_json's map visits them, so that both readers report the same first problem.
  for (const [name, value] of Object.entries(root).sort(([a], [b]) => compareUtf8(a, b))) {
    if (name === '__metadata__') metadata = readMetadata(value);
    else tensors.push(entry(name, value, dataStart, dataLen));
  }
  if (tensors.length > SAFETENSORS_LIMITS.tensors) fail(tooManyTensors());
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = dataStart;
  let previous: SafetensorsEntry | null = null;
  for (const t of tensors) {
    const offsets = `data_offsets [${t.begin - dataStart}, ${t.end - dataStart}]`;
    if (t.begin < expected) fail(`tensor ${q(t.name)} (${offsets}) overlaps${previous ? ` tensor ${q(previous.name)}` : ''}`);
    if (t.begin > expected) fail(`${t.begin - expected} unused bytes lie before tensor ${q(t.name)} (${offsets})`);
    expected = t.end;
    previous = t;
  }
  if (expected !== file.length) fail(`${file.length - expected} bytes follow the last tensor's data`);
  metadata.sort((a, b) => compareUtf8(a[0]!, b[0]!));
  return { tensors, metadata };
}

function readMetadata(value: unknown): string[][] {
  if (value === null) return [];
  if (typeof value !== 'object' || Array.isArray(value)) return fail('__metadata__ must be an object of strings');
  return Object.entries(value as Record<string, unknown>).map(([k, v]) => (typeof v === 'string' ? [k, v] : fail(`__metadata__ ${q(k)} is not a string`)));
}

function entry(name: string, value: unknown, dataStart: number, dataLen: number): SafetensorsEntry {
  const bad = (why: string): never => fail(`tensor ${q(name)}: ${why}`);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) bad('the entry must be an object with dtype, shape and data_offsets');
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') bad('dtype must be a string');
  const size = Object.hasOwn(SIZES, dtype as string) ? SIZES[dtype as string]! : bad(`unknown dtype ${q(dtype as string)}`);
  if (!Array.isArray(shape) || !shape.every(safeUint)) bad('shape must be an array of non-negative integers');
  if ((shape as number[]).length > SAFETENSORS_LIMITS.rank) bad(`shape has ${(shape as number[]).length} dimensions, more than ${SAFETENSORS_LIMITS.rank}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(safeUint)) bad('data_offsets must be two non-negative integers');
  const dims = shape as number[];
  const [begin, end] = offsets as [number, number];
  const where = `data_offsets [${begin}, ${end}]`;
  if (end < begin) bad(`${where} end before they begin`);
  let needed = size;
  for (const d of dims) {
    needed *= d;
    if (needed > Number.MAX_SAFE_INTEGER) bad(`shape ${fmt(dims)} is too large`);
  }
  if (end - begin !== needed) fail(`tensor ${q(name)}: shape ${fmt(dims)} of ${dtype} needs ${needed} bytes, but ${where} span ${end - begin}`);
  if (end > dataLen) fail(`tensor ${q(name)}: ${where} reach past the end of the data (${dataLen} bytes): truncated`);
  return { name, dtype: dtype as string, shape: dims, begin: dataStart + begin, end: dataStart + end };
}

const tooManyTensors = () => `the header has more than ${SAFETENSORS_LIMITS.tensors} tensors`;

/**
 * Bounds what parsing will cost, in one pass before JSON.parse (as `check_structure` in Rust,
 * failing at the same character with the same message): nesting depth, members of the
 * top-level object (tensors), members of any object or array below it, and JSON values
 * counted as one plus every '{', '[' and ',' outside strings.
 */
function checkLimits(text: string): void {
  const { tensors, depth: maxDepth, members: maxMembers, values: maxValues } = SAFETENSORS_LIMITS;
  /** Members so far (one plus the commas) of each open object or array. */
  const open: number[] = [];
  let values = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: to its closing quote, stepping over escapes.
      i++;
      while (i < text.length && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      open.push(1);
      values++;
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      continue;
    } else if (c === 0x2c) {
      values++;
      if (open.length > 0) open[open.length - 1]!++;
    } else {
      continue;
    }
    const members = open.length > 0 ? open[open.length - 1]! : 0;
    if (open.length > maxDepth) fail(`the header is not valid JSON: nested more than ${maxDepth} deep`);
    // The metadata is a member of the top level too.
    if (open.length === 1 && members > tensors + 1) fail(tooManyTensors());
    if (open.length > 1 && members > maxMembers) fail(`the header has an object or array of more than ${maxMembers} members`);
    if (values > maxValues) fail(`the header holds more than ${maxValues} JSON values`);
  }
}

/**
 * Scans JSON text that JSON.parse accepted for what it lets through and serde_json does not: a
 * key twice in one object (returned); a number beyond the float64 range, or a \u escape that
 * leaves a lone surrogate (thrown). (Nesting was bounded by `checkLimits`.)
 */
function checkStructure(text: string): string | null {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      let escaped = false;
      while (text.charCodeAt(j) !== 0x22) {
        if (text.charCodeAt(j) === 0x5c) {
          escaped = true;
          j += 2;
        } else {
          j += 1;
        }
      }
      const value = escaped || expectKey ? (JSON.parse(text.slice(i, j + 1)) as string) : '';
      if (escaped && /\p{Cs}/u.test(value)) fail('the header is not valid JSON: a \\u escape leaves a lone surrogate');
      if (expectKey) {
        const key = value;
        const keys = stack[stack.length - 1]!;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b || c === 0x5b) {
      stack.push(c === 0x7b ? new Set() : null);
      expectKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
    } else if (c === 0x2c) {
      expectKey = stack[stack.length - 1] instanceof Set;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < text.length && /[0-9eE.+-]/.test(text[j]!)) j++;
      if (!Number.isFinite(Number(text.slice(i, j)))) fail('the header is not valid JSON: a number out of range');
      i = j - 1;
    }
  }
  return null;
}

/** IEEE half precision bits to single precision bits, exactly. */
function f16Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    // Subnormal: mant · 2^-24 = (1 + rest / 2^e) · 2^(e - 24), with e the top bit of mant.
    const e = 31 - Math.clz32(mant);
    return (sign | ((e + 103) << 23) | ((mant - (1 << e)) << (23 - e))) >>> 0;
  }
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
}

export function safetensorsToF32(bytes: Uint8Array, dtype: string, out: Float32Array): void {
  if (!Object.hasOwn(SIZES, dtype)) fail(`safetensorsToF32: unknown dtype ${q(dtype)}`);
  if (!READABLE.has(dtype)) fail(`dtype ${dtype} is not supported; liven reads F32, F64, F16, BF16, I64 and I32`);
  const size = SIZES[dtype]!;
  if (out.length * size !== bytes.length) fail(`${bytes.length} bytes of ${dtype} do not make ${out.length} elements`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Bit patterns go through a Uint32Array so that NaN payloads survive, as in Rust.
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  switch (dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
      else for (let i = 0; i < out.length; i++) bits[i] = view.getUint32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < out.length; i++) bits[i] = f16Bits(view.getUint16(2 * i, true));
      break;
    case 'BF16':
      for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(2 * i, true) * 0x10000;
      break;
    case 'I32':
      for (let i = 0; i < out.length; i++) out[i] = view.getInt32(4 * i, true);
      break;
    case 'I64':
      for (let i = 0; i < out.length; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v > 2n ** 53n || v < -(2n ** 53n)) fail(`I64 element ${i} is ${v}, beyond ±2^53`);
        out[i] = Number(v);
      }
      break;
  }
}
