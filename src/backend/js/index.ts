import type { Kernels } from '../types.js';
import * as activation from './activation.js';
import * as conv from './conv.js';
import * as elementwise from './elementwise.js';
import * as linear from './linear.js';
import * as loss from './loss.js';
import * as norm from './norm.js';
import * as optim from './optim.js';
import * as pool from './pool.js';
import * as safetensors from './safetensors.js';
import * as softmax from './softmax.js';
import * as stats from './stats.js';

/** The pure-TypeScript backend: every kernel of liven-core, as plain loops. */
export const jsKernels: Kernels = {
  ...activation,
  ...conv,
  ...elementwise,
  ...linear,
  ...loss,
  ...norm,
  ...optim,
  ...pool,
  ...safetensors,
  ...softmax,
  ...stats,
};
