// `npm run pack:release`: the tarballs a release publishes, in release/ — the main package
// (`liven-<version>.tgz`: JavaScript, types, no addon; the per-platform packages as optional
// dependencies) and this machine's platform package (`liven-<triple>-<version>.tgz`: the addon
// alone, with `os` / `cpu` / `libc` so npm installs only the one that fits). This is what the
// release workflow (.github/workflows/release.yml) does for every platform of `napi.targets`.
//
// `--no-build` packs what `npm run build` already made (the test suite uses it); `--all` packs a
// platform package for every target in `napi.targets` from the addons in native/ (the release
// workflow downloads each platform's build there) and fails if one is missing.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'release');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function sh(args, cwd) {
  const r = spawnSync(npm, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', shell: process.platform === 'win32' });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed in ${cwd} (status ${r.status})`);
  return r.stdout;
}

/** Packs the folder `dir` into release/ and returns the tarball's file name. */
function pack(dir) {
  const [info] = JSON.parse(sh(['pack', '--json', '--pack-destination', out], dir));
  return info.filename;
}

if (!process.argv.includes('--no-build')) sh(['run', 'build'], root);

const main = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const { platformTriple } = await import(join(root, 'dist', 'backend', 'native.js'));
const triples = process.argv.includes('--all') ? main.napi.targets.map(napiTriple) : [platformTriple()];
for (const triple of triples) {
  const addon = join(root, 'native', `liven.${triple}.node`);
  if (!existsSync(addon)) throw new Error(`no addon ${addon}: run \`npm run build\` first (needs Rust)`);
  if (!existsSync(join(root, 'npm', triple))) throw new Error(`${triple} is not one of package.json's napi.targets (no npm/${triple})`);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const stage = mkdtempSync(join(tmpdir(), 'liven-release-'));
try {
  // A platform package: its package.json from npm/<triple>/ at the main version, and the addon.
  const platformStages = triples.map((triple) => {
    const platformStage = join(stage, triple);
    cpSync(join(root, 'npm', triple), platformStage, { recursive: true });
    const platformPkg = JSON.parse(readFileSync(join(platformStage, 'package.json'), 'utf8'));
    platformPkg.version = main.version;
    writeFileSync(join(platformStage, 'package.json'), `${JSON.stringify(platformPkg, null, 2)}\n`);
    cpSync(join(root, 'native', `liven.${triple}.node`), join(platformStage, `liven.${triple}.node`));
    return platformStage;
  });

  // The main package: what `files` names, with the platform packages as optional dependencies
  // and none of the contributor scripts (`prepare` would try to compile on the user's machine).
  const mainStage = join(stage, 'liven');
  mkdirSync(mainStage);
  for (const f of main.files) cpSync(join(root, f), join(mainStage, f), { recursive: true });
  const published = { ...main };
  delete published.scripts;
  delete published.devDependencies;
  published.optionalDependencies = Object.fromEntries(
    main.napi.targets.map((t) => [`liven-${napiTriple(t)}`, main.version]),
  );
  writeFileSync(join(mainStage, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);

  const files = [pack(mainStage), ...platformStages.map(pack)];
  for (const f of files) console.log(join('release', f));
} finally {
  rmSync(stage, { recursive: true, force: true });
}

/** A Rust target as napi-rs names its npm package: x86_64-unknown-linux-gnu → linux-x64-gnu. */
function napiTriple(target) {
  const [arch, , os, abi] = target.split('-');
  const cpu = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }[arch] ?? arch;
  const platform = { linux: 'linux', darwin: 'darwin', windows: 'win32' }[os] ?? os;
  if (platform === 'darwin') return `darwin-${cpu}`;
  return `${platform}-${cpu}-${abi}`;
}
