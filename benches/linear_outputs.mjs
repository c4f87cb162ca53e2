// Where nn.Linear's time goes beyond its kernels: Linear 1024→1024 on a batch of 512, one thread,
// forward+backward through the module (fresh 2 MiB outputs from Tensor.empty, below the native
// pool's 16 MiB, so glibc's malloc serves them) against the same kernels writing into reused
// arrays, with the page faults per call. Synchronous loops, as most training loops are. Run it
// as is, then with MALLOC_MMAP_THRESHOLD_=16777216 MALLOC_TRIM_THRESHOLD_=134217728 (glibc keeps
// freed memory instead of trimming it): BENCHMARKS.md, "Round four". `node benches/linear_outputs.mjs`
import { Tensor, nn, setNumThreads } from '../dist/index.js';
import { native } from '../dist/backend/index.js';

if (!native) throw new Error('the native addon is not built: run `npm run build`');
setNumThreads(1);
const [rows, inF, outF] = [512, 1024, 1024];
const random = (n) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const x = Tensor.from(random(rows * inF), [rows, inF]);
const gy = Tensor.from(random(rows * outF), [rows, outF]);
const linear = new nn.Linear(inF, outF);
const [w, b] = [linear.weight.data.data, linear.bias.data.data];
const [y, dx, dw, db] = [new Float32Array(rows * outF), new Float32Array(rows * inF), new Float32Array(w.length), new Float32Array(outF)];
const median = (v) => [...v].sort((p, q) => p - q)[v.length >> 1];
const faults = () => process.resourceUsage().minorPageFault;

const cases = [
  ['kernels, reused arrays', () => { native.linearForward(x.data, w, b, y, rows, inF, outF); native.linearBackward(x.data, w, gy.data, dx, dw, db, rows, inF, outF); }],
  ['kernels, fresh outputs', () => { native.linearForward(x.data, w, b, Tensor.empty([rows, outF]).data, rows, inF, outF); native.linearBackward(x.data, w, gy.data, Tensor.empty([rows, inF]).data, dw, db, rows, inF, outF); }],
  ['nn.Linear forward+backward', () => { linear.forward(x); linear.backward(gy); }],
];
console.log(`Linear ${inF}→${outF}, batch ${rows}, one thread, forward+backward; medians of 40 calls`);
for (let round = 0; round < 3; round++) {
  for (const [name, run] of cases) {
    for (let i = 0; i < 5; i++) run();
    const f0 = faults();
    const times = [];
    for (let i = 0; i < 40; i++) {
      const t0 = performance.now();
      run();
      times.push(performance.now() - t0);
    }
    console.log(`  ${name.padEnd(28)} ${median(times).toFixed(2)} ms, ${((faults() - f0) / 40).toFixed(1)} page faults per call`);
  }
}
