// nn.Linear forward and forward+backward: native against the JS backend and against PyTorch
// (benches/torch_linear_conv.py, same shapes and thread count), in GFLOP/s.
import { runLayerSuite } from './layers.js';

export const cases = [
  // The target: [512, 1024] x [1024, 1024].
  { name: 'Linear 1024→1024, batch 512', layer: 'linear', rows: 512, inFeatures: 1024, outFeatures: 1024, jsRows: 16 },
  // An MNIST MLP layer.
  { name: 'Linear 784→256, batch 64', layer: 'linear', rows: 64, inFeatures: 784, outFeatures: 256, jsRows: 64 },
];

export async function run(options) {
  return runLayerSuite(cases, options);
}
