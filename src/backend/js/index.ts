import type { Kernels } from '../types.js';
import * as activation from './activation.js';
import * as norm from './norm.js';
import * as optim from './optim.js';
import { safetensorsParse, safetensorsToF32 } from './safetensors.js';

/** The pure-TypeScript backend: every kernel of liven-core, as plain loops. */
export const jsKernels: Kernels = {
  ...activation,
  ...norm,
  ...optim,
  safetensorsParse,
  safetensorsToF32,
};
