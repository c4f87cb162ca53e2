import { checkOptions } from '../check.js';

/**
 * A builder's options bag, checked: a TypeError for anything but an object and for a key the
 * builder doesn't take (a typo such as `numclasses` would otherwise build a 1000-class model).
 */
export function builderOptions<T extends object>(options: T | undefined, what: string, allowed: readonly (keyof T & string)[]): Partial<T> {
  const o = checkOptions(options, what);
  const unknown = Object.keys(o).filter((k) => !(allowed as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new TypeError(`${what} has no option ${unknown.map((k) => JSON.stringify(k)).join(', ')}; its options are ${allowed.join(', ')}`);
  }
  return o;
}
