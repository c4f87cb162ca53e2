// nn.Conv2d forward and forward+backward: native against the JS backend and against PyTorch
// (benches/torch_linear_conv.py, same shapes and thread count), in GFLOP/s.
import { runLayerSuite } from './layers.js';

export const cases = [
  // The target: 3×3, 64→64, [32, 64, 28, 28], padding 1 (Winograd F(2×2, 3×3)).
  { name: 'Conv2d 3×3 64→64, [32, 64, 28, 28]', layer: 'conv', batch: 32, inChannels: 64, height: 28, width: 28, outChannels: 64, kernel: 3, padding: 1, jsBatch: 1 },
  // ResNet-18's 3×3 layers on 32×32 images (batch 16): stage 1 at 8×8 (im2col, 4 samples per
  // product), stage 3 at 2×2 (16 samples per product), stage 4 at 1×1 (only the centre tap).
  { name: 'Conv2d 3×3 64→64, [16, 64, 8, 8]', layer: 'conv', batch: 16, inChannels: 64, height: 8, width: 8, outChannels: 64, kernel: 3, padding: 1, jsBatch: 1 },
  { name: 'Conv2d 3×3 256→256, [16, 256, 2, 2]', layer: 'conv', batch: 16, inChannels: 256, height: 2, width: 2, outChannels: 256, kernel: 3, padding: 1, jsBatch: 1 },
  { name: 'Conv2d 3×3 512→512, [16, 512, 1, 1]', layer: 'conv', batch: 16, inChannels: 512, height: 1, width: 1, outChannels: 512, kernel: 3, padding: 1, jsBatch: 1 },
  // A first MNIST layer: 1→8, 3×3, padding 1.
  { name: 'Conv2d 3×3 1→8, [64, 1, 28, 28]', layer: 'conv', batch: 64, inChannels: 1, height: 28, width: 28, outChannels: 8, kernel: 3, padding: 1, jsBatch: 8 },
];

export async function run(options) {
  return runLayerSuite(cases, options);
}
