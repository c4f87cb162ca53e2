// Runs benches/torch_linear_conv.py with Debian's PyTorch for the Linear and Conv2d suites.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const python = '/usr/bin/python3';
const script = new URL('../torch_linear_conv.py', import.meta.url).pathname;

/** Whether /usr/bin/python3 can import torch. */
export function hasTorch() {
  if (!existsSync(python)) return false;
  try {
    execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Debian's OpenBLAS (`libopenblas0-pthread`), when installed. Debian's torch links the generic
 * `libblas.so.3`, which is the slow reference BLAS unless the alternatives point elsewhere, so
 * the benchmarks load OpenBLAS for torch's commands alone, whatever the machine's default.
 */
const openblasDir = '/usr/lib/x86_64-linux-gnu/openblas-pthread';

/**
 * The environment of a PyTorch command at `threads` threads. `variant`:
 * - 'defaults': OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (OpenBLAS picks its kernels by
 *   itself), OpenMP's default (spinning) waits;
 * - 'tuned': OPENBLAS_CORETYPE=SkylakeX (OpenBLAS 0.3.21 takes some AVX-512 CPUs for Prescott,
 *   its SSE3 kernels) and OMP_WAIT_POLICY=PASSIVE (spinning OpenMP threads starve each other
 *   on a shared 2-core VM).
 * PyTorch "at its best" is the faster of the two, row by row.
 */
export function torchEnv(threads, variant = 'defaults') {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (existsSync(`${openblasDir}/libblas.so.3`)) env.LD_LIBRARY_PATH = [openblasDir, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  if (variant === 'tuned') {
    if (/\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8'))) env.OPENBLAS_CORETYPE = 'SkylakeX';
    env.OMP_WAIT_POLICY = 'PASSIVE';
  }
  return env;
}

/** One line saying which BLAS and settings torchEnv gives PyTorch here. */
export function describeTorchEnv() {
  const blas = existsSync(`${openblasDir}/libblas.so.3`) ? `OpenBLAS (${openblasDir}, via LD_LIBRARY_PATH)` : 'the system libblas.so.3 (OpenBLAS not installed: apt-get install libopenblas0-pthread)';
  const tuned = /\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 'OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE' : 'OMP_WAIT_POLICY=PASSIVE';
  return `PyTorch: Debian's python3-torch with ${blas}; OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = threads; "defaults": OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset; "tuned": ${tuned}`;
}

/**
 * PyTorch's median seconds per call for `cases` at `threads` threads: `{ name: seconds }`.
 * `variant` as for torchEnv.
 */
export function torchTimes(cases, threads, { quick = false, variant = 'defaults' } = {}) {
  const out = execFileSync(python, [script, String(threads), JSON.stringify(cases), quick ? '0.05' : '0.5'], { env: torchEnv(threads, variant), encoding: 'utf8' });
  return JSON.parse(out);
}
