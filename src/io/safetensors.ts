import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { kernels } from '../backend/index.js';
import { compareUtf8 } from './utf8.js';
import { checkShape } from '../check.js';
import { Tensor } from '../tensor.js';

/** What a safetensors file holds: float32 tensors by name and the string metadata. */
export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const READABLE = new Set(['F32', 'F64', 'F16', 'BF16', 'I64', 'I32']);
const MAX_HEADER_LEN = 100_000_000;

function rethrow(where: string, e: unknown): never {
  throw new Error(`${where}: ${(e as Error).message}`, { cause: e });
}

/**
 * Reads a safetensors file from memory. Every tensor becomes float32: F64 rounds to nearest,
 * F16 and BF16 widen exactly, I32 and I64 round to the nearest float32 (exact up to 2^24, as
 * BatchNorm's num_batches_tracked is); an I64 beyond ±2^53 is an error. A truncated file, a
 * header that lies about sizes or offsets, overlapping tensors, a header length over 100 MB,
 * invalid UTF-8 or JSON, a duplicate key or another dtype is an Error that says what is wrong.
 * The header is checked by liven-core's Rust reader on the native backend, by the same rules
 * in TypeScript on the js backend.
 */
export function parseSafetensors(bytes: Uint8Array, where = 'parseSafetensors'): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${where}: the file must be a Uint8Array (or Buffer)`);
  const k = kernels();
  let table;
  try {
    table = k.safetensorsParse(bytes);
  } catch (e) {
    rethrow(where, e);
  }
  // Every check before the first conversion, so a bad tensor costs no allocation.
  const sizes = table.tensors.map((t) => {
    if (!READABLE.has(t.dtype)) throw new Error(`${where}: tensor ${JSON.stringify(t.name)}: dtype ${t.dtype} is not supported; liven reads F32, F64, F16, BF16, I64 and I32`);
    try {
      return checkShape(t.shape, `tensor ${JSON.stringify(t.name)}: shape`);
    } catch (e) {
      return rethrow(where, e);
    }
  });
  const tensors = table.tensors.map((t, i): [string, Tensor] => {
    const data = new Float32Array(sizes[i]!);
    try {
      k.safetensorsToF32(bytes.subarray(t.begin, t.end), t.dtype, data);
    } catch (e) {
      rethrow(`${where}: tensor ${JSON.stringify(t.name)}`, e);
    }
    return [t.name, new Tensor(data, t.shape)];
  });
  // fromEntries defines own properties, so a tensor named "__proto__" is just a key.
  return { tensors: Object.fromEntries(tensors), metadata: Object.fromEntries(table.metadata.map(([k, v]) => [k!, v!])) };
}

/**
 * A safetensors file of float32 tensors, laid out as the reference writer lays it out (tensors
 * sorted by name, compact JSON header with `__metadata__` first, padded with spaces to a
 * multiple of 8 bytes), so that for float32 tensors and at most one metadata entry the bytes
 * equal those of `safetensors.torch.save_file`.
 */
export function serializeSafetensors(tensors: Record<string, Tensor>, options?: { metadata?: Record<string, string> }): Uint8Array {
  const where = 'serializeSafetensors';
  if (tensors === null || typeof tensors !== 'object' || Array.isArray(tensors)) throw new TypeError(`${where}: tensors must be an object of Tensors by name`);
  const metadata = options?.metadata;
  if (metadata !== undefined && (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))) {
    throw new TypeError(`${where}: metadata must be an object of strings`);
  }
  const parts: string[] = [];
  if (metadata !== undefined) {
    const meta = Object.entries(metadata).map(([key, value]) => {
      if (typeof value !== 'string') throw new TypeError(`${where}: metadata ${JSON.stringify(key)} is ${typeof value}, not a string`);
      return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    });
    parts.push(`"__metadata__":{${meta.join(',')}}`);
  }
  const names = Object.keys(tensors).sort(compareUtf8);
  let offset = 0;
  for (const name of names) {
    const t: unknown = tensors[name];
    if (!(t instanceof Tensor)) throw new TypeError(`${where}: ${JSON.stringify(name)} is not a Tensor`);
    t.checkUsable(`${where}: ${JSON.stringify(name)}`);
    if (name === '__metadata__') throw new RangeError(`${where}: "__metadata__" is reserved for the metadata and cannot name a tensor`);
    parts.push(`${JSON.stringify(name)}:{"dtype":"F32","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + 4 * t.size}]}`);
    offset += 4 * t.size;
  }
  const header = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(header.length / 8) * 8;
  if (padded > MAX_HEADER_LEN) throw new RangeError(`${where}: the header would be ${padded} bytes, more than readers accept (${MAX_HEADER_LEN})`);
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(padded), true);
  out.fill(0x20, 8, 8 + padded);
  out.set(header, 8);
  let at = 8 + padded;
  for (const name of names) {
    const data = (tensors[name] as Tensor).data;
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    } else {
      const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
      for (let i = 0; i < bits.length; i++) view.setUint32(at + 4 * i, bits[i]!, true);
    }
    at += data.byteLength;
  }
  return out;
}

/**
 * Writes `tensors` (a state dict) as float32 safetensors, with optional string metadata. The
 * file is written beside `path` and renamed into place, so a crash never leaves half a file.
 */
export function saveSafetensors(path: string, tensors: Record<string, Tensor>, options?: { metadata?: Record<string, string> }): void {
  const bytes = serializeSafetensors(tensors, options);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** The tensors of a safetensors file, as float32 (see `parseSafetensors`). */
export function loadSafetensors(path: string): Record<string, Tensor> {
  return parseSafetensors(readFileSync(path), `loadSafetensors(${JSON.stringify(path)})`).tensors;
}

/** The tensors and the `__metadata__` strings of a safetensors file. */
export function loadSafetensorsFile(path: string): SafetensorsFile {
  return parseSafetensors(readFileSync(path), `loadSafetensors(${JSON.stringify(path)})`);
}
