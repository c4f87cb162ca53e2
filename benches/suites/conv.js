// nn.Conv2d forward and forward+backward: native against the JS backend and against PyTorch
// (benches/torch_linear_conv.py, same shapes and thread count), in GFLOP/s.
import { runLayerSuite } from './layers.js';

export const cases = [
  // The target: 3×3, 64→64, [32, 64, 28, 28], padding 1.
  { name: 'Conv2d 3×3 64→64, [32, 64, 28, 28]', layer: 'conv', batch: 32, inChannels: 64, height: 28, width: 28, outChannels: 64, kernel: 3, padding: 1, jsBatch: 1 },
  // A first MNIST layer: 1→8, 3×3, padding 1.
  { name: 'Conv2d 3×3 1→8, [64, 1, 28, 28]', layer: 'conv', batch: 64, inChannels: 1, height: 28, width: 28, outChannels: 8, kernel: 3, padding: 1, jsBatch: 8 },
];

export async function run(options) {
  return runLayerSuite(cases, options);
}
