import { describe, expect, it } from 'vitest';
import { Tensor, init, manualSeed } from '../src/index.js';
import { backends, withBackend } from './helpers/backends.js';

describe('init', () => {
  it('the same seed fills bit-identical weights; another seed does not', () => {
    const a = Tensor.zeros([16, 8, 3, 3]);
    const b = Tensor.zeros([16, 8, 3, 3]);
    manualSeed(42);
    init.kaimingUniform(a);
    manualSeed(42);
    init.kaimingUniform(b);
    expect(b.data).toEqual(a.data);
    init.kaimingUniform(b, { rng: new init.Rng(43) });
    expect(b.data).not.toEqual(a.data);
  });

  it('the generator is the documented xoshiro128** stream', () => {
    // Expected values from an independent Python implementation of the algorithm in rng.ts's
    // doc comment (splitmix32 seeding, xoshiro128**). A change here changes every initial weight.
    const r = new init.Rng(0);
    expect([r.nextUint32(), r.nextUint32(), r.nextUint32()]).toEqual([3809008728, 1133695204, 53579671]);
  });

  it('kaimingUniform uses PyTorch fans and gain (a = √5 gives bound 1/√fanIn)', () => {
    const w = Tensor.zeros([64, 32, 3, 3]);
    init.kaimingUniform(w, { a: Math.sqrt(5), rng: new init.Rng(1) });
    const bound = 1 / Math.sqrt(32 * 9);
    const max = w.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(max).toBeLessThanOrEqual(bound);
    expect(max).toBeGreaterThan(0.99 * bound);
  });

  it('gains', () => {
    expect(init.calculateGain('relu')).toBeCloseTo(Math.SQRT2, 12);
    expect(init.calculateGain('leaky_relu', 0.2)).toBeCloseTo(Math.sqrt(2 / 1.04), 12);
    expect(init.calculateGain('tanh')).toBeCloseTo(5 / 3, 12);
    expect(() => init.calculateGain('swish' as never)).toThrow(RangeError);
  });

  it('fans need 2 dimensions', () => {
    expect(() => init.xavierUniform(Tensor.zeros([5]))).toThrow(/at least 2 dimensions, got shape \[5\]/);
  });
});

// ---------------------------------------------------------------- the laws, statistically
//
// Each check allows Z = 5 standard errors of its estimator, computed from the law and the
// sample size (a two-sided normal tail of 6e-7 per check; the seeds are fixed, so a pass is
// reproducible, and a wrong law — a bound off by a factor, a variance off by a few percent —
// is many standard errors away).
const Z = 5;

function moments(x: ArrayLike<number>): { n: number; mean: number; variance: number; min: number; max: number } {
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) {
    s += x[i]!;
    min = Math.min(min, x[i]!);
    max = Math.max(max, x[i]!);
  }
  const mean = s / x.length;
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += (x[i]! - mean) ** 2;
  return { n: x.length, mean, variance: ss / (x.length - 1), min, max };
}

/**
 * Checks the sample mean and variance against a law's mean, variance and fourth central
 * moment: se(mean) = σ/√n, se(s²) = √((μ4 − σ⁴)/n).
 */
function expectLaw(x: ArrayLike<number>, law: { mean: number; variance: number; mu4: number }, what: string): void {
  const m = moments(x);
  const seMean = Math.sqrt(law.variance / m.n);
  const seVar = Math.sqrt((law.mu4 - law.variance ** 2) / m.n);
  expect(Math.abs(m.mean - law.mean), `${what}: mean ${m.mean}, expected ${law.mean} ± ${Z * seMean}`).toBeLessThanOrEqual(Z * seMean);
  expect(Math.abs(m.variance - law.variance), `${what}: variance ${m.variance}, expected ${law.variance} ± ${Z * seVar}`).toBeLessThanOrEqual(Z * seVar);
}

/** U(-b, b): all within the bounds, both ends reached (P(no value within 20b/n of an end) = e^-10 per end). */
function expectUniform(x: Float32Array, lo: number, hi: number, what: string): void {
  const w = hi - lo;
  const m = moments(x);
  expect(m.min, `${what}: min`).toBeGreaterThanOrEqual(Math.fround(lo));
  expect(m.max, `${what}: max`).toBeLessThanOrEqual(Math.fround(hi));
  expect(m.min, `${what}: min near the lower bound`).toBeLessThan(lo + (10 * w) / x.length);
  expect(m.max, `${what}: max near the upper bound`).toBeGreaterThan(hi - (10 * w) / x.length);
  expectLaw(x, { mean: (lo + hi) / 2, variance: w ** 2 / 12, mu4: w ** 4 / 80 }, what);
}

function expectNormal(x: Float32Array, mean: number, std: number, what: string): void {
  expectLaw(x, { mean, variance: std ** 2, mu4: 3 * std ** 4 }, what);
  // Tails: the fraction beyond 2σ is 4.55% (binomial standard error).
  let beyond = 0;
  for (let i = 0; i < x.length; i++) if (Math.abs(x[i]! - mean) > 2 * std) beyond++;
  const p = 0.0455003;
  expect(Math.abs(beyond / x.length - p), `${what}: fraction beyond 2σ`).toBeLessThanOrEqual(Z * Math.sqrt((p * (1 - p)) / x.length));
}

describe('init laws on large tensors', () => {
  const rng = () => new init.Rng(2024);

  it('uniform and normal', () => {
    expectUniform(init.uniform(Tensor.zeros([1_000_000]), -0.5, 2, { rng: rng() }).data, -0.5, 2, 'uniform(-0.5, 2)');
    expectUniform(init.uniform(Tensor.zeros([400, 500]), 0, 1, { rng: rng() }).data, 0, 1, 'uniform default');
    expectNormal(init.normal(Tensor.zeros([1_000_000]), 0.3, 2, { rng: rng() }).data, 0.3, 2, 'normal(0.3, 2)');
    expectNormal(init.normal(Tensor.zeros([1000, 1000]), 0, 1, { rng: rng() }).data, 0, 1, 'normal default');
  });

  it('constant, zeros, ones', () => {
    const t = Tensor.zeros([3, 4]);
    expect([...init.constant(t, 0.25).data]).toEqual(new Array(12).fill(0.25));
    expect([...init.ones(t).data]).toEqual(new Array(12).fill(1));
    expect([...init.zeros(t).data]).toEqual(new Array(12).fill(0));
  });

  it('PyTorch fan rules for linear and conv weights', () => {
    expect(init.computeFans(Tensor.zeros([30, 20]))).toEqual({ fanIn: 20, fanOut: 30 });
    expect(init.computeFans(Tensor.zeros([16, 8, 3, 5]))).toEqual({ fanIn: 8 * 15, fanOut: 16 * 15 });
    expect(init.computeFans(Tensor.zeros([6, 4, 7]))).toEqual({ fanIn: 28, fanOut: 42 });
  });

  it('xavierUniform and xavierNormal: gain·√(2/(fanIn + fanOut))', () => {
    const lin = init.xavierUniform(Tensor.zeros([1000, 600]), { rng: rng() });
    const b = Math.sqrt(6 / 1600);
    expectUniform(lin.data, -b, b, 'xavierUniform linear');
    const conv = init.xavierUniform(Tensor.zeros([128, 64, 3, 3]), { gain: init.calculateGain('relu'), rng: rng() });
    const bc = Math.SQRT2 * Math.sqrt(6 / (64 * 9 + 128 * 9));
    expectUniform(conv.data, -bc, bc, 'xavierUniform conv, relu gain');
    const n = init.xavierNormal(Tensor.zeros([256, 64, 3, 3]), { gain: 0.5, rng: rng() });
    expectNormal(n.data, 0, 0.5 * Math.sqrt(2 / (64 * 9 + 256 * 9)), 'xavierNormal conv, gain 0.5');
  });

  it('kaimingUniform and kaimingNormal: gain/√fan with mode and nonlinearity', () => {
    const lin = init.kaimingUniform(Tensor.zeros([800, 1000]), { a: Math.sqrt(5), rng: rng() });
    expectUniform(lin.data, -1 / Math.sqrt(1000), 1 / Math.sqrt(1000), 'kaimingUniform a=√5 (nn.Linear)');
    const conv = init.kaimingUniform(Tensor.zeros([64, 128, 3, 3]), { mode: 'fan_out', nonlinearity: 'relu', rng: rng() });
    const b = Math.SQRT2 * Math.sqrt(3 / (64 * 9));
    expectUniform(conv.data, -b, b, 'kaimingUniform conv fan_out relu');
    const n = init.kaimingNormal(Tensor.zeros([512, 128, 3, 3]), { nonlinearity: 'relu', rng: rng() });
    expectNormal(n.data, 0, Math.SQRT2 / Math.sqrt(128 * 9), 'kaimingNormal conv fan_in relu');
    const leaky = init.kaimingNormal(Tensor.zeros([1000, 700]), { a: 0.2, mode: 'fan_out', rng: rng() });
    expectNormal(leaky.data, 0, Math.sqrt(2 / 1.04) / Math.sqrt(1000), 'kaimingNormal leaky 0.2 fan_out');
  });

  it('bad arguments', () => {
    expect(() => init.uniform(Tensor.zeros([2]), 1, 0)).toThrow(RangeError);
    expect(() => init.normal(Tensor.zeros([2]), 0, -1)).toThrow(RangeError);
    expect(() => init.kaimingUniform(Tensor.zeros([2, 2]), { mode: 'fan_avg' as never })).toThrow(/mode must be/);
    expect(() => init.orthogonal(Tensor.zeros([4]))).toThrow(/2 or more dimensions are supported, got shape \[4\]/);
    expect(() => init.xavierNormal(Tensor.zeros([2, 2]), { rng: {} as never })).toThrow(TypeError);
    expect(() => init.rai(Tensor.zeros([4, 3]), Tensor.zeros([3]))).toThrow(/needs a bias of shape \[4\], got \[3\]/);
    expect(() => init.rai(Tensor.zeros([4]), Tensor.zeros([4]))).toThrow(RangeError);
  });
});

describe('init.orthogonal', () => {
  /** XᵀX (cols × cols) of a row-major rows × cols matrix, in float64. */
  function gram(x: ArrayLike<number>, rows: number, cols: number, transposeFirst: boolean): Float64Array {
    // transposeFirst: XXᵀ instead of XᵀX.
    const [r, c] = transposeFirst ? [cols, rows] : [rows, cols];
    const at = (i: number, j: number) => (transposeFirst ? x[j * cols + i]! : x[i * cols + j]!);
    const g = new Float64Array(c * c);
    for (let a = 0; a < c; a++) for (let b = 0; b < c; b++) {
      let s = 0;
      for (let i = 0; i < r; i++) s += at(i, a) * at(i, b);
      g[a * c + b] = s;
    }
    return g;
  }

  it.each([
    [[64, 16], 1],
    [[16, 64], 1],
    [[8, 4, 3, 3], init.calculateGain('relu')],
    [[50, 50], 0.5],
  ])('shape %j, gain %d: WᵀW (or WWᵀ) = gain²·I', (shape, gain) => {
    const w = init.orthogonal(Tensor.zeros(shape as number[]), { gain, rng: new init.Rng(9) });
    const rows = (shape as number[])[0]!;
    const cols = w.size / rows;
    const small = Math.min(rows, cols);
    const g = gram(w.data, rows, cols, rows < cols);
    for (let a = 0; a < small; a++) for (let b = 0; b < small; b++) {
      expect(Math.abs(g[a * small + b]! - (a === b ? gain * gain : 0))).toBeLessThan(2e-6 * gain * gain * Math.sqrt(Math.max(rows, cols)));
    }
  });

  it.each([[[30, 12]], [[12, 30]]])('shape %j: it is the Q of the QR of the normal draws, with R\'s diagonal positive', (shape) => {
    // The same seed redraws PyTorch's `normal_(0, 1)` matrix A; then R = QᵀA (or, transposed, W·Aᵀ)
    // must be upper triangular with a positive diagonal.
    const [rows, cols] = shape as [number, number];
    const w = init.orthogonal(Tensor.zeros([rows, cols]), { rng: new init.Rng(5) });
    const a = init.normal(Tensor.zeros([rows, cols]), 0, 1, { rng: new init.Rng(5) }).data;
    const t = rows < cols;
    const [m, n] = t ? [cols, rows] : [rows, cols];
    const A = (i: number, j: number) => (t ? a[j * cols + i]! : a[i * cols + j]!); // m × n
    const Q = (i: number, j: number) => (t ? w.data[j * cols + i]! : w.data[i * cols + j]!); // m × n
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) {
      let s = 0;
      for (let i = 0; i < m; i++) s += Q(i, r) * A(i, c);
      if (r > c) expect(Math.abs(s), `R[${r}][${c}]`).toBeLessThan(1e-5);
      if (r === c) expect(s, `R[${r}][${r}]`).toBeGreaterThan(0.1);
    }
  });
});

describe('init.rai (Lu et al. 2019)', () => {
  // With P = Beta(2, 1): E[X] = 2/3, E[X²] = 1/2, E[X⁴] = 1/3; the others N(0, σ²), σ = 0.6007/√fanIn.
  it.each([
    [[40_000, 4], true],
    [[20_000, 2, 2, 2], true],
    [[30_000, 5], false],
  ])('weight %j (bias %s): each row has one Beta(2, 1) entry at a uniform place, the rest N(0, σ²)', (shape, withBias) => {
    const weight = Tensor.zeros(shape as number[]);
    const bias = withBias ? Tensor.zeros([(shape as number[])[0]!]) : null;
    init.rai(weight, bias, { rng: new init.Rng(77) });
    const out = weight.shape[0]!;
    const fanIn = weight.size / out;
    const width = withBias ? fanIn + 1 : fanIn;
    const s2 = 0.6007 ** 2 / fanIn;
    const row = (j: number) => [...weight.data.subarray(j * fanIn, (j + 1) * fanIn), ...(bias ? [bias.data[j]!] : [])];
    // Row sums: 2/3 + the normals' sum.
    const sums = Array.from({ length: out }, (_, j) => row(j).reduce((a, b) => a + b, 0));
    // A Beta(2, 1) has variance 1/18 and fourth central moment 1/135; a sum of independent
    // normals has variance τ² and 3τ⁴; the sum's fourth central moment is μ4 + 6·(1/18)·τ² + 3τ⁴.
    const tau2 = (width - 1) * s2;
    expectLaw(sums, { mean: 2 / 3, variance: 1 / 18 + tau2, mu4: 1 / 135 + (6 / 18) * tau2 + 3 * tau2 ** 2 }, 'row sums');
    // Row sums of squares: E = 1/2 + (width − 1)σ², Var = 1/12 + (width − 1)·2σ⁴.
    const sq = Array.from({ length: out }, (_, j) => row(j).reduce((a, b) => a + b * b, 0));
    const mSq = moments(sq);
    const seSq = Math.sqrt((1 / 12 + (width - 1) * 2 * s2 * s2) / out);
    expect(Math.abs(mSq.mean - (0.5 + (width - 1) * s2))).toBeLessThanOrEqual(Z * seSq);
    // Place: each column (the bias included) holds the Beta entry with probability 1/width, so
    // its mean is (2/3)/width and its second moment (1/2)/width + (1 − 1/width)σ².
    for (let c = 0; c < width; c++) {
      const col = Array.from({ length: out }, (_, j) => row(j)[c]!);
      const mean = 2 / 3 / width;
      const second = 0.5 / width + (1 - 1 / width) * s2;
      const fourth = 1 / 3 / width + (1 - 1 / width) * 3 * s2 * s2;
      const variance = second - mean ** 2;
      const m = moments(col);
      expect(Math.abs(m.mean - mean), `column ${c} mean`).toBeLessThanOrEqual(Z * Math.sqrt(variance / out));
      const meanSq = col.reduce((a, b) => a + b * b, 0) / out;
      expect(Math.abs(meanSq - second), `column ${c} second moment`).toBeLessThanOrEqual(Z * Math.sqrt((fourth - second ** 2) / out));
    }
    // The Beta value lies in [0, 1]: every row's largest entry is positive.
    for (let j = 0; j < out; j += 97) expect(Math.max(...row(j))).toBeGreaterThan(0);
  });
});

describe('init determinism', () => {
  const fill = (seed: number) => {
    const rng = new init.Rng(seed);
    return [
      init.uniform(Tensor.zeros([50]), -1, 1, { rng }),
      init.normal(Tensor.zeros([50]), 0, 1, { rng }),
      init.xavierUniform(Tensor.zeros([5, 10]), { rng }),
      init.xavierNormal(Tensor.zeros([5, 10]), { rng }),
      init.kaimingUniform(Tensor.zeros([4, 3, 3, 3]), { rng }),
      init.kaimingNormal(Tensor.zeros([4, 3, 3, 3]), { rng }),
      init.orthogonal(Tensor.zeros([6, 9]), { rng }),
      init.rai(Tensor.zeros([7, 5]), Tensor.zeros([7]), { rng }).bias!,
    ].map((t) => [...new Uint32Array(t.data.buffer)]);
  };

  it('the same seed gives the same bits on every backend; the global generator too', () => {
    const reference = fill(11);
    for (const backend of backends) {
      withBackend(backend, () => {
        expect(fill(11)).toEqual(reference);
        manualSeed(3);
        const a = init.orthogonal(Tensor.zeros([5, 5]));
        manualSeed(3);
        const b = init.orthogonal(Tensor.zeros([5, 5]));
        expect([...b.data]).toEqual([...a.data]);
      });
    }
    expect(fill(12)).not.toEqual(reference);
  });
});

describe('init.rai lowers the probability that a deep, narrow ReLU net is born dead', () => {
  // Lu et al.'s setting: width 2, depth 10, a 1-D input; a net is born dead when some hidden
  // layer outputs 0 for every input (the net is then constant). He initialisation (zero bias)
  // against RAI, 500 nets each: RAI's born-dead fraction must be lower by more than 5 standard
  // errors of the difference of the two proportions.
  function bornDeadFraction(initLayer: (w: Tensor, b: Tensor, rng: init.Rng) => void, seed: number): number {
    const rng = new init.Rng(seed);
    const inputs = Array.from({ length: 200 }, () => [2 * rng.uniform() - 1]);
    const nets = 500;
    let dead = 0;
    for (let t = 0; t < nets; t++) {
      let h = inputs;
      let fanIn = 1;
      for (let layer = 0; layer < 10; layer++) {
        const w = Tensor.zeros([2, fanIn]);
        const b = Tensor.zeros([2]);
        initLayer(w, b, rng);
        h = h.map((x) => [0, 1].map((j) => Math.max(0, b.data[j]! + x.reduce((s, v, i) => s + v * w.data[j * fanIn + i]!, 0))));
        fanIn = 2;
        if (h.every((row) => row.every((v) => v === 0))) {
          dead++;
          break;
        }
      }
    }
    return dead / nets;
  }

  it('He (zero bias) against RAI', () => {
    const he = bornDeadFraction((w, _b, rng) => init.kaimingNormal(w, { nonlinearity: 'relu', rng }), 1);
    const rai = bornDeadFraction((w, b, rng) => init.rai(w, b, { rng }), 2);
    const se = Math.sqrt((he * (1 - he)) / 500 + (rai * (1 - rai)) / 500);
    expect(he - rai, `born dead: He ${he}, RAI ${rai}`).toBeGreaterThan(Z * se);
  });
});
