import type { Kernels } from '../types.js';
import * as activation from './activation.js';
import * as loss from './loss.js';
import * as norm from './norm.js';
import * as optim from './optim.js';
import * as pool from './pool.js';
import * as safetensors from './safetensors.js';
import * as softmax from './softmax.js';
import { sampledHistogram, unitStats } from './stats.js';

/** The pure-TypeScript backend: every kernel of liven-core, as plain loops. */
export const jsKernels: Kernels = {
  ...activation,
  ...loss,
  ...norm,
  ...optim,
  ...pool,
  ...softmax,
  ...safetensors,
  sampledHistogram,
  unitStats,
};
