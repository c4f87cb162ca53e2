// `npm start` end to end: the clinic's --quick smoke run through the built CLI.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bornDeadFraction } from '../src/clinic/experiments.js';
import { parseClinicArgs } from '../src/clinic/index.js';
import { holdsGreater, spread } from '../src/clinic/stats.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

describe('the clinic', () => {
  const out = mkdtempSync(join(tmpdir(), 'liven-clinic-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('--quick runs every experiment over 3 seeds on worker threads and writes the report', () => {
    const stdout = execFileSync(process.execPath, [cli, 'clinic', '--quick', '--seed', '3', '--workers', '2', '--out', out], { encoding: 'utf8' });
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8]) expect(stdout).toMatch(new RegExp(`^${n}\\. `, 'm'));
    expect(stdout.match(/^Verdict: /gm)).toHaveLength(8);
    expect(stdout).toMatch(/seeds 3, 4, 5 on 2 worker thread/);
    // Tables print mean ± std over the seeds.
    expect(stdout).toMatch(/\d+\.\d% ± \d+\.\d%/);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.seeds).toEqual([3, 4, 5]);
    expect(results.holdsRule).toMatch(/sum of their standard errors/);
    expect(results.experiments.map((e: { id: string }) => e.id)).toEqual(['shift', 'lr', 'activation', 'norm', 'init', 'pooling', 'recycle', 'residual']);
    for (const e of results.experiments) {
      expect([true, false, null]).toContain(e.holds);
      expect(typeof e.claim).toBe('string');
      for (const r of e.runs) {
        expect(r.perSeed.map((x: { seed: number }) => x.seed)).toEqual([3, 4, 5]);
        const accs = r.perSeed.map((x: { accuracy: number | null }) => x.accuracy).filter((a: number | null): a is number => a !== null);
        // accuracy and accuracyStd are the mean and sample std of the per-seed numbers (JSON null: a diverged seed).
        if (accs.length > 1) {
          const m = accs.reduce((a: number, b: number) => a + b, 0) / accs.length;
          expect(r.accuracy).toBeCloseTo(m, 12);
          expect(r.accuracyStd).toBeCloseTo(Math.sqrt(accs.reduce((a: number, b: number) => a + (b - m) ** 2, 0) / (accs.length - 1)), 12);
        }
        for (const f of ['accuracy', 'finalLoss', 'lossOscillation', 'dead', 'nearlyDead']) expect(Object.keys(r.spread[f])).toEqual(['mean', 'std', 'se', 'min', 'max', 'n']);
      }
    }
    const recycle = results.experiments.find((e: { id: string }) => e.id === 'recycle');
    expect(recycle.runs[1].perSeed.every((x: { recycled: number }) => x.recycled >= 0)).toBe(true);
    expect(recycle.runs[0].perSeed[0].accuracyCurve).toHaveLength(2);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(16);
    // Recycling's accuracy over time is a chart too.
    expect(html).toContain('aria-label="test accuracy"');
    // The seeds' band around each curve.
    expect((html.match(/<polygon [^>]*fill-opacity/g) ?? []).length).toBeGreaterThanOrEqual(16);
    expect(html).not.toMatch(/<script|(?:src|href)=["']?https?:/); // self-contained: no scripts, nothing fetched
  });

  it('the same seed gives the same numbers', () => {
    const again = mkdtempSync(join(tmpdir(), 'liven-clinic-'));
    try {
      // Another number of workers: each run is seeded and single-threaded, so where it ran does not matter.
      execFileSync(process.execPath, [cli, 'clinic', '--quick', '--seed', '3', '--only', 'lr', '--workers', '1', '--out', again], { encoding: 'utf8' });
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
    expect(parseClinicArgs(['--quick', '--only', 'lr,init'])).toMatchObject({ quick: true, only: ['lr', 'init'], seeds: 3 });
    expect(parseClinicArgs(['--seeds', '5', '--workers', '1'])).toMatchObject({ seeds: 5, workers: 1 });
    expect(() => parseClinicArgs(['--seeds', '0'])).toThrow(/--seeds must be an integer >= 1/);
    expect(existsSync(join(out, 'results.json'))).toBe(true);
  });

  it('holds: the means apart by more than the sum of their standard errors, in the claimed direction or the opposite; null within it or with one seed', () => {
    // [1, 2, 3]: mean 2, std 1, se 1/√3 ≈ 0.577; two such sides need a gap > 1.155.
    expect(spread([1, 2, 3])).toMatchObject({ mean: 2, std: 1, min: 1, max: 3, n: 3 });
    expect(spread([1, 2, 3]).se).toBeCloseTo(1 / Math.sqrt(3), 15);
    expect(holdsGreater([2.2, 3.2, 4.2], [1, 2, 3])).toBe(true);
    expect(holdsGreater([1, 2, 3], [2.2, 3.2, 4.2])).toBe(false);
    expect(holdsGreater([2.1, 3.1, 4.1], [1, 2, 3])).toBe(null);
    expect(holdsGreater([5], [1])).toBe(null);
    // A diverged seed (NaN) is left out of its side.
    expect(holdsGreater([2.2, NaN, 3.2, 4.2], [1, 2, 3])).toBe(true);
  });

  it('born-dead Monte Carlo matches the independent estimate at width 2 (0.88 for 10 weight layers)', () => {
    // 0.8765 from a NumPy Monte Carlo of 4,000 nets (He-normal, zero biases); 1,000 trials have a
    // standard error of about 0.01.
    expect(Math.abs(bornDeadFraction(2, 10, 1000, 5, 'he') - 0.8765)).toBeLessThan(0.04);
    expect(bornDeadFraction(10, 10, 300, 5, 'he')).toBeLessThan(0.02);
  });
});
