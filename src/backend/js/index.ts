import type { Kernels } from '../types.js';
import * as activation from './activation.js';
import * as conv from './conv.js';
import * as linear from './linear.js';

/** The pure-TypeScript backend: every kernel of liven-core, as plain loops. */
export const jsKernels: Kernels = { ...activation, ...linear, ...conv };
