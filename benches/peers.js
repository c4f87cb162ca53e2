// The peer libraries (TensorFlow.js cpu and wasm, brain.js) live in benches/peers with their own
// package.json and lock file, installed on first use so a user's `npm install` never pulls them.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('./peers/', import.meta.url));

/** Installs the peers if needed; returns a note for each one that cannot be loaded. */
export function ensurePeers(log = console.error) {
  if (!existsSync(`${dir}node_modules`)) {
    log('benches: installing the peer libraries into benches/peers (first run only)...');
    try {
      execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    } catch (e) {
      log(`benches: installing the peers failed: ${e.message}`);
    }
  }
}

const require = createRequire(dir);

/** TensorFlow.js with the given backend ('cpu' or 'wasm'), or `{ error }`. */
export async function loadTf(backend) {
  try {
    const tf = await import(require.resolve('@tensorflow/tfjs'));
    if (backend === 'wasm') await import(require.resolve('@tensorflow/tfjs-backend-wasm'));
    await tf.setBackend(backend);
    await tf.ready();
    if (tf.getBackend() !== backend) throw new Error(`tf.setBackend('${backend}') left the backend at ${tf.getBackend()}`);
    return { tf };
  } catch (e) {
    return { error: `@tensorflow/tfjs ${backend}: ${e.message}` };
  }
}

/** brain.js, or `{ error }`. */
export async function loadBrain() {
  try {
    const mod = await import(require.resolve('brain.js'));
    return { brain: mod.default ?? mod };
  } catch (e) {
    return { error: `brain.js: ${e.message}` };
  }
}
