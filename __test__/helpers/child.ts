// Child processes for the cases where memory or a crash is at stake: a run that would exhaust
// memory or abort must do it in a child, which reports how it ended and how much it took.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const preload = fileURLToPath(new URL('./max-rss.cjs', import.meta.url));

/** The built package's entry point, for `import` in a child's code. */
export const distIndex = pathToFileURL(fileURLToPath(new URL('../../dist/index.js', import.meta.url))).href;

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident memory in MiB (NaN if the child died before its exit handlers ran). */
  maxRssMiB: number;
  /** Wall time in milliseconds. */
  ms: number;
}

/** Runs `node <args>` (killed after `timeoutMs`), measuring its peak memory and its time. */
export function runNode(args: string[], options: { timeoutMs?: number } = {}): ChildResult {
  const dir = mkdtempSync(join(tmpdir(), 'liven-child-'));
  const rssFile = join(dir, 'maxrss');
  try {
    const start = performance.now();
    const r = spawnSync(process.execPath, ['-r', preload, ...args], {
      encoding: 'utf8',
      timeout: options.timeoutMs ?? 60_000,
      env: { ...process.env, LIVEN_MAXRSS_FILE: rssFile },
      maxBuffer: 16 * 2 ** 20,
    });
    const ms = performance.now() - start;
    let maxRssMiB = NaN;
    try {
      maxRssMiB = Number(readFileSync(rssFile, 'utf8')) / 1024;
    } catch {
      // The child was killed or aborted before its exit handlers ran.
    }
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, maxRssMiB, ms };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs ES module `code` in a child (`import ... from distIndex` reaches the package). */
export function runModule(code: string, args: string[] = [], options: { timeoutMs?: number } = {}): ChildResult {
  return runNode(['--input-type=module', '-e', code, '--', ...args], options);
}
