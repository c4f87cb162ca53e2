import type { Kernels } from '../types.js';
import * as activation from './activation.js';
import * as loss from './loss.js';
import * as pool from './pool.js';
import * as softmax from './softmax.js';

/** The pure-TypeScript backend: every kernel of liven-core, as plain loops. */
export const jsKernels: Kernels = { ...activation, ...pool, ...softmax, ...loss };
