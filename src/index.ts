// liven: neural-network layers for Node.js with a Rust SIMD core.
export { Tensor } from './tensor.js';
export * as nn from './nn/index.js';
export * as init from './init/index.js';
export * as optim from './optim/index.js';
export * as io from './io/index.js';
export * as diag from './diag/index.js';
export { manualSeed } from './init/rng.js';
export { setBackend, getBackend, setNumThreads, getNumThreads, simdLevel } from './backend/index.js';
export type { BackendName } from './backend/index.js';
// The 10,000 MNIST digits bundled with the `mnist` package, and batches for training loops.
export * as data from './data/index.js';
// torchvision's architectures (resnet18, resnet34, mobilenetV2) with torchvision's state-dict keys.
export * as models from './models/index.js';
