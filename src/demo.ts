import { getBackend, simdLevel } from './backend/index.js';
import { Rng } from './init/rng.js';
import { LeakyReLU, PReLU, ReLU } from './nn/activation.js';
import type { Module } from './nn/module.js';
import { Tensor } from './tensor.js';

/**
 * Pre-activations of `units` units over `batch` samples, `[batch, units]`: unit u has a bias
 * b_u ~ N(centre, 0.5) and each sample adds N(0, 0.5) noise.
 */
function preActivations(rng: Rng, batch: number, units: number, centre: number): Tensor {
  const bias = Array.from({ length: units }, () => centre + 0.5 * rng.normal());
  const x = Tensor.zeros([batch, units]);
  for (let n = 0; n < batch; n++) {
    for (let u = 0; u < units; u++) x.data[n * units + u] = bias[u]! + 0.5 * rng.normal();
  }
  return x;
}

/** Units that get no gradient at all from this batch, and the mean |gradient| per unit. */
function gradientFlow(layer: Module, x: Tensor): { silent: number; meanGrad: number } {
  const [batch, units] = x.shape as [number, number];
  layer.forward(x);
  const dx = layer.backward(Tensor.from(new Float32Array(x.size).fill(1), x.shape));
  let silent = 0;
  let total = 0;
  for (let u = 0; u < units; u++) {
    let g = 0;
    for (let n = 0; n < batch; n++) g += Math.abs(dx.data[n * units + u]!);
    if (g === 0) silent++;
    total += g / batch;
  }
  return { silent, meanGrad: total / units };
}

/** A one-layer picture of the dying ReLU, printed as a table. */
export function runDemo(out: (line: string) => void = console.log): void {
  const rng = new Rng(0);
  const batch = 1024;
  const units = 256;
  const centres = [0.1, -0.1, -1, -3];
  out(`liven: the dying ReLU in one layer (backend ${getBackend()}${simdLevel() ? `, ${simdLevel()}` : ''})`);
  out(`${units} units see ${batch} samples; unit u's pre-activation is b_u + N(0, 0.5) with b_u ~ N(centre, 0.5).`);
  out(`A too-high learning rate or a bad initialisation moves the centre below zero; a unit whose`);
  out(`pre-activation is <= 0 for every sample gets no gradient from ReLU and stops learning.\n`);
  const layers: [string, () => Module][] = [
    ['ReLU', () => new ReLU()],
    ['LeakyReLU(0.01)', () => new LeakyReLU()],
    ['PReLU(0.25)', () => new PReLU()],
  ];
  const col = 22;
  out('centre'.padEnd(8) + layers.map(([name]) => name.padEnd(col)).join(''));
  out(''.padEnd(8) + layers.map(() => 'no grad   mean|grad|'.padEnd(col)).join(''));
  for (const centre of centres) {
    const x = preActivations(rng, batch, units, centre);
    const cells = layers.map(([, make]) => {
      const { silent, meanGrad } = gradientFlow(make(), x);
      return `${((100 * silent) / units).toFixed(1).padStart(6)}%   ${meanGrad.toFixed(3).padStart(8)}`.padEnd(col);
    });
    out(`${centre > 0 ? '+' : ''}${centre}`.padEnd(8) + cells.join(''));
  }
  out(`\n"no grad": units that got no gradient from any of the ${batch} samples (dead for this batch).`);
  out(`\nReLU silences units as the centre falls; LeakyReLU and PReLU keep a gradient flowing, but a`);
  out(`small one (slope × upstream gradient), which is why their "alive" units can still be nearly dead.`);
}
