// Runs benches/torch_linear_conv.py with Debian's PyTorch for the Linear and Conv2d suites.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

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
 * PyTorch's median seconds per call for `cases` at `threads` threads: `{ name: seconds }`.
 * `coretype` undefined runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (as the issue
 * asks); a name (e.g. 'SkylakeX') forces OpenBLAS's kernels for that core.
 */
export function torchTimes(cases, threads, { quick = false, coretype } = {}) {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (coretype) env.OPENBLAS_CORETYPE = coretype;
  const out = execFileSync(python, [script, String(threads), JSON.stringify(cases), quick ? '0.05' : '0.5'], { env, encoding: 'utf8' });
  return JSON.parse(out);
}
