// A worker thread's scheduling priority, shared by nn.ModelWorker's and diag.AnalysisPool's threads.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Lowers the calling thread's priority (a nice value; Linux, where threads have their own):
 * when the cores are busy, the scheduler runs the event loop first and this thread with what is
 * left. Elsewhere, or when not allowed, the thread keeps the normal priority.
 */
export function lowerPriority(nice: number): void {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), nice);
  } catch {
    // no /proc/thread-self (not Linux), or not allowed: keep the default
  }
}

/** Checks a nice value for a worker thread (0, the main thread's, to 19, the lowest). */
export function checkPriority(priority: number, what: string): number {
  if (!Number.isInteger(priority) || priority < 0 || priority > 19) {
    throw new RangeError(`${what}: priority must be a nice value from 0 (the main thread's) to 19 (the lowest), got ${priority}`);
  }
  return priority;
}
