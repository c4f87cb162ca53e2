// Property tests: random shapes, options and values (NaN, ±Infinity, ±0 included) for every
// layer, forward and backward, native backend against the JS one. A fixed seed keeps CI
// reproducible; a longer run for developers:
//   LIVEN_FUZZ_RUNS=100000 LIVEN_FUZZ_SEED=$RANDOM npx vitest run __test__/properties.test.ts
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor, nn } from '../src/index.js';
import { native } from '../src/backend/index.js';
import { withBackend } from './helpers/backends.js';

const runs = Number(process.env.LIVEN_FUZZ_RUNS ?? 1000);
const seed = Number(process.env.LIVEN_FUZZ_SEED ?? 42);

/** A float32 value, with the special values over-represented. */
const value = fc.oneof(
  { weight: 8, arbitrary: fc.float({ min: -4, max: 4, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1e30, -1e30, 1e-40) },
);

/** A shape of rank 1–4 with small dimensions (zero-size ones included). */
const shape = (minRank = 1, maxRank = 4) => fc.array(fc.integer({ min: 0, max: 7 }), { minLength: minRank, maxLength: maxRank });

function tensorOf(dims: number[], values: number[]): Tensor {
  const size = dims.reduce((a, b) => a * b, 1);
  return Tensor.from(Float32Array.from({ length: size }, (_, i) => values[i % Math.max(values.length, 1)] ?? 0), dims);
}

interface Case {
  module: () => nn.Module;
  x: Tensor;
  /** Values of the output gradient, repeated to the output's size. */
  gs: number[];
}

/** Forward, backward and parameter gradients on one backend. */
function runOn(backend: 'native' | 'js', c: Case) {
  return withBackend(backend, () => {
    const m = c.module();
    const y = m.forward(c.x);
    const dx = m.backward(tensorOf([...y.shape], c.gs));
    return { y: y.data, dx: dx.data, grads: m.parameters().map((p) => p.grad.data) };
  });
}

/** Equal bits, except that NaNs match and sums may differ by reassociation. */
function expectSame(a: Float32Array, b: Float32Array, sumTolerance = 0): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (sumTolerance === 0 || !Number.isFinite(x) || !Number.isFinite(y)) expect(Object.is(x, y) || x === y, `element ${i}: ${x} vs ${y}`).toBe(true);
    else expect(Math.abs(x - y), `element ${i}: ${x} vs ${y}`).toBeLessThanOrEqual(sumTolerance * (1 + Math.abs(y)));
  }
}

/** Runs the property for `build`'s cases on both backends. */
function agree(cases: fc.Arbitrary<Case>, sumTolerance = 1e-4): void {
  fc.assert(
    fc.property(cases, (c) => {
      const a = runOn('native', c);
      const b = runOn('js', c);
      expectSame(a.y, b.y);
      expectSame(a.dx, b.dx);
      a.grads.forEach((g, i) => expectSame(g, b.grads[i]!, sumTolerance));
    }),
    { numRuns: runs, seed },
  );
}

const elementwise = (make: (slope: number) => nn.Module) =>
  fc.record({ dims: shape(), xs: fc.array(value, { minLength: 1, maxLength: 64 }), gs: fc.array(value, { minLength: 1, maxLength: 64 }), slope: fc.float({ min: -2, max: 2, noNaN: true }) }).map(
    ({ dims, xs, gs, slope }): Case => ({ module: () => make(slope), x: tensorOf(dims, xs), gs }),
  );

describe.skipIf(!native)(`native = JS on random cases (${runs} each, seed ${seed})`, () => {
  it('ReLU', () => agree(elementwise(() => new nn.ReLU())));
  it('LeakyReLU', () => agree(elementwise((negativeSlope) => new nn.LeakyReLU({ negativeSlope }))));
  it('PReLU, one slope', () => agree(elementwise((init) => new nn.PReLU({ init }))));
  it('PReLU, per channel', () =>
    agree(
      fc.record({ dims: shape(2, 4), xs: fc.array(value, { minLength: 1, maxLength: 64 }), gs: fc.array(value, { minLength: 1, maxLength: 64 }), slopes: fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: 8, maxLength: 8 }) })
        .filter(({ dims }) => dims[1]! > 0)
        .map(({ dims, xs, gs, slopes }): Case => ({
          module: () => {
            const m = new nn.PReLU({ numParameters: dims[1]! });
            m.weight.data.data.set(slopes.slice(0, dims[1]!).concat(new Array(Math.max(0, dims[1]! - 8)).fill(0.25)).slice(0, dims[1]!));
            return m;
          },
          x: tensorOf(dims, xs),
          gs,
        })),
    ));
  it('Flatten', () => agree(elementwise(() => new nn.Flatten({ startDim: 0 }))));
});
