// The built package as a user gets it: import and require, and the fallback to the JS backend.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../src/backend/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const node = (args: string[], cwd = root) => execFileSync(process.execPath, args, { cwd, encoding: 'utf8' });

describe('the built package', () => {
  it('works with import and with require', () => {
    const esm = node(['--input-type=module', '-e', "import { Tensor, nn, getBackend } from 'liven'; console.log(getBackend(), new nn.ReLU().forward(Tensor.from([-1, 2], [2])).data.join(','))"]);
    const cjs = node(['-e', "const { Tensor, nn, getBackend } = require('liven'); console.log(getBackend(), new nn.ReLU().forward(Tensor.from([-1, 2], [2])).data.join(','))"]);
    const expected = `${native ? 'native' : 'js'} 0,2\n`;
    expect(esm).toBe(expected);
    expect(cjs).toBe(expected);
  });

  describe('without the native addon', () => {
    const dir = mkdtempSync(join(tmpdir(), 'liven-no-native-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('imports on the JS backend with one warning that says why', () => {
      const pkg = join(dir, 'node_modules', 'liven');
      cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
      cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
      // as npm installs it: with its dependencies beside it (the protobuf runtime io.loadOnnx uses)
      cpSync(join(root, 'node_modules', '@bufbuild'), join(dir, 'node_modules', '@bufbuild'), { recursive: true });
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import { getBackend, setBackend, Tensor, nn } from 'liven'; console.log(getBackend(), new nn.LeakyReLU().forward(Tensor.from([-1], [1])).data[0]); try { setBackend('native') } catch (e) { console.log(e.message) }"], { cwd: dir, encoding: 'utf8' });
      expect(r.status).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe(`js ${Math.fround(-0.01)}`);
      expect(lines[1]).toMatch(/no native addon liven\..*\.node/);
      const warnings = r.stderr.split('\n').filter((l) => l.includes('LIVEN_NO_NATIVE'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/using the pure-TypeScript backend: no native addon/);
    });
  });
});
