// Memory stays bounded over many calls: run in a child process with --expose-gc, so that
// garbage can be collected before each reading.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { native } from '../src/backend/index.js';

const dist = new URL('../dist/index.js', import.meta.url).href;

/** Prints RSS and external memory after a warm-up and after `calls` more forward/backward calls. */
const child = (calls: number) => `
const { Tensor, nn, setBackend } = await import(${JSON.stringify(dist)});
setBackend('native');
const x = Tensor.from(Float32Array.from({ length: 8 * 128 }, (_, i) => Math.sin(i)), [8, 128]);
const g = Tensor.from(new Float32Array(8 * 128).fill(1), [8, 128]);
const layers = [new nn.ReLU(), new nn.LeakyReLU(), new nn.PReLU({ numParameters: 128 })];
const round = (n) => { for (let i = 0; i < n; i++) { const m = layers[i % 3]; m.forward(x); m.backward(g); } };
const reading = () => { globalThis.gc(); const u = process.memoryUsage(); return { rss: u.rss, external: u.external + u.arrayBuffers }; };
round(5000);
const before = reading();
round(${calls});
const after = reading();
process.stdout.write(JSON.stringify({ before, after }));
`;

/** The same readings around `loads` parses of a safetensors file (fixture's bytes), on the native reader. */
const loadsChild = (loads: number) => `
const { io, setBackend } = await import(${JSON.stringify(dist)});
const { readFileSync } = await import('node:fs');
setBackend('native');
const bytes = readFileSync(new URL('./fixtures/safetensors/dtypes.safetensors', ${JSON.stringify(import.meta.url)}));
const bad = bytes.subarray(0, bytes.length - 1);
const round = (n) => { for (let i = 0; i < n; i++) { io.parseSafetensors(bytes); try { io.parseSafetensors(bad); } catch {} } };
const reading = () => { globalThis.gc(); const u = process.memoryUsage(); return { rss: u.rss, external: u.external + u.arrayBuffers }; };
round(1000);
const before = reading();
round(${loads});
const after = reading();
process.stdout.write(JSON.stringify({ before, after }));
`;

describe.skipIf(!native)('leaks', () => {
  it('10k safetensors loads (and as many rejected files) keep RSS and external memory bounded', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', loadsChild(10_000)], { encoding: 'utf8' });
    const { before, after } = JSON.parse(out);
    // Each load allocates 9 tensors (~400 bytes of ArrayBuffers) and a table of names from the
    // addon; kept, 10k loads would hold 4 MB external and the tables as much again (measured
    // growth: about 1 MB of RSS, none external).
    expect(after.external - before.external).toBeLessThan(2 ** 20);
    expect(after.rss - before.rss).toBeLessThan(8 * 2 ** 20);
  });

  it('100k forward/backward calls keep RSS and external memory bounded', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', child(100_000)], { encoding: 'utf8' });
    const { before, after } = JSON.parse(out);
    // Each call allocates 4 KiB of outputs: 100k calls would be 400 MB if nothing were freed.
    expect(after.external - before.external).toBeLessThan(16 * 2 ** 20);
    expect(after.rss - before.rss).toBeLessThan(64 * 2 ** 20);
  });
});
