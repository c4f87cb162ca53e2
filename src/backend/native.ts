import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernels } from './types.js';

/** What the addon exports beyond the kernels. */
export interface NativeAddon extends Kernels {
  simdLevel(): string;
  supportedSimdLevels(): string[];
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  setThreadBudget(threads: number | null): void;
  getThreadBudget(): number | null;
  /**
   * An ArrayBuffer of `bytes` bytes over recycled native memory (contents unspecified), or
   * null when the pool declines (under 16 MiB, or too much already lent out).
   */
  pooledBuffer(bytes: number): ArrayBuffer | null;
  /** [bytes waiting in the pool for reuse, bytes lent out to live or unfinalized arrays]. */
  pooledBytes(): number[];
}

/** Where `npm run build:native` (a build from source) puts the addon. */
const nativeDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native');

/**
 * This machine's platform triple as napi-rs names packages and binaries: `linux-x64-gnu`,
 * `linux-arm64-musl`, `darwin-arm64`, `win32-x64-msvc`, ...
 */
export function platformTriple(): string {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'win32') return `${base}-msvc`;
  if (process.platform !== 'linux') return base;
  // glibc reports its version in the process report; musl does not.
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return `${base}-${header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
}

/**
 * The addon, or the reason it could not be loaded. A build from source (`native/`, what a
 * clone of the repository makes) comes first; then the per-platform package that npm installs
 * as an optional dependency of a released liven (`liven-linux-x64-gnu`, ...).
 */
export function loadNative(): { addon: NativeAddon } | { error: string } {
  const triple = platformTriple();
  const file = `liven.${triple}.node`;
  const pkg = `liven-${triple}`;
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  const local = join(nativeDir, file);
  if (existsSync(local)) {
    try {
      return { addon: require(local) as NativeAddon };
    } catch (e) {
      errors.push(`${local}: ${(e as Error).message}`);
    }
  }
  try {
    return { addon: require(pkg) as NativeAddon };
  } catch (e) {
    if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND' || !(e as Error).message.includes(pkg)) {
      errors.push(`${pkg}: ${(e as Error).message}`);
    }
  }
  if (errors.length > 0) return { error: `the native addon failed to load: ${errors.join('; ')}` };
  return {
    error: `no native addon ${file} for this platform: neither the package ${pkg} (npm installs it with liven where it is published) nor a build from source in ${nativeDir} (\`npm run build:native\`, needs Rust)`,
  };
}
