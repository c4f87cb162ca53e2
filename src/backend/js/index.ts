import type { Kernels } from '../types.js';
import * as activation from './activation.js';
import * as safetensors from './safetensors.js';

/** The pure-TypeScript backend: every kernel of liven-core, as plain loops. */
export const jsKernels: Kernels = { ...activation, ...safetensors };
