import { createRequire } from 'node:module';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernels } from './types.js';

/** What the addon exports beyond the kernels. */
export interface NativeAddon extends Kernels {
  simdLevel(): string;
  supportedSimdLevels(): string[];
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  /**
   * A Float32Array of `length` elements over recycled native memory (contents unspecified),
   * or null when the pool declines (under 32 MiB, or too much already lent out).
   */
  pooledFloat32(length: number): Float32Array | null;
  /** Asks for transparent huge pages behind a large array before its first write. */
  adviseHugePages(array: Float32Array): void;
  /** [bytes waiting in the pool for reuse, bytes lent out to live or unfinalized arrays]. */
  pooledBytes(): number[];
}

/** Where `napi build --platform` puts the addon: `native/liven.<platform>-<arch>[-<abi>].node`. */
const nativeDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native');

/** The addon, or the reason it could not be loaded. */
export function loadNative(): { addon: NativeAddon } | { error: string } {
  const prefix = `liven.${process.platform}-${process.arch}`;
  let files: string[];
  try {
    files = readdirSync(nativeDir).filter((f) => f.startsWith(prefix) && f.endsWith('.node'));
  } catch {
    files = [];
  }
  if (files.length === 0) {
    return { error: `no native addon ${prefix}*.node in ${nativeDir} (build it with \`npm run build:native\`)` };
  }
  // Prefer the glibc build where there are several (gnu before musl, alphabetically).
  files.sort();
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  for (const file of files) {
    try {
      return { addon: require(join(nativeDir, file)) as NativeAddon };
    } catch (e) {
      errors.push(`${file}: ${(e as Error).message}`);
    }
  }
  return { error: `the native addon failed to load: ${errors.join('; ')}` };
}
