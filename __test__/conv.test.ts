import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { native } from '../src/backend/index.js';
import { Tensor, getNumThreads, manualSeed, nn, setNumThreads } from '../src/index.js';
import { backends, describeEachBackend, withBackend } from './helpers/backends.js';
import { loadFixture } from './helpers/fixtures.js';
import { expectMatchesFixture, randomizeParameters, snapshotParameters } from './helpers/modules.js';
import { expectClose, gradcheck, randomTensor } from './helpers/numeric.js';

const fixture = loadFixture('conv.json');

type ConvOptions = ConstructorParameters<typeof nn.Conv2d>[3];

/** A Conv2d with weights (and bias) drawn from a test generator instead of init's. */
function conv(cin: number, cout: number, k: number | [number, number], options: ConvOptions, seed: number): nn.Conv2d {
  return randomizeParameters(new nn.Conv2d(cin, cout, k, options), seed);
}


describeEachBackend('Conv2d matches PyTorch', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expectMatchesFixture(nn.Conv2d.fromConfig({ type: 'Conv2d', ...c.options }), c, { atol: 1e-5, rtol: 1e-4, gradAtol: 1e-4 });
  });

  it.each([
    ['3x2 kernel, stride 2, padding 1', 2, 3, [3, 2], { stride: 2, padding: 1 }, [2, 2, 6, 5]],
    ['dilation 2, groups 2', 4, 2, 3, { dilation: 2, padding: 1, groups: 2 }, [1, 4, 6, 6]],
    ['depthwise', 3, 3, 3, { groups: 3, padding: 1 }, [2, 3, 4, 4]],
    ['1x1 without bias', 3, 2, 1, { bias: false }, [2, 3, 3, 2]],
    // The native backend's special paths for 3x3 layers:
    ['3x3 padding 1 on 20x21 (odd width)', 2, 3, 3, { padding: 1 }, [1, 2, 20, 21]],
    ['3x3 padding 1 on 2x2, batch 5 (samples side by side)', 3, 4, 3, { padding: 1 }, [5, 3, 2, 2]],
    ['3x3 padding 1 on 1x1 (the centre tap only)', 3, 2, 3, { padding: 1 }, [3, 3, 1, 1]],
    ['3x3 stride 2, padding 1 on 2x2 (2x2 taps)', 3, 2, 3, { stride: 2, padding: 1 }, [3, 3, 2, 2]],
  ] as const)('finite differences agree with backward: %s', (_n, cin, cout, k, options, shape) => {
    gradcheck(conv(cin, cout, k as number | [number, number], options, 11), randomTensor([...shape], 12));
  });

  it('backward adds into the gradients', () => {
    const m = conv(2, 3, 3, { padding: 1 }, 1);
    const x = randomTensor([2, 2, 5, 5], 2);
    const g = randomTensor([2, 3, 5, 5], 3);
    m.forward(x);
    const dx1 = m.backward(g);
    const once = m.parameters().map((p) => Float32Array.from(p.grad.data));
    const dx2 = m.backward(g);
    expectClose(dx2, { data: dx1.data }, 'input gradient is returned, not accumulated', { atol: 0, rtol: 0 });
    m.parameters().forEach((p, i) => expectClose(p.grad, { data: once[i]!.map((v) => 2 * v) }, 'accumulated', { atol: 1e-5, rtol: 1e-5 }));
  });

  it('rejects bad options with the value in the message', () => {
    expect(() => new nn.Conv2d(3, 4, 3, { groups: 2 })).toThrow(/inChannels \(3\) must be divisible by groups \(2\)/);
    expect(() => new nn.Conv2d(4, 3, 3, { groups: 2 })).toThrow(RangeError);
    expect(() => new nn.Conv2d(4, 3, 3, { groups: 2 })).toThrow(/outChannels \(3\)/);
    expect(() => new nn.Conv2d(2, 2, 3, { stride: 0 })).toThrow(/stride must be a positive integer or a pair of them, got 0/);
    expect(() => new nn.Conv2d(2, 2, 3, { stride: [1, -1] })).toThrow(RangeError);
    expect(() => new nn.Conv2d(2, 2, 3, { padding: -1 })).toThrow(/padding must be a non-negative/);
    expect(() => new nn.Conv2d(2, 2, 0)).toThrow(RangeError);
    expect(() => new nn.Conv2d(2, 2, [3] as unknown as [number, number])).toThrow(TypeError);
    expect(() => new nn.Conv2d(2, 2, '3' as unknown as number)).toThrow(TypeError);
    expect(() => new nn.Conv2d(2, 2, 3, { bias: 1 as unknown as boolean })).toThrow(TypeError);
    expect(() => new nn.Conv2d(0, 2, 3)).toThrow(RangeError);
  });

  it.each([
    ['wrong rank', [2, 5, 5], /must have 4 dimensions/],
    ['channels that do not match', [1, 3, 5, 5], /has 3 channels, expected 2/],
    ['kernel larger than the padded input', [1, 2, 2, 6], /padded to 4x8 is smaller than the kernel 3x3 with dilation 2x2 \(extent 5x5\)/],
  ] as const)('forward on an input with %s throws a RangeError and changes nothing', (_n, shape, message) => {
    const m = conv(2, 3, 3, { padding: 1, dilation: 2 }, 5);
    m.forward(randomTensor([1, 2, 4, 4], 6));
    m.backward(randomTensor([1, 3, 2, 2], 7));
    const before = snapshotParameters(m);
    expect(() => m.forward(randomTensor([...shape], 8))).toThrow(RangeError);
    expect(() => m.forward(randomTensor([...shape], 8))).toThrow(message);
    expect(() => m.forward(randomTensor([...shape], 8))).toThrow(`[${shape.join(', ')}]`);
    expect(snapshotParameters(m)).toEqual(before);
    // The last good forward is still the one backward differentiates.
    expect(m.backward(randomTensor([1, 3, 2, 2], 7)).shape).toEqual([1, 2, 4, 4]);
  });

  it('batch 0 gives an empty output', () => {
    const m = conv(2, 3, 3, {}, 1);
    expect(m.forward(Tensor.zeros([0, 2, 5, 5])).shape).toEqual([0, 3, 3, 3]);
    expect(m.backward(Tensor.zeros([0, 3, 3, 3])).shape).toEqual([0, 2, 5, 5]);
  });
});

describe('Conv2d', () => {
  it("initialises as PyTorch does: weight and bias in ±1/√fanIn, reproducibly", () => {
    manualSeed(3);
    const m = new nn.Conv2d(16, 32, [3, 5], { groups: 2 });
    const bound = 1 / Math.sqrt(8 * 15);
    for (const p of m.parameters()) {
      const values = [...p.data.data];
      expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...values)).toBeGreaterThan(0.8 * bound);
      expect(Math.min(...values)).toBeLessThan(-0.8 * bound);
    }
    const mean = m.weight.data.data.reduce((a, b) => a + b, 0) / m.weight.data.size;
    const variance = m.weight.data.data.reduce((a, b) => a + b * b, 0) / m.weight.data.size;
    expect(Math.abs(mean)).toBeLessThan(0.05 * bound);
    expect(variance).toBeCloseTo((bound * bound) / 3, 3); // U(-b, b) has variance b²/3
    manualSeed(3);
    expect([...new nn.Conv2d(16, 32, [3, 5], { groups: 2 }).weight.data.data]).toEqual([...m.weight.data.data]);
  });

  it('toConfig gives the constructor arguments and fromConfig rebuilds the layer', () => {
    const m = new nn.Conv2d(4, 6, [3, 1], { stride: 2, padding: [1, 0], dilation: 1, groups: 2, bias: false });
    const config = m.toConfig();
    expect(config).toEqual({ type: 'Conv2d', inChannels: 4, outChannels: 6, kernelSize: [3, 1], stride: 2, padding: [1, 0], dilation: 1, groups: 2, bias: false });
    const back = nn.Conv2d.fromConfig(JSON.parse(JSON.stringify(config)));
    expect(back.toConfig()).toEqual(config);
    expect(back.weight.data.shape).toEqual([6, 2, 3, 1]);
    expect(back.bias).toBeNull();
    expect(() => nn.Conv2d.fromConfig({ type: 'Conv2d', inChannels: 1, outChannels: 1, kernelSize: 1, size: 2 })).toThrow(/no argument "size"/);
  });

  it.runIf(backends.includes('native'))('native equals the JS backend on random shapes, one thread and all', () => {
    const shapes: [number, number, number | [number, number], ConvOptions, number[]][] = [
      [16, 16, 3, { padding: 1 }, [4, 16, 16, 16]], // past the parallel threshold
      [8, 12, [3, 5], { stride: [2, 1], padding: [0, 2], dilation: [2, 1], groups: 4 }, [3, 8, 13, 11]],
      [32, 32, 1, {}, [3, 32, 12, 12]], // the 1×1 path, past the threshold
      [12, 12, 3, { groups: 12, padding: 1 }, [5, 12, 20, 20]], // depthwise
      [3, 20, 5, { stride: 2, padding: 2, bias: false }, [1, 3, 33, 31]], // batch 1
      [32, 32, 3, { padding: 1 }, [1, 32, 40, 40]], // batch 1 past the GEMM's threshold: the products split
      // ResNet-like 3x3 layers: Winograd, small planes side by side, outer taps dropped on
      // 1x1 planes and at stride 2 on 2x2.
      [48, 56, 3, { padding: 1 }, [2, 48, 24, 24]], // Winograd (its smallest layer: 48 channels, 24×24)
      [40, 40, 3, { padding: 1, bias: false }, [16, 40, 4, 4]],
      [40, 48, 3, { padding: 1 }, [16, 40, 1, 1]],
      [24, 48, 3, { stride: 2, padding: 1, bias: false }, [16, 24, 2, 2]],
    ];
    const threads = getNumThreads();
    try {
      for (const [i, [cin, cout, k, options, shape]] of shapes.entries()) {
        const x = randomTensor(shape, 100 + i);
        const run = (backend: 'native' | 'js', t: number) => {
          setNumThreads(t);
          return withBackend(backend, () => {
            const m = conv(cin, cout, k, options, 200 + i);
            const y = m.forward(x);
            const dx = m.backward(randomTensor([...y.shape], 300 + i));
            return [y, dx, ...m.parameters().map((p) => p.grad)];
          });
        };
        const want = run('js', 1);
        for (const t of [1, Math.max(2, threads)]) {
          run('native', t).forEach((got, j) => expectClose(got, want[j]!, `shape ${i} output ${j}, ${t} threads`, { atol: 2e-4, rtol: 1e-4 }));
        }
      }
    } finally {
      setNumThreads(threads);
    }
  });
});

// The GEMM runs the `gemm` crate at the CPU's best level and a loop compiled for the level
// otherwise: every level runs the Linear and Conv2d fixtures, each in a child process (the
// level is chosen once per process).
const dist = new URL('../dist/index.js', import.meta.url).href;
const fixtureUrls = ['linear.json', 'conv.json'].map((f) => new URL(`./fixtures/${f}`, import.meta.url).href);
const child = `
import { readFileSync } from 'node:fs';
const { Tensor, nn, simdLevel } = await import(${JSON.stringify(dist)});
const results = ${JSON.stringify(fixtureUrls)}.flatMap((url) => JSON.parse(readFileSync(new URL(url), 'utf8')).cases.map((c) => {
  const m = nn[c.module].fromConfig({ type: c.module, ...c.options });
  for (const [name, p] of m.namedParameters()) p.data.data.set(c.params[name].data);
  const y = m.forward(Tensor.from(c.input.data, c.input.shape));
  const dx = m.backward(Tensor.from(c.gradOutput.data, c.gradOutput.shape));
  return { y: [...y.data], dx: [...dx.data], grads: m.parameters().map((p) => [...p.grad.data]) };
}));
process.stdout.write(JSON.stringify({ level: simdLevel(), results }));
`;

describe.runIf(backends.includes('native'))('Linear and Conv2d match PyTorch at every SIMD level', () => {
  const cases = [...loadFixture('linear.json').cases, ...fixture.cases];
  const levels = native ? native.supportedSimdLevels() : [];
  it.each(levels)('LIVEN_SIMD=%s', (level) => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', child], { env: { ...process.env, LIVEN_SIMD: level }, encoding: 'utf8' });
    const { level: used, results } = JSON.parse(out);
    expect(used).toBe(level);
    cases.forEach((c, i) => {
      const r = results[i];
      expectClose(Float32Array.from(r.y), c.output, `${c.name}: output`, { atol: 1e-5, rtol: 1e-4 });
      expectClose(Float32Array.from(r.dx), c.gradInput, `${c.name}: input gradient`, { atol: 1e-5, rtol: 1e-4 });
      Object.values(c.paramGrads).forEach((g, j) => expectClose(Float32Array.from(r.grads[j]), g, `${c.name}: gradient ${j}`, { atol: 1e-4, rtol: 1e-4 }));
    });
  });
});
