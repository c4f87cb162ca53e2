// The release tarballs (`npm run pack:release`) installed as a user installs them: into a fresh
// project, by a PATH with no Rust toolchain on it.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../src/backend/index.js';
import { platformTriple } from '../src/backend/native.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const release = join(root, 'release');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
// Only the directories of node and npm: no cargo, rustc or rustup.
const noRustPath = [...new Set([dirname(process.execPath), '/usr/bin', '/bin'])].join(delimiter);
const env = { ...process.env, PATH: noRustPath, NODE_OPTIONS: '' };

function freshProject(): string {
  const dir = mkdtempSync(join(tmpdir(), 'liven-user-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'user', version: '1.0.0', private: true }));
  return dir;
}

function npmInstall(dir: string, tarballs: string[]) {
  return spawnSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs.map((t) => join(release, t))], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
}

const probe = "import { getBackend, simdLevel, Tensor, nn } from 'liven'; console.log(getBackend(), simdLevel(), new nn.ReLU().forward(Tensor.from([-1, 2], [2])).data.join(','))";

describe.runIf(native !== null)('the release tarballs', () => {
  const dirs: string[] = [];
  let tarballs: string[] = [];
  beforeAll(() => {
    execFileSync(process.execPath, [join(root, 'scripts', 'pack-release.mjs'), '--no-build'], { cwd: root, stdio: 'pipe' });
    tarballs = readdirSync(release).sort();
  }, 120_000);
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('are the main package and this platform\'s package', () => {
    expect(tarballs).toEqual([`liven-${version}.tgz`, `liven-${platformTriple()}-${version}.tgz`].sort());
    expect(spawnSync('cargo', ['--version'], { env }).status).not.toBe(0);
  });

  it('give the native backend without a Rust toolchain', () => {
    const dir = freshProject();
    dirs.push(dir);
    const r = npmInstall(dir, tarballs);
    expect(r.status, r.stderr).toBe(0);
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: dir, env, encoding: 'utf8' });
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe(`native ${native!.simdLevel()} 0,2\n`);
  }, 120_000);

  it('the main tarball alone installs and runs on the JS backend with one warning', () => {
    const dir = freshProject();
    dirs.push(dir);
    const r = npmInstall(dir, [`liven-${version}.tgz`]);
    expect(r.status, r.stderr).toBe(0);
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: dir, env, encoding: 'utf8' });
    expect(out.status).toBe(0);
    expect(out.stdout).toBe('js null 0,2\n');
    const warnings = out.stderr.split('\n').filter((l) => l.includes('LIVEN_NO_NATIVE'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`liven-${platformTriple()}`);
  }, 120_000);
});
