// Fixture values beyond JSON's numbers: the pooling, softmax and loss fixtures write NaN and
// ±inf as strings.
import { expect } from 'vitest';
import type { Tensor } from '../src/index.js';
import type { FixtureTensor } from './helpers/fixtures.js';
import { expectClose } from './helpers/numeric.js';

/** Fixture tensors write NaN and ±inf as strings (JSON has no such numbers). */
export function decode(t: FixtureTensor): { shape: number[]; data: Float32Array } {
  return { shape: t.shape, data: Float32Array.from(t.data, (v) => (typeof v === 'string' ? Number(v) : v)) };
}

/** expectClose, with infinities required to match exactly (the shared helper's |a - b| is NaN there). */
export function expectCloseInf(actual: Tensor, expected: { shape: number[]; data: Float32Array }, what: string, tol?: { atol?: number; rtol?: number }): void {
  const a = Float32Array.from(actual.data);
  const e = Float32Array.from(expected.data);
  for (let i = 0; i < e.length; i++) {
    if (e[i] === Infinity || e[i] === -Infinity) {
      expect(a[i], `${what}: element ${i}`).toBe(e[i]);
      a[i] = e[i] = 0;
    }
  }
  expect(actual.shape, `${what}: shape`).toEqual(expected.shape);
  expectClose(a, { data: e }, what, tol);
}

