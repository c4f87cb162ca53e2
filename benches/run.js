// npm run bench [-- <suite> ...] [--quick] [--threads N] [--chart file.svg]
// Prints each suite's table; record full runs in BENCHMARKS.md with the machine line.
import { getNumThreads, setNumThreads, simdLevel } from '../dist/index.js';
import { writeFileSync } from 'node:fs';
import { machine } from './harness.js';

const suites = {
  activations: () => import('./suites/activations.js'),
  training: () => import('./suites/training.js'),
  peers: () => import('./suites/peers.js'),
  optim: () => import('./suites/optim.js'),
  io: () => import('./suites/io.js'),
  norm: () => import('./suites/norm.js'),
  pool: () => import('./suites/pool.js'),
  diag: () => import('./suites/diag.js'),
  linear: () => import('./suites/linear.js'),
  conv: () => import('./suites/conv.js'),
  analysis: () => import('./suites/analysis.js'),
  queue: () => import('./suites/queue.js'),
  speed: () => import('./suites/speed.js'),
  resnet: () => import('./suites/resnet.js'),
  elementwise: () => import('./suites/elementwise.js'),
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const threadsAt = args.indexOf('--threads');
if (threadsAt >= 0) setNumThreads(Number(args[threadsAt + 1]));
const chartAt = args.indexOf('--chart');
const chartPath = chartAt >= 0 ? args[chartAt + 1] : null;
const named = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--threads' && args[i - 1] !== '--chart');
const unknown = named.filter((n) => !(n in suites));
if (unknown.length > 0) {
  console.error(`unknown suite ${unknown.join(', ')}; suites: ${Object.keys(suites).join(', ')}`);
  process.exit(2);
}

console.log(`# liven benchmarks${quick ? ' (quick)' : ''}`);
console.log(`${machine()}; SIMD ${simdLevel()}; ${getNumThreads()} thread${getNumThreads() === 1 ? '' : 's'}; ${new Date().toISOString().slice(0, 10)}\n`);
const results = {};
for (const name of named.length > 0 ? named : Object.keys(suites)) {
  console.log(`## ${name}\n`);
  const suite = await suites[name]();
  results[name] = await suite.run({ quick });
  console.log('');
}
if (chartPath) {
  const { barsFrom, ratioChart } = await import('./chart.js');
  writeFileSync(chartPath, ratioChart(`liven native's speed-up (${getNumThreads()} thread${getNumThreads() === 1 ? '' : 's'}; green: liven faster)`, barsFrom(results)));
  console.log(`chart: ${chartPath}`);
}
