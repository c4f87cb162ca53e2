// Property tests: random shapes, options and values (NaN, ±Infinity, ±0 included) for every
// layer, loss, optimiser and the safetensors reader, forward and backward, native backend
// against the JS one. A fixed seed keeps CI reproducible; a longer run for developers:
//   LIVEN_FUZZ_RUNS=100000 LIVEN_FUZZ_SEED=$RANDOM npx vitest run __test__/properties.test.ts
// (LIVEN_FUZZ_LOG=file appends each layer case's options to `file` before its native call, so
// that a case which crashes the process can be found: the last line.)
//
// Invalid combinations (a kernel larger than the padded input, too few values per channel, a
// class index out of range, a non-finite gradient, a lying safetensors header) are generated
// too: both backends must then throw the same error class with the same message.
//
// Tolerances, from the arithmetic (u = 2^-24, float32's unit roundoff):
// - elementwise kernels, max pooling, argmax routing: no tolerance, equal bits (NaN = NaN).
// - sums of products (Linear, Conv2d, average pooling, the backward's weight and bias sums):
//   the two backends may add the K terms of an output in different orders (SIMD lanes, gemm's
//   blocking, FMA), and each result is within γ_K·S of the exact sum, where S = Σ|terms|
//   (Higham, Accuracy and Stability, §3.1). S is computed per element by running the JS layer
//   on the absolute values of every input, parameter and gradient. With K ≤ 512 for the
//   shapes below, |native - js| ≤ 2·γ_512·S ≈ 6.1e-5·S.
// - normalisation, softmax, losses, optimisers (sums followed by divisions, √, exp): element by
//   element, |native - js| ≤ rtol·|js| + atol, with rtol and atol per family and output below
//   (atol covers cancellation: a result near 0 made of terms far from 0). Not in the ∞-norm:
//   that let a 30× relative error on a small element pass. The atols are a few times the
//   largest difference seen over 4 seeds × 1000–2000 cases, below the worst-case bounds.
import fc from 'fast-check';
import { appendFileSync, readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tensor, io, nn, optim } from '../src/index.js';
import { native } from '../src/backend/index.js';
import { withBackend } from './helpers/backends.js';

const runs = Number(process.env.LIVEN_FUZZ_RUNS ?? 1000);
const seed = Number(process.env.LIVEN_FUZZ_SEED ?? 42);
const U = 2 ** -24;
/** 2·γ_K for K = 512 terms: the most two reassociated sums of K terms can differ by, relative to Σ|terms|. */
const SUM_BOUND = (2 * 512 * U) / (1 - 512 * U);
/** Underflow: each product or sum in the subnormal range may be off by half the smallest subnormal, absolutely. */
const SUM_FLOOR = 2 * 512 * 2 ** -150;

/** A float32 value, with the special values over-represented. */
const value = fc.oneof(
  { weight: 8, arbitrary: fc.float({ min: -4, max: 4, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1e30, -1e30, 1e-40) },
);
/**
 * For sums: without ±1e30, whose sums overflow to infinity in one order and not in another
 * (1e30·1e30 is infinite in every order, so NaN and the infinities stay).
 */
const sumValue = fc.oneof(
  { weight: 16, arbitrary: fc.float({ min: -4, max: 4, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1e-40) },
);
const values = (v = value, max = 64) => fc.array(v, { minLength: 1, maxLength: max });

/** A shape of rank 1–4 with small dimensions (zero-size ones included). */
const shape = (minRank = 1, maxRank = 4, maxDim = 7) => fc.array(fc.integer({ min: 0, max: maxDim }), { minLength: minRank, maxLength: maxRank });

const cyclic = (vs: number[], n: number, offset = 0) => Float32Array.from({ length: n }, (_, i) => vs[(i + offset) % Math.max(vs.length, 1)] ?? 0);

function tensorOf(dims: readonly number[], vs: number[]): Tensor {
  return Tensor.from(cyclic(vs, dims.reduce((a, b) => a * b, 1)), dims);
}

/** Sets every parameter of `m` from `ps`, cyclically, so both backends start from the same weights. */
function setParams(m: nn.Module, ps: number[]): nn.Module {
  let offset = 0;
  for (const p of m.parameters()) {
    p.data.data.set(cyclic(ps, p.data.size, offset));
    offset += p.data.size;
  }
  return m;
}

type Cmp = { kind: 'exact' } | { kind: 'sum' } | { kind: 'close'; rtol: number; atol: number };
const exact: Cmp = { kind: 'exact' };
const sum: Cmp = { kind: 'sum' };
/** |native - js| <= rtol·|js| + atol, element by element. */
const close = (rtol: number, atol: number): Cmp => ({ kind: 'close', rtol, atol });

interface Case {
  /** Builds the module with its parameters (and buffers) set from the case's values. */
  module: () => nn.Module;
  x: Tensor;
  /** Values of the output gradient, repeated to the output's size. */
  gs: number[];
  /** The generated options, for the counterexample's report. */
  spec?: unknown;
  /**
   * How the sum bound's run maps input values (default |x|): it must keep every term of the
   * sums in, e.g. PReLU's slope gradient sums dy·x over x < 0 only, so that run uses -|x|.
   */
  absX?: (v: number) => number;
  /**
   * The largest term a result of this case may cancel down from, when it is not ~1 (default 1):
   * a `close` comparison's atol is relative to it.
   */
  terms?: number;
}

type Outcome = { error: string } | { out: Float32Array[] };

/** What a call threw, as class and message, so that both backends can be required to agree. */
function caught(e: unknown): { error: string } {
  if (!(e instanceof Error)) throw e;
  return { error: `${e.constructor.name}: ${e.message}` };
}

/**
 * Forward, backward, parameter gradients and buffers on one backend; with `abs`, of the
 * absolute values of everything (the S of the sum bound).
 */
function runOn(backend: 'native' | 'js', c: Case, abs = false): Outcome {
  return withBackend(backend, () => {
    try {
      const m = c.module();
      if (abs) for (const p of m.parameters()) p.data.data.set(p.data.data.map(Math.abs));
      const y = m.forward(abs ? Tensor.from(c.x.data.map(c.absX ?? Math.abs), c.x.shape) : c.x);
      const dx = m.backward(tensorOf([...y.shape], abs ? c.gs.map(Math.abs) : c.gs));
      return { out: [y.data, dx.data, ...m.parameters().map((p) => p.grad.data), ...m.namedBuffers().map(([, b]) => b.data)] };
    } catch (e) {
      return caught(e);
    }
  });
}

/** Compares one output of the two backends under `cmp`; `s` is Σ|terms| per element for sums. */
function expectSame(a: Float32Array, b: Float32Array, cmp: Cmp, what: string, s?: Float32Array, terms = 1): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    const msg = `${what}, element ${i}: native ${x} vs js ${y}`;
    if (Number.isNaN(x) || Number.isNaN(y) || !Number.isFinite(x) || !Number.isFinite(y) || cmp.kind === 'exact') {
      // Special values propagate identically; elementwise results are equal (0 = -0: PyTorch's
      // relu(-0) is itself either, by kernel).
      if (!(Number.isNaN(x) && Number.isNaN(y))) expect(x === y, msg).toBe(true);
    } else if (cmp.kind === 'sum') {
      const bound = SUM_BOUND * Math.abs(s![i]!) + SUM_FLOOR;
      // An infinite or NaN S means a special value took part: its finite results are not bounded.
      if (Number.isFinite(bound)) expect(Math.abs(x - y), msg).toBeLessThanOrEqual(bound);
    } else {
      expect(Math.abs(x - y), msg).toBeLessThanOrEqual(cmp.rtol * Math.abs(y) + cmp.atol * terms);
    }
  }
}

/** Outcomes must agree: the same error, or outputs within `cmps` (the last entry repeats). */
function expectAgree(a: Outcome, b: Outcome, cmps: Cmp[], s?: () => Outcome, terms?: number): void {
  if ('error' in a || 'error' in b) {
    expect(a).toEqual(b);
    return;
  }
  const sums = cmps.some((c) => c.kind === 'sum') ? s!() : undefined;
  a.out.forEach((o, i) => {
    const ss = sums && 'out' in sums ? sums.out[i] : undefined;
    expectSame(o, b.out[i]!, cmps[Math.min(i, cmps.length - 1)]!, `output ${i}`, ss, terms);
  });
}

let valid = 0;
let total = 0;
/** Runs the property over `cases` on both backends: [y, dx, parameter gradients..., buffers...] compared by `cmps`. */
function agree(cases: fc.Arbitrary<Case>, cmps: Cmp[] = [exact]): void {
  valid = total = 0;
  fc.assert(
    fc.property(cases, (c) => {
      if (process.env.LIVEN_FUZZ_LOG) appendFileSync(process.env.LIVEN_FUZZ_LOG, JSON.stringify(c.spec ?? null) + '\n');
      const a = runOn('native', c);
      const b = runOn('js', c);
      total++;
      if ('out' in b) valid++;
      expectAgree(a, b, cmps, () => runOn('js', c, true), c.terms);
    }),
    { numRuns: runs, seed },
  );
  // Invalid combinations are part of the point, but most cases must reach the kernels.
  expect(valid, `${valid} of ${total} cases were valid`).toBeGreaterThan(total / 2);
}

/** With `sums` (PReLU's slope gradient), gradients without ±1e30, whose products with x overflow float32 and not float64. */
const elementwise = (make: (slope: number) => nn.Module, sums = false) =>
  fc.record({ dims: shape(), xs: values(), gs: values(sums ? sumValue : value), slope: fc.float({ min: -2, max: 2, noNaN: true }) }).map(
    ({ dims, xs, gs, slope }): Case => ({ module: () => make(slope), x: tensorOf(dims, xs), gs, absX: (v) => -Math.abs(v) }),
  );

const small = (min: number, max: number) => fc.integer({ min, max });
const pairOf = (min: number, max: number) => fc.tuple(small(min, max), small(min, max));

describe.skipIf(!native)(`native = JS on random cases (${runs} each, seed ${seed})`, () => {
  it('ReLU', () => agree(elementwise(() => new nn.ReLU())));
  it('LeakyReLU', () => agree(elementwise((negativeSlope) => new nn.LeakyReLU({ negativeSlope }))));
  it('PReLU, one slope', () => agree(elementwise((init) => new nn.PReLU({ init }), true), [exact, exact, sum]));
  it('PReLU, per channel', () =>
    agree(
      fc.record({ dims: shape(2, 4), xs: values(), gs: values(sumValue), slopes: fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: 8, maxLength: 8 }) })
        .filter(({ dims }) => dims[1]! > 0)
        .map(({ dims, xs, gs, slopes }): Case => ({
          module: () => setParams(new nn.PReLU({ numParameters: dims[1]! }), slopes),
          x: tensorOf(dims, xs),
          gs,
          absX: (v) => -Math.abs(v),
        })),
      // The slopes' gradient is a sum over the batch.
      [exact, exact, sum],
    ));
  it('Flatten', () => agree(elementwise(() => new nn.Flatten({ startDim: 0 }))));
  // Tensor's helpers and the merge layers of two inputs: `a` of shape `dims`, `b` of `dims` with
  // leading dims dropped and others set to 1 (or, `swap`, the other way round), so every
  // broadcast pattern occurs; sums over the dims in `mask`. Outputs: add, sub, mul, div (equal
  // bits), sum and mean (the sum bound), argmax (equal), nn.Mul's two gradients (sums over the
  // broadcast dims), nn.Cat's output and gradients along a random dim (equal).
  it("Tensor's add, sub, mul, div, sum, mean and argmax; nn.Mul and nn.Cat", () => {
    const spec = fc.record({ dims: shape(0, 4, 5), drop: small(0, 4), ones: fc.nat(15), swap: fc.boolean(), mask: fc.nat(15), xs: values(sumValue), ys: values(sumValue), gs: values(sumValue) });
    fc.assert(
      fc.property(spec, ({ dims, drop, ones, swap, mask, xs, ys, gs }) => {
        const other = dims.slice(Math.min(drop, dims.length)).map((d, i) => ((ones >> i) & 1 ? 1 : d));
        const [sa, sb] = swap ? [other, dims] : [dims, other];
        const sumDims = dims.map((_, i) => i).filter((i) => (mask >> i) & 1);
        const run = (backend: 'native' | 'js', abs = false): Outcome =>
          withBackend(backend, () => {
            const f = (v: number[]): number[] => (abs ? v.map(Math.abs) : v);
            const [a, b] = [tensorOf(sa, f(xs)), tensorOf(sb, f(ys))];
            const arith = (['add', 'sub', 'mul', 'div'] as const).map((op) => a[op](b).data);
            const x = tensorOf(dims, f(xs));
            const mul = new nn.Mul();
            const y = mul.forward(a, b);
            const [da, db] = mul.backward(tensorOf([...y.shape], f(gs)));
            const cat = new nn.Cat({ dim: dims.length > 0 ? mask % dims.length : 0 });
            const cats = dims.length > 0 ? [cat.forward(x, x), ...cat.backward(tensorOf(dims.map((d, i) => (i === mask % dims.length ? 2 * d : d)), f(gs)))].map((t) => t.data) : [];
            const argmax = x.size > 0 && dims.length > 0 ? Float32Array.from(x.argmax(mask % dims.length)) : new Float32Array(0);
            return { out: [...arith, x.sum(sumDims).data, x.mean(sumDims).data, argmax, da!.data, db!.data, ...cats] };
          });
        const [n, j] = [run('native'), run('js')];
        expectAgree(n, j, [exact, exact, exact, exact, sum, sum, exact, sum, sum, exact], () => run('js', true));
      }),
      { numRuns: runs, seed },
    );
  });

  it('Linear', () =>
    agree(
      fc.record({ lead: shape(0, 3, 4), inF: small(1, 9), outF: small(1, 9), bias: fc.boolean(), xs: values(sumValue), gs: values(sumValue), ps: values(sumValue) }).map(
        ({ lead, inF, outF, bias, xs, gs, ps }): Case => ({
          module: () => setParams(new nn.Linear(inF, outF, { bias }), ps),
          // A last dimension off by one now and then: the same RangeError on both.
          x: tensorOf([...lead, xs.length % 11 === 0 ? inF + 1 : inF], xs),
          gs,
        }),
      ),
      [sum],
    ));

  it('Conv2d (stride, padding, dilation, groups)', () =>
    agree(
      fc.record({
        n: small(0, 2), groups: small(1, 3), inPer: small(1, 3), outPer: small(1, 2), h: small(1, 7), w: small(1, 7),
        k: pairOf(1, 3), stride: pairOf(1, 3), padding: pairOf(0, 2), dilation: pairOf(1, 2), bias: fc.boolean(),
        xs: values(sumValue), gs: values(sumValue), ps: values(sumValue),
      }).map(({ n, groups, inPer, outPer, h, w, k, stride, padding, dilation, bias, xs, gs, ps }): Case => ({
        spec: { n, groups, inPer, outPer, h, w, k, stride, padding, dilation, bias, xs, gs, ps },
        module: () => setParams(new nn.Conv2d(groups * inPer, groups * outPer, k, { stride, padding, dilation, groups, bias }), ps),
        x: tensorOf([n, groups * inPer, h, w], xs),
        gs,
      })),
      [sum],
    ));

  const poolCase = fc.record({
    lead: fc.oneof(fc.tuple(small(0, 2), small(1, 3)).map((t) => [...t]), small(1, 3).map((c) => [c])),
    h: small(1, 7), w: small(1, 7), k: pairOf(1, 4), stride: pairOf(1, 3), padding: pairOf(0, 1), dilation: pairOf(1, 2),
    ceilMode: fc.boolean(), countIncludePad: fc.boolean(), xs: values(), gs: values(),
  });
  // Padding at most half the kernel (more is a constructor RangeError, in bad-input.test.ts);
  // inputs too small for the window, or windows in the padding, still occur: same error on both.
  const fit = (p: [number, number], k: [number, number]): [number, number] => [Math.min(p[0], k[0] >> 1), Math.min(p[1], k[1] >> 1)];
  it('MaxPool2d (ceilMode, padding, dilation): equal bits, NaN wins its window', () =>
    agree(poolCase.map(({ lead, h, w, k, stride, padding, dilation, ceilMode, xs, gs }): Case => ({
      spec: { lead, h, w, k, stride, padding, dilation, ceilMode },
      module: () => new nn.MaxPool2d(k, { stride, padding: fit(padding, k), dilation, ceilMode }),
      x: tensorOf([...lead, h, w], xs),
      gs,
    })), [exact, sum]));
  it('AvgPool2d (ceilMode, countIncludePad, padding)', () =>
    agree(poolCase.map(({ lead, h, w, k, stride, padding, ceilMode, countIncludePad, xs, gs }): Case => ({
      module: () => new nn.AvgPool2d(k, { stride, padding: fit(padding, k), ceilMode, countIncludePad }),
      x: tensorOf([...lead, h, w], xs.map((v) => (Math.abs(v) === 1e30 ? v / 1e20 : v))),
      gs: gs.map((v) => (Math.abs(v) === 1e30 ? v / 1e20 : v)),
    })), [sum]));

  const globalCase = fc.record({ dims: fc.tuple(small(0, 3), small(1, 3), small(0, 5), small(1, 5)).map((t) => [...t]), xs: values(sumValue), gs: values(sumValue) });
  it('GlobalMaxPool2d: equal bits', () => agree(globalCase.map(({ dims, xs, gs }): Case => ({ module: () => new nn.GlobalMaxPool2d(), x: tensorOf(dims, xs), gs })), [exact]));
  it('GlobalAvgPool2d', () => agree(globalCase.map(({ dims, xs, gs }): Case => ({ module: () => new nn.GlobalAvgPool2d(), x: tensorOf(dims, xs), gs })), [sum]));

  // Normalisation: mean and variance are sums of n <= 7·4·7 values, each backend within γ_n
  // of exact (stored as float32: an ulp apart at most, in practice). y = (x - mean)·s + b with
  // s = w/√(var + eps) ≤ 4·32 (eps >= 1e-3): an ulp of the mean moves y by ulp·|s|, and y
  // near 0 is a cancellation of (x - mean)·s against b, so the error is absolute, ~1e-7
  // (measured ≤ 1.7e-7). dx = s·(dy - mean(dy) - x̂·mean(dy·x̂)) cancels terms up to
  // |s|·|dy|·(1 + |x̂|²) ≈ 1e3 in the worst case (measured ≤ 1.7e-5, LayerNorm): atol 1e-4.
  // The parameter gradients and running statistics are sums of dy·x̂ and of x (≤ 7e-7).
  const eps = fc.constantFrom(1e-3, 1e-2, 0.1, 1);
  // Infinities only in x (they make their group NaN): an infinite weight or gradient meets x̂,
  // which is exactly 0 in one summation order and 1e-9 in another, and ∞·x̂ is then NaN on one
  // side and ∞ on the other, both right. Subnormals are flushed for the same reason.
  const flush = (v: number) => (Math.abs(v) < 1e-30 ? 0 : v);
  const normValue = fc.oneof({ weight: 30, arbitrary: fc.float({ min: -4, max: 4, noNaN: true }).map(flush) }, { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) });
  const normParam = fc.oneof({ weight: 30, arbitrary: fc.float({ min: -4, max: 4, noNaN: true }).map(flush) }, { weight: 1, arbitrary: fc.constant(NaN) });
  const NORM = [close(1e-4, 1e-6), close(1e-4, 1e-4), close(1e-4, 1e-5)];
  it('BatchNorm1d and BatchNorm2d, train and eval', () =>
    agree(
      fc.record({
        rank: fc.constantFrom(2, 3, 4), n: small(0, 4), c: small(1, 4), inner: fc.tuple(small(0, 4), small(1, 4)), eps, training: fc.boolean(), affine: fc.boolean(),
        track: fc.boolean(), momentum: fc.constantFrom(0.1, 0.5, null), xs: values(normValue), gs: values(normParam), ps: values(normParam),
        stats: fc.array(fc.float({ min: Math.fround(0.01), max: 4, noNaN: true }), { minLength: 2, maxLength: 8 }),
      }).map(({ rank, n, c, inner, eps, training, affine, track, momentum, xs, gs, ps, stats }): Case => {
        const dims = rank === 2 ? [n, c] : rank === 3 ? [n, c, inner[0]] : [n, c, ...inner];
        return {
          spec: { dims, eps, training, affine, track, momentum, xs, gs, ps, stats },
          module: () => {
            const m = rank === 4 ? new nn.BatchNorm2d(c, { eps, affine, trackRunningStats: track, momentum }) : new nn.BatchNorm1d(c, { eps, affine, trackRunningStats: track, momentum });
            setParams(m, ps);
            if (m.runningMean) m.runningMean.data.set(cyclic(stats, c).map((v) => v - 1));
            if (m.runningVar) m.runningVar.data.set(cyclic(stats, c, 1));
            return m.train(training);
          },
          x: tensorOf(dims, xs),
          gs,
        };
      }),
      NORM,
    ));
  it('GroupNorm', () =>
    agree(
      fc.record({ n: small(0, 3), groups: small(1, 3), per: small(1, 3), spatial: shape(0, 2, 4), eps, affine: fc.boolean(), xs: values(normValue), gs: values(normParam), ps: values(normParam) }).map(
        ({ n, groups, per, spatial, eps, affine, xs, gs, ps }): Case => ({
          spec: { n, groups, per, spatial, eps, affine, xs, gs, ps },
          module: () => setParams(new nn.GroupNorm(groups, groups * per, { eps, affine }), ps),
          x: tensorOf([n, groups * per, ...spatial], xs),
          gs,
        }),
      ),
      NORM,
    ));
  it('LayerNorm', () =>
    agree(
      fc.record({ lead: shape(0, 2, 4), normalized: shape(1, 2, 5).map((d) => d.map((v) => v + 1)), eps, affine: fc.boolean(), xs: values(normValue), gs: values(normParam), ps: values(normParam) }).map(
        ({ lead, normalized, eps, affine, xs, gs, ps }): Case => ({
          spec: { lead, normalized, eps, affine, xs, gs, ps },
          module: () => setParams(new nn.LayerNorm(normalized, { eps, elementwiseAffine: affine }), ps),
          x: tensorOf([...lead, ...normalized], xs),
          gs,
        }),
      ),
      NORM,
    ));
  // L2Norm: ‖x‖ is a sum of squares, then one division: y within a few ulp, relatively. The
  // backward dx = w·dy/‖x‖ - x·(Σ w·dy·x)/‖x‖³ cancels to 0 where x has one element (x̂ = ±1),
  // from terms up to √d·|w|·|dy|/max(‖x‖, eps), each a few ulp off after a sum of d <= 5:
  // atol 2^-20 of |w|·|dy|/eps. dw sums dy·x̂: terms of at most |dy|.
  it('L2Norm (dim, scale)', () =>
    agree(
      fc.record({ dims: shape(1, 4, 5), dim: small(-4, 3), eps, scale: fc.option(fc.float({ min: -3, max: 3, noNaN: true })), xs: values(normValue), gs: values(normParam) }).map(
        ({ dims, dim, eps, scale, xs, gs }): Case => ({
          spec: { dims, dim, eps, scale, xs, gs },
          module: () => new nn.L2Norm({ dim, eps, ...(scale === null ? {} : { scale }) }),
          x: tensorOf(dims, xs),
          gs,
          terms: Math.max(1, Math.abs(scale ?? 1)) * Math.max(1, ...gs.filter(Number.isFinite).map(Math.abs)) / eps,
        }),
      ),
      // y: plus a subnormal step, where a tiny scale makes it subnormal.
      [close(1e-5, 2 ** -149), close(1e-4, 2 ** -20)],
    ));

  // Softmax: exp within 2 ulp (native's polynomial) against Math.exp rounded once, the sum of
  // at most 7 terms, one division or log: a few ulp of values ≤ 1, or of log-values ≤ ~|x|.
  // The backward's dy - Σ dy·y cancels terms up to |dy| + |Σ dy·y| ≤ 8: a few ulp of 8,
  // absolutely (measured ≤ 6.1e-7, LogSoftmax).
  for (const [name, make] of [['Softmax', (dim: number) => new nn.Softmax({ dim })], ['LogSoftmax', (dim: number) => new nn.LogSoftmax({ dim })]] as const) {
    it(`${name} (dims)`, () =>
      agree(
        fc.record({ dims: shape(0, 4), dim: small(-4, 3), xs: values(sumValue), gs: values(sumValue) }).map(({ dims, dim, xs, gs }): Case => ({ module: () => make(dim), x: tensorOf(dims, xs), gs })),
        [close(1e-5, 4e-6)],
      ));
  }

  /** A loss's value and input gradient, or what it threw. */
  const lossOn = (backend: 'native' | 'js', make: () => nn.Loss, x: Tensor, target: unknown): Outcome =>
    withBackend(backend, () => {
      try {
        const l = make();
        const loss = l.forward(x, target);
        return { out: [Float32Array.of(loss), l.backward().data] };
      } catch (e) {
        return caught(e);
      }
    });

  // Cross-entropy: a log-sum-exp over C <= 8 classes and a sum over N <= 6 rows, the loss
  // returned in float64 after float32 row terms: relative 1e-5; the gradient softmax - target
  // cancels to near 0 at the target: a few ulp of 1, absolutely (measured ≤ 7.2e-8).
  it('CrossEntropyLoss (reduction, label smoothing, out-of-range targets)', () =>
    fc.assert(
      fc.property(
        fc.record({ n: small(0, 6), c: small(1, 8), xs: values(sumValue), targets: fc.array(small(-1, 8), { minLength: 6, maxLength: 6 }), reduction: fc.constantFrom('mean', 'sum'), ls: fc.constantFrom(0, 0.1, 1) }),
        ({ n, c, xs, targets, reduction, ls }) => {
          const x = tensorOf([n, c], xs);
          const t = Int32Array.from(targets.slice(0, n).map((v) => (v === 8 ? v : v % c)));
          const make = () => new nn.CrossEntropyLoss({ reduction: reduction as nn.Reduction, labelSmoothing: ls });
          expectAgree(lossOn('native', make, x, t), lossOn('js', make, x, t), [close(1e-5, 1e-6)]);
        },
      ),
      { numRuns: runs, seed },
    ));
  // MSE: Σ (x - t)² over at most 7^4 values, in float32 lanes on one side: γ_2401·Σ ≈ 3e-4
  // relative; the gradient (x - t)·scale is elementwise, with the scale rounded to float32 on
  // one side and not the other: two roundings, 2^-22 relative (plus one subnormal step: below
  // 2^-126 rounding errors are absolute). The loss sums squares: no cancellation, but each of
  // up to 7^4 may underflow by a subnormal step on one side (float32) and not the other.
  it('MSELoss (reduction, shape mismatch)', () =>
    fc.assert(
      fc.property(fc.record({ dims: shape(0, 4), other: fc.boolean(), xs: values(sumValue), ts: values(sumValue), reduction: fc.constantFrom('mean', 'sum') }), ({ dims, other, xs, ts, reduction }) => {
        const x = tensorOf(dims, xs);
        const t = tensorOf(other && dims.length > 0 ? [...dims.slice(0, -1), dims.at(-1)! + 1] : dims, ts);
        const make = () => new nn.MSELoss({ reduction: reduction as nn.Reduction });
        expectAgree(lossOn('native', make, x, t), lossOn('js', make, x, t), [close(3e-4, 7 ** 4 * 2 ** -149), close(2 ** -22, 2 ** -149)]);
      }),
      { numRuns: runs, seed },
    ));

  // Optimisers: a few elementwise steps (FMA on one side, not the other; √ and one division):
  // a few ulp per step of values ≤ ~4 plus the update, over at most 4 steps, absolutely where
  // they cancel (measured ≤ 3.1e-7). Gradients without ±1e30: p - 1e30 + 1e30 over two steps
  // leaves ulp(1e30) ≈ 1e23 of noise in either order, which says nothing of accuracy (NaN and
  // ±Infinity, which make step() throw, stay).
  // A NaN or infinite gradient is the same RangeError on both, thrown before any write.
  const optimisers: [string, (ps: nn.Parameter[], o: { lr: number; momentum: number; wd: number; nesterov: boolean; eps: number }) => optim.Optimizer<{ lr: number }>][] = [
    ['SGD', (ps, o) => new optim.SGD(ps, { lr: o.lr, momentum: o.momentum, weightDecay: o.wd, nesterov: o.nesterov && o.momentum > 0 })],
    ['Adagrad', (ps, o) => new optim.Adagrad(ps, { lr: o.lr, lrDecay: o.momentum, weightDecay: o.wd, eps: o.eps })],
    ['Adam', (ps, o) => new optim.Adam(ps, { lr: o.lr, betas: [o.momentum, 0.999], weightDecay: o.wd, eps: o.eps })],
    ['AdamW', (ps, o) => new optim.AdamW(ps, { lr: o.lr, betas: [o.momentum, 0.99], weightDecay: o.wd, eps: o.eps })],
  ];
  for (const [name, make] of optimisers) {
    it(`${name} steps`, () =>
      fc.assert(
        fc.property(
          fc.record({
            sizes: fc.array(small(0, 40), { minLength: 1, maxLength: 3 }), ps: values(sumValue), gs: values(sumValue), steps: small(1, 4),
            lr: fc.constantFrom(0, 1e-3, 0.1, 1), momentum: fc.constantFrom(0, 0.5, 0.9), wd: fc.constantFrom(0, 1e-2), nesterov: fc.boolean(), eps: fc.constantFrom(1e-8, 1e-3),
          }),
          ({ sizes, ps, gs, steps, ...o }) => {
            const finiteP = ps.map((v) => (Number.isFinite(v) ? v : 1));
            const run = (backend: 'native' | 'js'): Outcome =>
              withBackend(backend, () => {
                const params = sizes.map((n, i) => new nn.Parameter(Tensor.from(cyclic(finiteP, n, i), [n])));
                const opt = make(params, o);
                try {
                  for (let s = 0; s < steps; s++) {
                    params.forEach((p, i) => p.grad.data.set(cyclic(gs, p.grad.size, s + i)));
                    opt.step();
                  }
                } catch (e) {
                  // The error, and the parameters it left (unchanged by the failed step).
                  return { error: `${caught(e).error} | ${params.map((p) => [...p.data.data].join(',')).join(';')}` };
                }
                return { out: params.map((p) => p.data.data) };
              });
            const a = run('native');
            const b = run('js');
            if ('error' in a && 'error' in b) {
              // Earlier successful steps may differ in the last bits: compare the messages' heads.
              expect(a.error.split(' | ')[0]).toBe(b.error.split(' | ')[0]);
              return;
            }
            expectAgree(a, b, [close(1e-5, 2e-6)]);
          },
        ),
        { numRuns: runs, seed },
      ));
  }

  // The safetensors reader: valid files of every dtype, cut, garbled and spliced; both
  // readers must give the same verdict, the same message and the same tensors.
  const fixtureDir = new URL('./fixtures/safetensors/', import.meta.url);
  const files = readdirSync(fixtureDir).filter((f) => f.endsWith('.safetensors')).map((f) => new Uint8Array(readFileSync(new URL(f, fixtureDir))));
  it('safetensors: parsing random and mangled bytes', () => {
    const parse = (backend: 'native' | 'js', bytes: Uint8Array): unknown =>
      withBackend(backend, () => {
        try {
          const { tensors, metadata } = io.parseSafetensors(bytes);
          return { metadata, tensors: Object.entries(tensors).map(([k, t]) => [k, t.shape, [...new Uint32Array(t.data.buffer, t.data.byteOffset, t.size)]]) };
        } catch (e) {
          return caught(e);
        }
      });
    const mangled = fc
      .record({
        file: fc.integer({ min: 0, max: files.length - 1 }),
        cut: fc.option(fc.nat(), { freq: 2 }),
        edits: fc.oneof(fc.constant([]), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 })),
        random: fc.oneof({ weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) }, { weight: 4, arbitrary: fc.constant(null) }),
      })
      .map(({ file, cut, edits, random }) => {
        if (random !== null) return random;
        const f = files[file]!.slice();
        for (const [at, byte] of edits) f[at % f.length] = byte;
        return cut === null ? f : f.subarray(0, cut % (f.length + 1));
      });
    let ok = 0;
    fc.assert(
      fc.property(mangled, (bytes) => {
        // JSON syntax errors are worded by each side's JSON parser (serde_json, JSON.parse).
        const json = (r: unknown) => ((r as { error?: string }).error?.includes('not valid JSON') ? 'not valid JSON' : r);
        const a = json(parse('native', bytes));
        const b = json(parse('js', bytes));
        expect(a).toEqual(b);
        if (typeof a !== 'string' && !(a as { error?: string }).error) ok++;
      }),
      { numRuns: runs, seed },
    );
    // The unmangled files (and harmless edits, e.g. in the data) parse: both verdicts are exercised.
    expect(ok).toBeGreaterThan(runs / 10);
  });
});
