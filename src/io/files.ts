// Reading a file whole, within a size limit: only regular files (a device such as /dev/zero,
// a FIFO or a directory would be read forever, block, or fail late), never more than asked.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/**
 * The default limit on the memory a load may take, in bytes (4 GiB): the size of a file read
 * whole (`loadSafetensors`, `liven diagnose`), and the bytes of a model's parameters, their
 * gradients and buffers built by `buildWithWeights` / `loadModel`. Each takes a `maxBytes`
 * option to raise or lower it.
 */
export const DEFAULT_MAX_BYTES = 4 * 2 ** 30;

/** A byte count for messages: `4294967296 bytes (4 GiB)`. */
export function formatBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let unit = '';
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return unit === '' ? `${n} bytes` : `${n} bytes (${Number(v.toPrecision(3))} ${unit})`;
}

/** Checks a `maxBytes` option: a non-negative integer (or undefined for the default). */
export function checkMaxBytes(value: unknown, what: string): number {
  if (value === undefined) return DEFAULT_MAX_BYTES;
  if (typeof value !== 'number') throw new TypeError(`${what}: maxBytes must be a number, got ${typeof value}`);
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what}: maxBytes must be a non-negative integer, got ${value}`);
  return value;
}

function kindOf(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * A file that is not a regular file or is larger than the limit. `code` is `'ENOTREG'` or
 * `'EFBIG'`, as system errors carry theirs, so that callers can tell them from a missing file.
 */
export class FileLimitError extends Error {
  readonly code: 'ENOTREG' | 'EFBIG';
  constructor(code: 'ENOTREG' | 'EFBIG', message: string) {
    super(message);
    this.name = 'FileLimitError';
    this.code = code;
  }
}

/**
 * The bytes of the regular file at `path`, at most `maxBytes` of them. The file is opened
 * without blocking (a FIFO cannot hang the call) and checked with fstat on the open
 * descriptor: a directory, device, FIFO or socket is a FileLimitError (`ENOTREG`), as is a
 * file over the limit (`EFBIG`), before anything is read. System errors (ENOENT, EACCES, ...)
 * are thrown as they are.
 */
export function readRegularFile(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new FileLimitError('ENOTREG', `it is ${kindOf(stats)}, not a regular file`);
    if (stats.size > maxBytes) throw new FileLimitError('EFBIG', `it has ${formatBytes(stats.size)}, more than the limit of ${formatBytes(maxBytes)}`);
    const bytes = Buffer.allocUnsafeSlow(stats.size);
    let at = 0;
    while (at < bytes.length) {
      const n = readSync(fd, bytes, at, bytes.length - at, at);
      if (n === 0) break;
      at += n;
    }
    // A file that grew since fstat is read no further than it was then.
    return at === bytes.length ? bytes : bytes.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}
