import type { Kernels } from '../types.js';
import * as activation from './activation.js';
import { sampledHistogram, unitStats } from './stats.js';

/** The pure-TypeScript backend: every kernel of liven-core, as plain loops. */
export const jsKernels: Kernels = { ...activation, unitStats, sampledHistogram };
