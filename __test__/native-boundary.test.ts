// The native boundary can't be crashed (issue 19, items 1-3): every case runs the addon in a child
// process and asserts that it exits cleanly, within 20 s, with bounded memory, and answers with a
// result or an Error. Getters and Proxy traps that detach or shrink the call's arrays (item 1),
// index arrays on shared memory flipped by another thread (item 2), geometries whose scratch
// would follow the stride or kernel rather than the input (item 3), and a fuzz run over every
// export with adversarial arguments (__test__/helpers/addon-fuzz.mjs).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { native } from '../src/backend/index.js';

const dist = new URL('../dist/', import.meta.url).href;
/** maxRSS bound for a child, in KiB (process.resourceUsage's unit): far below the GBs the bugs took. */
const MAX_RSS_KIB = 1024 * 1024;
const TIMEOUT_MS = 20_000;

/** Runs `node args` with a timeout; fails unless it exits with status 0; returns its JSON output. */
function run<T>(args: string[]): T & { maxRSS: number } {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 1 << 24 });
  const what = `${args.at(-1)?.slice(0, 200)}\nstatus ${r.status} signal ${r.signal}\n${r.stderr.slice(-2000)}`;
  expect(r.error, what).toBeUndefined();
  expect(r.signal, what).toBeNull();
  expect(r.status, what).toBe(0);
  // A panic is caught and becomes an Error, but it is still a bug: the glue checks first.
  expect(r.stderr, what).not.toMatch(/panicked at/);
  const out = JSON.parse(r.stdout);
  expect(out.maxRSS, `maxRSS ${out.maxRSS} KiB`).toBeLessThan(MAX_RSS_KIB);
  return out;
}

/**
 * Runs `body` (an async module body with `addon`, `lib` (dist/index.js) and `attempt` in scope)
 * in a child; `body` sets `result`. `attempt(f)` gives `{ ok: true, value }` or `{ ok: false, name, message }`.
 */
function child(body: string): { result: unknown; maxRSS: number } {
  const script = `
const { loadNative } = await import(${JSON.stringify(`${dist}backend/native.js`)});
const lib = await import(${JSON.stringify(`${dist}index.js`)});
const addon = loadNative().addon;
const attempt = (f) => { try { return { ok: true, value: f() }; } catch (e) { return { ok: false, name: e?.constructor?.name, message: String(e?.message) }; } };
let result;
${body}
process.stdout.write(JSON.stringify({ result, maxRSS: process.resourceUsage().maxRSS }));
`;
  return run<{ result: unknown }>(['--input-type=module', '-e', script]);
}

type Attempt = { ok: boolean; name?: string; message?: string; value?: unknown };

/** A conv shape for an n×n 1-channel 1×1 convolution, as a JS literal. */
const convShape = (n: number) =>
  `{ batch: 1, inChannels: 1, height: ${n}, width: ${n}, outChannels: 1, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1 }`;
/** A pool geometry for an n×n plane pooled 1×1 (output n×n), as a JS literal. */
const poolGeometry = (n: number) => `{ h: ${n}, w: ${n}, oh: ${n}, ow: ${n}, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1 }`;

describe.skipIf(!native)('native boundary: argument conversion cannot free an array under the kernel', () => {
  // 4 MiB arrays: shrinking a resizable buffer decommits the pages, so a stale pointer faults
  // (with main's addon before the fix this was SIGSEGV, exit 139).
  const n = 1024;
  const cases: [string, string][] = [
    [
      'conv2dForward: the shape getter shrinks y (resizable)',
      `const rab = new ArrayBuffer(4 * ${n * n}, { maxByteLength: 4 * ${n * n} });
       const y = new Float32Array(rab);
       const shape = ${convShape(n)};
       Object.defineProperty(shape, 'groups', { enumerable: true, get() { rab.resize(0); return 1; } });
       result = attempt(() => addon.conv2dForward(new Float32Array(${n * n}).fill(1), new Float32Array([2]), null, y, shape));`,
    ],
    [
      'conv2dForward: the shape getter detaches y (transfer)',
      `let y = new Float32Array(${n * n});
       const shape = ${convShape(n)};
       Object.defineProperty(shape, 'groups', { enumerable: true, get() { structuredClone(y.buffer, { transfer: [y.buffer] }); return 1; } });
       result = attempt(() => addon.conv2dForward(new Float32Array(${n * n}).fill(1), new Float32Array([2]), null, y, shape));`,
    ],
    [
      'conv2dBackward: a Proxy shape shrinks x and dx',
      `const make = () => new Float32Array(new ArrayBuffer(4 * ${n * n}, { maxByteLength: 4 * ${n * n} }));
       const x = make(), dx = make();
       const shape = new Proxy(${convShape(n)}, { get(t, k) { x.buffer.resize(0); dx.buffer.resize(0); return k === 'groups' ? 1 : t[k]; } });
       result = attempt(() => addon.conv2dBackward(x, new Float32Array([2]), new Float32Array(${n * n}), dx, new Float32Array(1), null, shape));`,
    ],
    [
      'conv2dBackward without dx (null): a Proxy shape shrinks x and dweight',
      `const make = () => new Float32Array(new ArrayBuffer(4 * ${n * n}, { maxByteLength: 4 * ${n * n} }));
       const x = make(), dw = new Float32Array(new ArrayBuffer(4, { maxByteLength: 4 }));
       const shape = new Proxy(${convShape(n)}, { get(t, k) { x.buffer.resize(0); dw.buffer.resize(0); return k === 'groups' ? 1 : t[k]; } });
       result = attempt(() => addon.conv2dBackward(x, new Float32Array([2]), new Float32Array(${n * n}), null, dw, null, shape));`,
    ],
    [
      'maxPool2dForward: the geometry getter shrinks y and indices',
      `const y = new Float32Array(new ArrayBuffer(4 * ${n * n}, { maxByteLength: 4 * ${n * n} }));
       const idx = new Uint32Array(new ArrayBuffer(4 * ${n * n}, { maxByteLength: 4 * ${n * n} }));
       const g = ${poolGeometry(n)};
       Object.defineProperty(g, 'dw', { enumerable: true, get() { y.buffer.resize(0); idx.buffer.resize(0); return 1; } });
       result = attempt(() => addon.maxPool2dForward(new Float32Array(${n * n}), y, idx, 1, g));`,
    ],
    [
      'avgPool2dBackward: a Proxy geometry shrinks dx',
      `const dx = new Float32Array(new ArrayBuffer(4 * ${n * n}, { maxByteLength: 4 * ${n * n} }));
       const g = new Proxy(${poolGeometry(n)}, { get(t, k) { dx.buffer.resize(0); return t[k]; } });
       result = attempt(() => addon.avgPool2dBackward(new Float32Array(${n * n}), dx, 1, g, true));`,
    ],
  ];
  for (const [name, body] of cases) {
    it(`${name}: an Error naming the array, no crash`, () => {
      const { result } = child(body) as { result: Attempt };
      expect(result.ok).toBe(false);
      expect(result.name).toBe('Error');
      expect(result.message).toMatch(/has 0 elements, expected/);
    });
  }

  it('a getter that leaves the arrays alone still computes (y = 2x)', () => {
    const { result } = child(
      `const x = Float32Array.from({ length: 16 }, (_, i) => i), y = new Float32Array(16);
       const shape = ${convShape(4)};
       Object.defineProperty(shape, 'groups', { enumerable: true, get() { return 1; } });
       addon.conv2dForward(x, new Float32Array([2]), null, y, shape);
       result = Array.from(y);`,
    );
    expect(result).toEqual(Array.from({ length: 16 }, (_, i) => 2 * i));
  });
});

describe.skipIf(!native)('native boundary: shared memory and panics', () => {
  it('maxPool2dBackward and crossEntropyBackward with index arrays flipped by another thread: results or Errors, never an abort', () => {
    const { result } = child(
      `const { Worker } = await import('node:worker_threads');
       const idx = new Uint32Array(new SharedArrayBuffer(4 * 64));
       const target = new Int32Array(new SharedArrayBuffer(4 * 64));
       const stop = new Int32Array(new SharedArrayBuffer(4));
       // Flips every index between valid (0) and out of range, as fast as it can.
       const w = new Worker(\`const { workerData: [idx, target, stop] } = await import('node:worker_threads');
         for (let i = 0; Atomics.load(stop, 0) === 0; i++) { idx.fill(i & 1 ? 0 : 2 ** 31); target.fill(i & 1 ? 0 : -5); }\`,
         { eval: true, workerData: [idx, target, stop] });
       await new Promise((r) => setTimeout(r, 50));
       const g = { h: 8, w: 8, oh: 8, ow: 8, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1 };
       const dy = new Float32Array(64).fill(1), dx = new Float32Array(64);
       const x = new Float32Array(64 * 3), stats = new Float32Array(128), dx2 = new Float32Array(64 * 3);
       addon.crossEntropyForward(x, new Int32Array(64), stats, 64, 3, 0);
       const seen = { ok: 0, rejected: 0, other: [] };
       for (let i = 0; i < 20000; i++) {
         for (const r of [attempt(() => addon.maxPool2dBackward(dy, idx, dx, 1, g)),
                          attempt(() => addon.crossEntropyBackward(x, target, stats, dx2, 64, 3, 0, 1))]) {
           if (r.ok) seen.ok++;
           else if (/outside a plane|out of range/.test(r.message)) seen.rejected++;
           else seen.other.push(r.message);
         }
       }
       Atomics.store(stop, 0, 1);
       await w.terminate();
       result = seen;`,
    );
    const seen = result as { ok: number; rejected: number; other: string[] };
    expect(seen.other).toEqual([]);
    expect(seen.ok + seen.rejected).toBe(40000);
  });

  it('every export catches unwinds (a panic becomes an Error, not an abort) and takes no early pointer', () => {
    const dir = new URL('../crates/liven-node/src/', import.meta.url);
    const exports: { name: string; attr: string; params: string }[] = [];
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.rs'))) {
      const src = readFileSync(new URL(file, dir), 'utf8');
      for (const m of src.matchAll(/#\[napi(\([^)]*\))?\]\s*(?:#\[[^\]]*\]\s*)*pub fn (\w+)\(([^)]*)\)/g)) {
        exports.push({ name: `${file}:${m[2]}`, attr: m[1] ?? '', params: m[3]! });
      }
    }
    expect(exports.length).toBeGreaterThan(40);
    expect(exports.filter((e) => !e.attr.includes('catch_unwind')).map((e) => e.name)).toEqual([]);
    // `&[f32]` and napi's slice types take their pointer while arguments are still converted
    // (clippy.toml refuses the napi types; this catches slices).
    expect(exports.filter((e) => /&(mut )?\[|Slice\b/.test(e.params)).map((e) => e.name)).toEqual([]);
  });
});

describe.skipIf(!native)('native boundary: scratch follows the arrays, not the geometry', () => {
  it('MaxPool2d(1, { stride: [2 ** 31 - 1, 1] }) on [1, 1, 1, 1]: the right answer, in bounded memory', () => {
    const { result } = child(
      `lib.setBackend('native');
       const pool = new lib.nn.MaxPool2d(1, { stride: [2 ** 31 - 1, 1] });
       const y = pool.forward(lib.Tensor.from(new Float32Array([3.5]), [1, 1, 1, 1]));
       const dx = pool.backward(lib.Tensor.from(new Float32Array([2]), [1, 1, 1, 1]));
       const avg = new lib.nn.AvgPool2d(1, { stride: [1, 2 ** 31 - 1] });
       const z = avg.forward(lib.Tensor.from(new Float32Array([3.5, 1.5]), [1, 1, 2, 1]));
       result = { y: Array.from(y.data), shape: y.shape, dx: Array.from(dx.data), z: Array.from(z.data) };`,
    );
    expect(result).toEqual({ y: [3.5], shape: [1, 1, 1, 1], dx: [2], z: [3.5, 1.5] });
  });

  it('the raw pool exports with zero planes and a 2^31 - 1-row geometry do nothing, quickly', () => {
    const { result } = child(
      `const g = { h: 2 ** 31 - 1, w: 1, oh: 2 ** 31 - 1, ow: 1, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1 };
       const e = () => new Float32Array(0);
       result = [
         attempt(() => addon.maxPool2dForward(e(), e(), new Uint32Array(0), 0, g)),
         attempt(() => addon.maxPool2dBackward(e(), new Uint32Array(0), e(), 0, g)),
         attempt(() => addon.avgPool2dForward(e(), e(), 0, g, true)),
         attempt(() => addon.avgPool2dBackward(e(), e(), 0, g, false)),
       ];`,
    );
    expect(result).toEqual([{ ok: true }, { ok: true }, { ok: true }, { ok: true }]);
  });

  it('a 2^31 - 1-row kernel padded around one element: the element, in bounded memory', () => {
    const { result } = child(
      `const g = { h: 1, w: 1, oh: 1, ow: 1, kh: 2 ** 31 - 1, kw: 1, sh: 1, sw: 1, ph: 2 ** 30 - 1, pw: 0, dh: 1, dw: 1 };
       const y = new Float32Array(1), idx = new Uint32Array(1), z = new Float32Array(1), dx = new Float32Array(1);
       addon.maxPool2dForward(new Float32Array([-4]), y, idx, 1, g);
       addon.avgPool2dForward(new Float32Array([-4]), z, 1, g, false);
       addon.avgPool2dBackward(new Float32Array([6]), dx, 1, g, false);
       result = [y[0], idx[0], z[0], dx[0]];`,
    );
    expect(result).toEqual([-4, 0, -4, 6]);
  });

  it('a convolution whose unfolded input would be terabytes (a 2^20-row kernel padded to a 2^20-row output): an Error', () => {
    const { result } = child(
      `const shape = { batch: 1, inChannels: 1, height: 1, width: 1, outChannels: 1, kernelH: 2 ** 20, kernelW: 1,
         strideH: 1, strideW: 1, padH: 2 ** 20 - 1, padW: 0, dilationH: 1, dilationW: 1, groups: 1 };
       const w = new Float32Array(2 ** 20), y = new Float32Array(2 ** 20);
       result = [
         attempt(() => addon.conv2dForward(new Float32Array(1), w, null, y, shape)),
         attempt(() => addon.conv2dBackward(new Float32Array(1), w, y, new Float32Array(1), new Float32Array(2 ** 20), null, shape)),
       ];`,
    );
    for (const r of result as Attempt[]) {
      expect(r.ok).toBe(false);
      expect(r.message).toMatch(/unfolded input of 1099511627776 elements .* over the limit/);
    }
  });

  it('softmax, norms and cross-entropy with empty arrays and 2^32 - 1 sizes allocate nothing', () => {
    const { result } = child(
      `const e = () => new Float32Array(0), big = 2 ** 32 - 1;
       result = [
         attempt(() => addon.softmaxForward(e(), e(), 0, 1, big)),
         attempt(() => addon.logSoftmaxBackward(e(), e(), e(), 0, big, big)),
         attempt(() => addon.l2NormForward(e(), new Float32Array(1), e(), e(), big, 1e-5)),
         attempt(() => addon.groupNormForward(e(), new Float32Array(1), new Float32Array(1), e(), e(), e(), 1, big, 1e-5)),
         attempt(() => addon.crossEntropyForward(e(), new Int32Array(0), e(), 0, big, 0)),
         attempt(() => addon.unitStats(e(), e(), big, big, new Float64Array(0))),
         attempt(() => addon.linearForward(e(), e(), e(), e(), 0, big, 0)),
         attempt(() => addon.linearBackward(e(), e(), e(), e(), e(), null, 0, big, 0)),
       ].map((r) => r.ok || r.name);`,
    );
    // Each either does nothing or refuses: what matters is the clean exit and memory, checked by child().
    expect((result as unknown[]).every((r) => r === true || r === 'Error')).toBe(true);
  });

  it('Linear with no features: empty outputs, a zero input gradient (an abort before: a row split by zero)', () => {
    const { result } = child(
      `const e = () => new Float32Array(0), rows = 2 ** 32 - 1;
       const dx = new Float32Array(6).fill(7);
       result = [
         attempt(() => addon.linearForward(e(), e(), e(), e(), rows, 0, 0)),
         attempt(() => addon.linearForward(new Float32Array(6), e(), e(), e(), 2, 3, 0)),
         attempt(() => addon.linearBackward(e(), e(), e(), e(), e(), e(), rows, 0, 0)),
         attempt(() => addon.linearBackward(new Float32Array(6), e(), e(), dx, e(), e(), 2, 3, 0)),
         attempt(() => addon.linearBackward(new Float32Array(6), e(), e(), null, e(), e(), 2, 3, 0)),
         Array.from(dx),
       ];`,
    );
    expect(result).toEqual([{ ok: true }, { ok: true }, { ok: true }, { ok: true }, { ok: true }, [0, 0, 0, 0, 0, 0]]);
  });

  it('backward without dx (null or undefined): the same parameter gradients as with it, other arrays still checked', () => {
    const { result } = child(
      `const r = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + s));
       const shape = { batch: 2, inChannels: 4, height: 6, width: 5, outChannels: 6, kernelH: 3, kernelW: 3,
         strideH: 1, strideW: 2, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 2 };
       const x = r(240, 1), w = r(108, 2), dy = r(216, 3);
       const grads = (dx) => {
         const dw = new Float32Array(108).fill(0.5), db = new Float32Array(6).fill(0.25);
         addon.conv2dBackward(x, w, dy, dx, dw, db, shape);
         return [...dw, ...db];
       };
       const lin = (dx) => {
         const dw = new Float32Array(12).fill(1), db = new Float32Array(3);
         addon.linearBackward(r(8, 4), r(12, 5), r(6, 6), dx, dw, db, 2, 4, 3);
         return [...dw, ...db];
       };
       result = {
         conv: [grads(new Float32Array(240)), grads(null), grads(undefined)],
         linear: [lin(new Float32Array(8)), lin(null)],
         short: attempt(() => addon.conv2dBackward(x, w, dy, null, new Float32Array(107), null, shape)),
       };`,
    );
    const { conv, linear, short } = result as { conv: number[][]; linear: number[][]; short: Attempt };
    expect(conv[0]!.some((v) => v !== 0.5 && v !== 0.25)).toBe(true);
    expect(conv[1]).toEqual(conv[0]);
    expect(conv[2]).toEqual(conv[0]);
    expect(linear[1]).toEqual(linear[0]);
    expect(short).toMatchObject({ ok: false, name: 'Error', message: expect.stringMatching(/gradWeight has 107 elements, expected 108/) });
  });
});

describe.skipIf(!native)('native boundary: fuzzing every export', () => {
  const runs = Number(process.env.LIVEN_FUZZ_RUNS ?? 3000);
  const seed = Number(process.env.LIVEN_FUZZ_SEED ?? 19);
  it(`${runs} calls with adversarial arguments (seed ${seed}): no crash, only results and Errors`, () => {
    const script = new URL('./helpers/addon-fuzz.mjs', import.meta.url).pathname;
    const out = run<{ ok: number; errors: number; exports: number }>([script, String(runs), String(seed)]);
    expect(out.exports).toBeGreaterThan(40);
    expect(out.ok + out.errors).toBe(runs);
    expect(out.ok).toBeGreaterThan(0);
  });
});
