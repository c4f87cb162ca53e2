import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { kernels } from '../backend/index.js';
import type { SafetensorsEntry } from '../backend/types.js';
import { FileLimitError, checkMaxBytes, readRegularFile } from './files.js';
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
export { SAFETENSORS_LIMITS } from '../backend/js/safetensors.js';

function rethrow(where: string, e: unknown): never {
  throw new Error(`${where}: ${(e as Error).message}`, { cause: e });
}

/**
 * Weights to load, by state-dict key: every shape is known before any tensor is converted, so a
 * loader can check them against a model, and the model against a memory limit, before it
 * allocates anything (`buildWithWeights`). `safetensorsWeights` makes one from a file's bytes;
 * an ONNX reader makes one from its initializers.
 */
export interface WeightSource {
  /** Each tensor's shape by key, in the source's order. */
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  /** Writes the tensor `key` as float32 into `out`, whose length is its shape's size. */
  read(key: string, out: Float32Array): void;
}

/**
 * The tensors of a safetensors file as a WeightSource: the header is parsed and checked now
 * (everything `parseSafetensors` checks except the values), each tensor is converted to
 * float32 when `read`. `bytes` must stay unchanged while the source is used.
 */
export function safetensorsWeights(bytes: Uint8Array, where = 'safetensorsWeights'): WeightSource & { metadata: Record<string, string> } {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${where}: the file must be a Uint8Array (or Buffer)`);
  const k = kernels();
  let table;
  try {
    table = k.safetensorsParse(bytes);
  } catch (e) {
    rethrow(where, e);
  }
  const entries = new Map<string, SafetensorsEntry>();
  const shapes = new Map<string, readonly number[]>();
  for (const t of table.tensors) {
    if (!READABLE.has(t.dtype)) throw new Error(`${where}: tensor ${JSON.stringify(t.name)}: dtype ${t.dtype} is not supported; liven reads F32, F64, F16, BF16, I64 and I32`);
    try {
      checkShape(t.shape, `tensor ${JSON.stringify(t.name)}: shape`);
    } catch (e) {
      rethrow(where, e);
    }
    entries.set(t.name, t);
    shapes.set(t.name, t.shape);
  }
  return {
    shapes,
    // fromEntries defines own properties, so a key named "__proto__" is just a key.
    metadata: Object.fromEntries(table.metadata.map(([key, value]) => [key!, value!])),
    read(key, out) {
      const t = entries.get(key);
      if (t === undefined) throw new Error(`${where}: no tensor ${JSON.stringify(key)}`);
      try {
        k.safetensorsToF32(bytes.subarray(t.begin, t.end), t.dtype, out);
      } catch (e) {
        rethrow(`${where}: tensor ${JSON.stringify(t.name)}`, e);
      }
    },
  };
}

/**
 * Reads a safetensors file from memory. Every tensor becomes float32: F64 rounds to nearest,
 * F16 and BF16 widen exactly, I32 and I64 round to the nearest float32 (exact up to 2^24, as
 * BatchNorm's num_batches_tracked is); an I64 beyond ±2^53 is an error. A truncated file, a
 * header that lies about sizes or offsets, overlapping tensors, a header length over 100 MB,
 * invalid UTF-8 or JSON, a duplicate key or another dtype is an Error that says what is wrong;
 * so is a header past the readers' limits (`SAFETENSORS_LIMITS`: more than 100,000 tensors, a
 * rank over 64, more than 65,536 metadata entries or members of any nested object or array,
 * JSON nested deeper than 127 or holding more than 2,000,000 values), checked before the
 * header is parsed. The header is checked by liven-core's Rust reader on the native
 * backend, by the same rules in TypeScript on the js backend.
 */
export function parseSafetensors(bytes: Uint8Array, where = 'parseSafetensors'): SafetensorsFile {
  const source = safetensorsWeights(bytes, where);
  // Every check before the first conversion, so a bad tensor costs no allocation.
  const tensors = [...source.shapes].map(([name, shape]): [string, Tensor] => {
    // Not Tensor.zeros: these tensors hold data even inside a build scope.
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    source.read(name, data);
    return [name, new Tensor(data, shape)];
  });
  return { tensors: Object.fromEntries(tensors), metadata: source.metadata };
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
 * bytes go to a new temporary file beside `path` (a random name, created exclusively with mode
 * 0600, so nothing planted there is followed or overwritten), are flushed to disk, and the file
 * is renamed into place: a crash never leaves half a file, and a failure removes the temporary
 * one. The saved file keeps mode 0600 (readable by its owner only).
 */
export function saveSafetensors(path: string, tensors: Record<string, Tensor>, options?: { metadata?: Record<string, string> }): void {
  const bytes = serializeSafetensors(tensors, options);
  const tmp = `${path}.${randomBytes(8).toString('hex')}.tmp`;
  // If this throws (the directory is missing, or the name exists), there is nothing to clean up.
  const fd = openSync(tmp, 'wx', 0o600);
  let open = true;
  try {
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
    open = false;
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    if (open) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Reads a file for the loaders below, naming it in a limit's message. */
function readFile(path: string, options: { maxBytes?: number } | undefined, where: string): Buffer {
  const maxBytes = checkMaxBytes(options?.maxBytes, where);
  try {
    return readRegularFile(path, maxBytes);
  } catch (e) {
    if (e instanceof FileLimitError) throw new FileLimitError(e.code, `${where}: ${e.message}`);
    throw e;
  }
}

/**
 * The tensors of a safetensors file, as float32 (see `parseSafetensors`). The path must name a
 * regular file of at most `maxBytes` (default 4 GiB, `DEFAULT_MAX_BYTES`); otherwise a
 * FileLimitError says which, before anything is read.
 */
export function loadSafetensors(path: string, options?: { maxBytes?: number }): Record<string, Tensor> {
  return loadSafetensorsFile(path, options).tensors;
}

/** The tensors and the `__metadata__` strings of a safetensors file (see `loadSafetensors`). */
export function loadSafetensorsFile(path: string, options?: { maxBytes?: number }): SafetensorsFile {
  const where = `loadSafetensors(${JSON.stringify(path)})`;
  return parseSafetensors(readFile(path, options, where), where);
}
