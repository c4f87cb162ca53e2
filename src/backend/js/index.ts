import type { Kernels } from '../types.js';
import * as activation from './activation.js';
import * as norm from './norm.js';

/** The pure-TypeScript backend: every kernel of liven-core, as plain loops. */
export const jsKernels: Kernels = { ...activation, ...norm };
