// `npm start` end to end: the clinic's --quick smoke run through the built CLI.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bornDeadFraction } from '../src/clinic/experiments.js';
import { parseClinicArgs } from '../src/clinic/index.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

describe('the clinic', () => {
  const out = mkdtempSync(join(tmpdir(), 'liven-clinic-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('--quick runs every experiment and writes the report', () => {
    const stdout = execFileSync(process.execPath, [cli, 'clinic', '--quick', '--seed', '3', '--out', out], { encoding: 'utf8' });
    for (const n of [1, 2, 3, 4, 5, 6]) expect(stdout).toMatch(new RegExp(`^${n}\\. `, 'm'));
    expect(stdout.match(/^Verdict: /gm)).toHaveLength(6);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.experiments.map((e: { id: string }) => e.id)).toEqual(['shift', 'lr', 'activation', 'norm', 'init', 'pooling']);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(12);
    expect(html).not.toMatch(/<script|(?:src|href)=["']?https?:/); // self-contained: no scripts, nothing fetched
  });

  it('the same seed gives the same numbers', () => {
    const again = mkdtempSync(join(tmpdir(), 'liven-clinic-'));
    try {
      execFileSync(process.execPath, [cli, 'clinic', '--quick', '--seed', '3', '--only', 'lr', '--out', again], { encoding: 'utf8' });
      const first = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).experiments.find((e: { id: string }) => e.id === 'lr');
      const second = JSON.parse(readFileSync(join(again, 'results.json'), 'utf8')).experiments[0];
      expect(second.tables).toEqual(first.tables);
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  });

  it('bad flags exit with status 2 and say why', () => {
    const r = spawnSync(process.execPath, [cli, 'clinic', '--only', 'nonsense'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown experiment nonsense/);
    expect(() => parseClinicArgs(['--seed', '-1'])).toThrow(/--seed must be an integer >= 0/);
    expect(() => parseClinicArgs(['--threads'])).toThrow(/--threads needs a value/);
    expect(parseClinicArgs(['--quick', '--only', 'lr,init'])).toMatchObject({ quick: true, only: ['lr', 'init'] });
    expect(existsSync(join(out, 'results.json'))).toBe(true);
  });

  it('born-dead Monte Carlo matches the independent estimate at width 2 (0.88 for 10 weight layers)', () => {
    // 0.8765 from a NumPy Monte Carlo of 4,000 nets (He-normal, zero biases); 1,000 trials have a
    // standard error of about 0.01.
    expect(Math.abs(bornDeadFraction(2, 10, 1000, 5, 'he') - 0.8765)).toBeLessThan(0.04);
    expect(bornDeadFraction(10, 10, 300, 5, 'he')).toBeLessThan(0.02);
  });
});
