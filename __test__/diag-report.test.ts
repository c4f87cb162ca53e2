import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor, diag, nn } from '../src/index.js';
import { Chain, trainDyingMlp } from './helpers/diag-models.js';
import { randomTensor } from './helpers/numeric.js';

/** Debian's chromium, or null. CI (CI=true) installs it, so there its absence is a failure. */
function findChromium(): string | null {
  for (const name of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

/** A report of a small MLP trained into dying units, plus a 4-D layer for the histograms. */
function sampleReport(title: string): { html: string; tm: diag.TrainingMonitor } {
  let mon!: diag.ActivationMonitor;
  let tm!: diag.TrainingMonitor;
  trainDyingMlp(120, {
    onStep: ({ loss, lr, model, step }) => {
      if (step === 0) {
        mon = new diag.ActivationMonitor(model);
        tm = new diag.TrainingMonitor({ activations: mon, model });
      }
      tm.step({ loss, lr });
    },
  });
  return { html: diag.renderReport({ history: tm, monitor: mon, title }), tm };
}

const TITLE = 'MLP <b>dying</b> & "friends"';

describe('diag.renderReport', () => {
  it('is one self-contained page: charts, warnings, table and histograms, nothing fetched, data escaped', () => {
    const { html, tm } = sampleReport(TITLE);
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('<title>MLP &lt;b&gt;dying&lt;/b&gt; &amp; &quot;friends&quot;</title>');
    expect(html).not.toContain('<b>dying');
    // No scripts, no links, no external resources: the only URL is SVG's namespace name.
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|\bhref=|url\(|@import|@font-face/i);
    expect(html.replaceAll('xmlns="http://www.w3.org/2000/svg"', '')).not.toMatch(/https?:/);
    for (const chart of ['loss', 'learning rate', 'dead units per layer', 'gradient norm (all parameters)']) expect(html).toContain(`aria-label="${chart}"`);
    expect(html).toContain('aria-label="layer &quot;1&quot; (ReLU)');
    expect(html).toContain('aria-label="layer &quot;2.1&quot; (ReLU)');
    // Every warning is listed, and the table has one row per watched layer.
    expect(tm.warnings.length).toBeGreaterThan(0);
    for (const w of tm.warnings) expect(html).toContain(w.message.replaceAll('"', '&quot;').replaceAll("'", '&#39;'));
    expect(html.match(/<tr( class="bad")?><td>/g)).toHaveLength(2);
    // No NaN or Infinity leaks into an SVG attribute.
    expect(html).not.toMatch(/="[^"]*(NaN|Infinity)[^"]*"/);
  });

  it('says so when there is nothing to draw', () => {
    const html = diag.renderReport({});
    expect(html).toContain('0 training steps');
    const model = new Chain(new nn.ReLU());
    const mon = new diag.ActivationMonitor(model);
    expect(() => diag.renderReport({ monitor: mon, history: [] })).toThrow(/no forward reached layer "0"/);
    model.forward(Tensor.from(new Float32Array(3).fill(NaN), [1, 3]));
    expect(diag.renderReport({ monitor: mon, history: [] })).toContain('no outputs (other than NaN) in the window');
    mon.reset();
    model.forward(randomTensor([4, 3, 5, 5], 1));
    expect(diag.renderReport({ monitor: mon })).toContain('<td>0</td><td>ReLU</td><td class="num">3</td>');
    expect(() => diag.renderReport({ monitor: {} as never })).toThrow(TypeError);
    expect(() => diag.renderReport({ title: 3 as never })).toThrow(TypeError);
  });

  const chromium = findChromium();
  const ci = process.env.CI === 'true';
  if (!chromium && !ci) console.warn('diag-report.test: chromium is not installed; the headless rendering test is skipped (apt-get install chromium)');
  it.skipIf(!chromium && !ci)(`renders in headless Chromium without console errors${chromium ? '' : ' (chromium missing)'}`, () => {
    expect(chromium, 'CI=true but chromium is not installed (.ci/run installs it)').not.toBeNull();
    const dir = mkdtempSync(join(tmpdir(), 'liven-report-'));
    try {
      const { html } = sampleReport(TITLE);
      const page = join(dir, 'report.html');
      writeFileSync(page, html);
      const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${join(dir, 'profile')}`, '--enable-logging=stderr', '--v=0',
        // Any attempt to reach the network would fail loudly in the console.
        '--host-resolver-rules=MAP * ~NOTFOUND'];
      const run = spawnSync(chromium!, [...flags, '--dump-dom', `file://${page}`], { encoding: 'utf8', timeout: 90_000 });
      expect(run.status, run.stderr).toBe(0);
      // The DOM Chromium built holds the page's content.
      expect(run.stdout).toContain('dead units per layer');
      expect(run.stdout).toContain('Activation layers');
      const consoleLines = run.stderr.split('\n').filter((l) => /CONSOLE|Uncaught|ERR_|Error: </.test(l));
      expect(consoleLines).toEqual([]);
      const shot = join(process.env.LIVEN_REPORT_SHOT_DIR ?? dir, 'report.png');
      const s = spawnSync(chromium!, [...flags, '--window-size=1240,2200', '--hide-scrollbars', `--screenshot=${shot}`, `file://${page}`], { encoding: 'utf8', timeout: 90_000 });
      expect(s.status, s.stderr).toBe(0);
      expect(s.stderr.split('\n').filter((l) => /CONSOLE|Uncaught|ERR_|Error: </.test(l))).toEqual([]);
      // A blank page compresses to a few KB; charts and text do not.
      expect(statSync(shot).size).toBeGreaterThan(50_000);
      expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
