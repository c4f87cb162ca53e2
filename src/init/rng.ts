import { checkFinite } from '../check.js';

/**
 * A seedable generator with a fixed algorithm, so that a seed gives bit-identical numbers on
 * every run, platform and backend:
 * - state: xoshiro128** (Blackman & Vigna), four 32-bit words;
 * - seeding: the seed (any finite number; its integer part modulo 2^32) is expanded to the four
 *   words by splitmix32 (the 32-bit variant of SplitMix: add 0x9E3779B9, then mix);
 * - `uniform()`: the top 24 bits of the next output times 2^-24, a float32 in [0, 1);
 * - `normal()`: Box–Muller on two 53-bit uniforms, using the cosine branch only (one normal per
 *   two draws, so the stream never depends on a cached value).
 */
export class Rng {
  #s = new Uint32Array(4);

  constructor(seed = 0) {
    this.seed(seed);
  }

  /** Restarts the stream from `seed`. */
  seed(seed: number): void {
    checkFinite(seed, 'seed');
    let x = Math.trunc(seed) >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.#s[i] = z ^ (z >>> 16);
    }
    // xoshiro must not start from the all-zero state.
    if (this.#s.every((w) => w === 0)) this.#s[0] = 1;
  }

  /** The next 32 random bits, as an unsigned integer. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** A float32 uniform on [0, 1). */
  uniform(): number {
    return (this.nextUint32() >>> 8) * 2 ** -24;
  }

  /** A standard normal (float64). */
  normal(): number {
    // 53-bit uniforms; u1 in (0, 1] keeps the logarithm finite.
    const u1 = 1 - this.#uniform53();
    const u2 = this.#uniform53();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  #uniform53(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The generator `init` and layer constructors use unless given `{ rng }`. */
export const globalRng = new Rng(0);

/** Seeds the global generator: the same seed gives bit-identical initial weights everywhere. */
export function manualSeed(seed: number): void {
  globalRng.seed(seed);
}
