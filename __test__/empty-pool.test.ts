// Tensor.empty's large outputs come from the addon's pool of recycled memory. What must hold: a
// block is reused only after V8 collected the array that held it (so a tensor a user still
// holds is never overwritten), a synchronous loop that gives the pool no chance to take blocks
// back stays bounded, and pooled arrays behave as any other (transfer included). The checks
// that need garbage collection run in a child process with --expose-gc.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { native } from '../src/backend/index.js';
import { Tensor } from '../src/tensor.js';

const dist = new URL('../dist/index.js', import.meta.url).href;

/** Runs `body` (an ES module's code with Tensor and native in scope) in a child with --expose-gc. */
function child(body: string): unknown {
  const script = `
const { Tensor } = await import(${JSON.stringify(dist)});
const { native } = await import(${JSON.stringify(new URL('../dist/backend/index.js', import.meta.url).href)});
const settle = async () => { for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); } };
${body}`;
  // Without the test suite's NaN poisoning: it would write every block in full.
  const env = { ...process.env };
  delete env.LIVEN_POISON_EMPTY;
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', env });
  return JSON.parse(out);
}

describe.skipIf(!native)('Tensor.empty and the native pool', () => {
  it('lends arrays of 16 MiB and more from the pool, smaller ones not', () => {
    const [, lent0] = native!.pooledBytes();
    const big = Tensor.empty([4097, 1024]);
    const [, lent1] = native!.pooledBytes();
    expect(lent1 - lent0).toBe(18 * 2 ** 20); // 16 MiB + 4 KiB rounded up to 2 MiB blocks
    expect([...big.data.subarray(0, 4)].every(Number.isNaN)).toBe(true); // still poisoned
    const small = Tensor.empty([4095, 1024]);
    expect(native!.pooledBytes()[1]).toBe(lent1);
    expect(small.size).toBe(4095 * 1024);
    // Distinct arrays never share memory.
    const other = Tensor.empty([8192, 1024]);
    big.data.fill(1);
    other.data.fill(2);
    expect(big.data.every((v) => v === 1)).toBe(true);
  });

  it('declines what it cannot lend: fractions, NaN, too little', () => {
    expect(native!.pooledBuffer(2 ** 25 + 0.5)).toBeNull();
    expect(native!.pooledBuffer(Number.NaN)).toBeNull();
    expect(native!.pooledBuffer(-(2 ** 25))).toBeNull();
    expect(native!.pooledBuffer(2 ** 24 - 1)).toBeNull();
    expect(native!.pooledBuffer(2 ** 29 + 2 ** 21)).toBeNull(); // past the lending limit
  });

  it('reuses a block once its array is collected, and never while a tensor holds it', () => {
    const r = child(`
const held = Tensor.empty([1 << 23]);
held.data.fill(7);
let reused = 0;
// In a function, so that no variable of the (async) module body keeps the last tensor alive.
const use = (round) => {
  const [cachedBefore] = native.pooledBytes();
  const t = Tensor.empty([1 << 23]);
  t.data.fill(round);
  return native.pooledBytes()[0] < cachedBefore;
};
for (let round = 0; round < 20; round++) {
  if (use(round)) reused++;
  await settle();
}
await settle();
process.stdout.write(JSON.stringify({ reused, heldIntact: held.data.every((v) => v === 7), pool: native.pooledBytes() }));
`) as { reused: number; heldIntact: boolean; pool: number[] };
    expect(r.heldIntact).toBe(true);
    // After the first round every allocation found its predecessor's block in the pool.
    expect(r.reused).toBeGreaterThanOrEqual(18);
    expect(r.pool[1]).toBe(32 * 2 ** 20); // only `held` is still lent out
  });

  it('a synchronous loop, which gets nothing back until it yields, stays within the lending limit', () => {
    const r = child(`
let maxLent = 0;
for (let i = 0; i < 160; i++) {
  const t = Tensor.empty([1 << 24]); // 64 MiB, 10 GiB in all
  t.data[i] = i;
  maxLent = Math.max(maxLent, native.pooledBytes()[1]);
}
await settle();
process.stdout.write(JSON.stringify({ maxLent, after: native.pooledBytes() }));
`) as { maxLent: number; after: number[] };
    expect(r.maxLent).toBeLessThanOrEqual(2 ** 29);
    expect(r.after[1]).toBe(0);
    expect(r.after[0]).toBeLessThanOrEqual(2 ** 30);
  });

  it('a transferred pooled array arrives as a copy: the two sides never share a block', () => {
    // Node does not detach externally backed ArrayBuffers: postMessage copies them even when
    // they are in the transfer list. The receiver's array must be its own memory, or the
    // block would return to the pool while the receiver still used it.
    const r = child(`
const { MessageChannel } = await import('node:worker_threads');
const t = Tensor.empty([1 << 23]);
t.data.fill(3);
const { port1, port2 } = new MessageChannel();
const got = new Promise((resolve) => port2.once('message', resolve));
port1.postMessage(t.data, [t.data.buffer]);
const received = await got;
port1.close();
port2.close();
t.data.fill(4);
const ok = received.length === 1 << 23 && received.every((v) => v === 3);
process.stdout.write(JSON.stringify({ ok, senderKept: t.data.length }));
`) as { ok: boolean; senderKept: number };
    expect(r.ok).toBe(true);
    expect(r.senderKept).toBe(2 ** 23);
  });
});
