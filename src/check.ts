// Argument checks shared by every public entry point. Each throws a TypeError for a value of
// the wrong kind and a RangeError for a value of the right kind that is out of range, with the
// offending value or shape in the message.

/** `[2, 3, 4]` as it appears in error messages. */
export function formatShape(shape: readonly unknown[]): string {
  return `[${shape.map((d) => String(d)).join(', ')}]`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an Array';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'object') return `a ${value.constructor?.name ?? 'object'}`;
  return `${typeof value} ${String(value)}`;
}

/** Checks a shape and returns its element count. */
export function checkShape(shape: unknown, what = 'shape'): number {
  if (!Array.isArray(shape)) {
    throw new TypeError(`${what} must be an array of dimensions, got ${describe(shape)}`);
  }
  let size = 1;
  for (const d of shape) {
    if (typeof d !== 'number') {
      throw new TypeError(`${what} ${formatShape(shape)} has a dimension that is not a number`);
    }
    if (!Number.isInteger(d) || d < 0) {
      throw new RangeError(`${what} ${formatShape(shape)} has a dimension that is not a non-negative integer`);
    }
    size *= d;
  }
  // Float32Array lengths are capped far below 2^53, so this also rules out overflow.
  if (!Number.isSafeInteger(size) || size * 4 > MAX_BYTES) {
    throw new RangeError(`${what} ${formatShape(shape)} has ${size} elements, more than a Float32Array can hold`);
  }
  return size;
}

/** The largest ArrayBuffer V8 allocates on 64-bit platforms (2^32 elements of 4 bytes is past it). */
const MAX_BYTES = 2 ** 33;

/** A positive integer option such as a size or a count. */
export function checkPositiveInt(value: unknown, what: string): number {
  if (typeof value !== 'number') throw new TypeError(`${what} must be a number, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${what} must be a positive integer, got ${value}`);
  return value;
}

/** A finite number option such as a slope. */
export function checkFinite(value: unknown, what: string): number {
  if (typeof value !== 'number') throw new TypeError(`${what} must be a number, got ${describe(value)}`);
  if (!Number.isFinite(value)) throw new RangeError(`${what} must be finite, got ${value}`);
  return value;
}

/**
 * An options bag: undefined or a plain object; with `allowed`, a key outside it (a typo that
 * would otherwise be ignored) is a TypeError naming it.
 */
export function checkOptions<T extends object>(options: T | undefined, what: string, allowed?: readonly (keyof T & string)[]): Partial<T> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${what} options must be an object, got ${describe(options)}`);
  }
  const unknown = allowed === undefined ? [] : Object.keys(options).filter((k) => !(allowed as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new TypeError(`${what} has no option ${unknown.map((k) => JSON.stringify(k)).join(', ')}; its options are ${allowed!.join(', ')}`);
  }
  return options;
}

/** A boolean option: a TypeError naming `what` for anything else. */
export function checkBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${what} must be a boolean, got ${describe(value)}`);
  return value;
}

/** Throws unless `data` is a Float32Array whose memory is still there. */
export function checkFloat32Array(data: unknown, what: string): Float32Array {
  if (!(data instanceof Float32Array)) {
    throw new TypeError(`${what} must be a Float32Array, got ${describe(data)}`);
  }
  return data;
}

/** A detached ArrayBuffer reads as empty (Node 20 has no `detached` property to ask). */
export function isDetached(data: Float32Array): boolean {
  return data.buffer.byteLength === 0 && !(data.buffer instanceof SharedArrayBuffer);
}

export { describe as describeValue };
