// `npm install` in a clone of the repository (npm's `prepare`): compile the TypeScript, and the
// native addon when a Rust toolchain is on PATH. Without one the install still succeeds and liven
// runs on its pure-TypeScript backend (it says so once when imported); a failing Rust build fails.
import { spawnSync } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = (script) => {
  const r = spawnSync(npm, ['run', script], { stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

const cargo = spawnSync('cargo', ['--version'], { stdio: 'ignore' });
if (cargo.error === undefined && cargo.status === 0) {
  run('build:native');
} else {
  console.warn('liven: no Rust toolchain (cargo) on PATH: skipping the native addon; liven will use its pure-TypeScript backend. Install Rust and run `npm run build:native` for the native kernels.');
}
run('build:ts');
