// Safetensors reading: the native reader (Rust header check + conversion) against the
// TypeScript one and against a plain copy of the file's data bytes (a load must move every byte
// once, so the copy is its bound), for F32, F16, BF16 and F64 files; PyTorch's own
// `safetensors.torch.load` on the same F32 bytes; and the round trip of nn.ModelWorker.
import { spawnSync } from 'node:child_process';
import { Tensor, io, nn, setBackend, getBackend } from '../../dist/index.js';
import { native } from '../../dist/backend/index.js';
import { formatTime, measure, table } from '../harness.js';

/** A safetensors file of `tensors` tensors with `n` elements in all, of `dtype`, written by hand. */
function file(dtype, n, tensors = 8) {
  const size = { F32: 4, F16: 2, BF16: 2, F64: 8 }[dtype];
  const per = Math.floor(n / tensors);
  const header = {};
  for (let i = 0; i < tensors; i++) header[`layer.${i}.weight`] = { dtype, shape: [per], data_offsets: [i * per * size, (i + 1) * per * size] };
  let h = JSON.stringify(header);
  h += ' '.repeat((8 - (h.length % 8)) % 8);
  const bytes = new Uint8Array(8 + h.length + tensors * per * size);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(h.length), true);
  bytes.set(new TextEncoder().encode(h), 8);
  // Finite values of every type: small integers' bit patterns.
  const data = bytes.subarray(8 + h.length);
  for (let i = 0; i < data.length; i++) data[i] = dtype === 'F64' && i % 8 === 7 ? 0x3f : i % 8 === size - 1 ? 0x3c : (i * 7) & 0x3f;
  return bytes;
}

function pytorchLoad(bytes, quick) {
  const script = `
import sys, time, statistics
from safetensors.torch import load
data = sys.stdin.buffer.read()
load(data)
times = []
for _ in range(${quick ? 3 : 15}):
    t0 = time.perf_counter(); load(data); times.append(time.perf_counter() - t0)
print(statistics.median(times))`;
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: bytes, env, encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}

export async function run({ quick = false, log = console.log } = {}) {
  if (!native) throw new Error('the native addon is not built: run `npm run build`');
  const previous = getBackend();
  const sizes = quick ? [1 << 18] : [1 << 18, 1 << 24];
  const rows = [];
  const results = [];
  for (const n of sizes) {
    for (const dtype of ['F32', 'F16', 'BF16', 'F64']) {
      const bytes = file(dtype, n);
      const out = new Float32Array(n);
      const parse = (backend) => () => {
        setBackend(backend);
        io.parseSafetensors(bytes);
      };
      const t = await measure([
        ['native', parse('native')],
        ['js', parse('js')],
        ['copy', () => new Uint8Array(out.buffer).set(bytes.subarray(bytes.length - Math.min(bytes.length - 8, out.byteLength)))],
      ], { quick });
      const torch = dtype === 'F32' ? pytorchLoad(bytes, quick) : null;
      rows.push([n.toLocaleString('en'), dtype, `${(bytes.length / 2 ** 20).toFixed(1)} MiB`, formatTime(t.native), formatTime(t.js), `${(t.js / t.native).toFixed(1)}x`, torch ? `${formatTime(torch)} (${(torch / t.native).toFixed(1)}x)` : '', `${((bytes.length / t.native) / 1e9).toFixed(1)} GB/s`, formatTime(t.copy)]);
      results.push({ n, dtype, ...t, torch });
    }
  }
  setBackend(previous);
  log(table(['elements', 'dtype', 'file', 'native parse', 'js parse', 'native speed-up', 'PyTorch load (÷ native)', 'native file bytes/s', 'copy of the data'], rows));

  // ModelWorker: the fixed cost of a pass on the worker thread (messages, copies of parameters
  // and output) against the synchronous call, for a tiny and a 1M-element input.
  const model = new nn.Sequential(new nn.PReLU({ numParameters: 8 }), new nn.LeakyReLU());
  const w = new nn.ModelWorker(model);
  const wrows = [];
  for (const n of [64, 1 << 20]) {
    const x = Tensor.zeros([n / 8, 8]);
    await w.forward(x);
    const reps = quick ? 20 : 200;
    const times = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await w.forward(x);
      times.push((performance.now() - t0) / 1e3);
    }
    times.sort((a, b) => a - b);
    const sync = await measure([['sync', () => model.forward(x)]], { quick });
    wrows.push([n.toLocaleString('en'), formatTime(sync.sync), formatTime(times[times.length >> 1])]);
  }
  await w.terminate();
  log('');
  log(table(['elements', 'model.forward (sync)', 'ModelWorker.forward round trip (median)'], wrows));
  return { results };
}
