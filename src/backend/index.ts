import { availableParallelism } from 'node:os';
import { checkPositiveInt } from '../check.js';
import { jsKernels } from './js/index.js';
import { loadNative, type NativeAddon } from './native.js';
import type { BackendName, Kernels } from './types.js';

export type { BackendName, Kernels } from './types.js';

const loaded = loadNative();
/** The native addon, or null when it could not load (then the backend is 'js'). */
export const native: NativeAddon | null = 'addon' in loaded ? loaded.addon : null;
/** Why the native addon is missing, or null. */
export const nativeLoadError: string | null = 'error' in loaded ? loaded.error : null;

if (nativeLoadError !== null) {
  process.emitWarning(`liven: using the pure-TypeScript backend: ${nativeLoadError}`, { code: 'LIVEN_NO_NATIVE' });
}

let current: BackendName = native ? 'native' : 'js';
let currentKernels: Kernels = native ?? jsKernels;

/** Selects the backend every layer uses from now on. */
export function setBackend(name: BackendName): void {
  if (name !== 'native' && name !== 'js') {
    throw new TypeError(`setBackend: unknown backend ${JSON.stringify(name)}; use 'native' or 'js'`);
  }
  if (name === 'native' && !native) {
    throw new Error(`setBackend('native'): ${nativeLoadError}`);
  }
  current = name;
  currentKernels = name === 'native' ? native! : jsKernels;
}

export function getBackend(): BackendName {
  return current;
}

/** The kernels of the current backend. */
export function kernels(): Kernels {
  return currentKernels;
}

/** The instruction set the native kernels use ('avx512', 'avx2', 'neon', 'scalar'), or null without the addon. */
export function simdLevel(): string | null {
  return native ? native.simdLevel() : null;
}

let jsThreads = availableParallelism();

/** How many threads the native kernels may use (the JS backend always uses one). */
export function setNumThreads(threads: number): void {
  checkPositiveInt(threads, 'setNumThreads: threads');
  if (threads > 1024) throw new RangeError(`setNumThreads: ${threads} threads is more than 1024`);
  jsThreads = threads;
  native?.setNumThreads(threads);
}

/** How many threads the native kernels called from this JS thread may use (its budget if it has one). */
export function getNumThreads(): number {
  return native ? native.getNumThreads() : jsThreads;
}

/**
 * Gives the calling JS thread (the main thread or a worker) its own budget of native kernel
 * threads, or (`null`) puts it back on the process-wide pool that `setNumThreads` sizes. With
 * the shared pool, several workers each splitting their kernels `getNumThreads()` ways
 * oversubscribe the cores; with a budget each worker's kernels stay within its own count:
 * 1 runs them serially on the worker's thread (results bit-identical to `setNumThreads(1)`),
 * k gives the worker a pool of k threads of its own, ended with the worker. Other threads are
 * unaffected. Without the addon (the JS backend is serial) it only checks its argument.
 */
export function setThreadBudget(threads: number | null): void {
  if (threads !== null) {
    checkPositiveInt(threads, 'setThreadBudget: threads');
    if (threads > 1024) throw new RangeError(`setThreadBudget: ${threads} threads is more than 1024`);
  }
  native?.setThreadBudget(threads);
}

/** The calling JS thread's own budget (`setThreadBudget`), or null when it uses the process-wide pool. */
export function getThreadBudget(): number | null {
  return native ? native.getThreadBudget() : null;
}
