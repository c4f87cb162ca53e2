// The README's JavaScript runs as written: each ```js block is an ES module of its own, run by
// Node against the built package (npm run build:ts) in a scratch folder, and must exit cleanly.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/^```js\n([\s\S]*?)^```/gm)].map((m) => ({ code: m[1]!, line: readme.slice(0, m.index).split('\n').length }));

describe('the README', () => {
  // Modules import 'liven' by its package name: they live inside the package (out/, which git
  // ignores) so that Node resolves the name to this package; files they write go to a scratch cwd.
  mkdirSync(join(root, 'out'), { recursive: true });
  const dir = mkdtempSync(join(root, 'out', 'readme-'));
  const cwd = mkdtempSync(join(tmpdir(), 'liven-readme-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(cwd, { recursive: true, force: true });
  });

  it('has JavaScript blocks', () => expect(blocks.length).toBeGreaterThan(5));

  it.each(blocks.map((b) => [b.line, b.code] as const))('block at line %i runs', (line, code) => {
    const file = join(dir, `block-${line}.mjs`);
    writeFileSync(file, code);
    const r = spawnSync(process.execPath, [file], { cwd, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, `README.md line ${line}:\n${r.stderr}`).toBe(0);
  });
});
