// One self-contained HTML page: inline SVG charts and a table, no scripts, no network, no
// external fonts. Everything from the data is escaped.
import { describeValue } from '../check.js';
import { ActivationMonitor, histogramBinEdges, type LayerHistogram, type LayerReport } from './monitor.js';
import { TrainingMonitor, type TrainingRecord, type TrainingWarning } from './training.js';

export interface ReportInput {
  /** The training history: a TrainingMonitor (its records and warnings) or its records. */
  history?: TrainingMonitor | readonly TrainingRecord[];
  /** The activation statistics for the table and histograms. When its window is empty, the last step's window of `history` is used. */
  monitor?: ActivationMonitor;
  title?: string;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A compact number for labels and table cells. */
function fmt(v: number): string {
  if (Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2).replace('e+', 'e');
  return Number(v.toPrecision(4)).toString();
}

function pct(v: number): string {
  return Number.isFinite(v) ? `${(100 * v).toFixed(1)}%` : '–';
}

interface Series {
  name: string;
  points: [number, number][];
  /** A shaded band around the line: [x, low, high] (the spread over seeds). */
  band?: [number, number, number][];
}

/** Tick values for a linear axis over [lo, hi]: 1, 2 or 5 times a power of ten apart. */
function linearTicks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

const W = 560;
const H = 230;
const M = { left: 62, right: 16, top: 30, bottom: 40 };
/** Legend entries per row, above the plot (at most; fewer when names are long); each row adds to the chart's top margin. */
const LEGEND_COLUMNS = 4;
const LEGEND_ROW = 14;

/** How many legend entries fit side by side: about 6 px per character at the legend's font size. */
function legendColumns(series: readonly { name: string }[]): number {
  const longest = Math.max(...series.map((s) => s.name.length));
  return Math.max(1, Math.min(LEGEND_COLUMNS, Math.floor((W - M.left - M.right) / (longest * 6 + 22))));
}

/** A line chart as an SVG element. Points with a non-finite y (or <= 0 on a log axis) break the line. */
function lineChart(title: string, series: Series[], { percent = false, yLabel = '' } = {}): string {
  const columns = legendColumns(series);
  const legendRows = series.length > 1 ? Math.ceil(series.length / columns) : 0;
  const top = M.top + legendRows * LEGEND_ROW;
  const H = 230 + legendRows * LEGEND_ROW;
  const usable = (y: number, log: boolean): boolean => Number.isFinite(y) && (!log || y > 0);
  const all = series.flatMap((s) => [...s.points, ...(s.band ?? []).flatMap(([x, lo, hi]): [number, number][] => [[x, lo], [x, hi]])]).filter(([, y]) => Number.isFinite(y));
  const xs = series.flatMap((s) => s.points.map(([x]) => x));
  const head = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><text x="${M.left}" y="18" class="title">${esc(title)}</text>`;
  if (all.length === 0) return `${head}<text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="muted">no data</text></svg>`;
  const ys = all.map(([, y]) => y);
  let yMin = Math.min(...ys);
  let yMax = Math.max(...ys);
  // A log axis when every value is positive and they span more than a factor of 50.
  const log = !percent && yMin > 0 && yMax / yMin > 50;
  if (percent) {
    // From 0 to the tick at or above the largest value (at least 10%, at most 100%).
    yMin = 0;
    const highest = Math.max(yMax, 0.1);
    yMax = Math.min(1, linearTicks(0, highest).find((t) => t >= highest - 1e-12) ?? highest * 1.1);
  } else if (yMin === yMax) {
    const pad = yMin === 0 ? 1 : Math.abs(yMin) * 0.1;
    yMin -= pad;
    yMax += pad;
  }
  const xMin = Math.min(...xs);
  const xMax = Math.max(xMin + 1, Math.max(...xs));
  const ty = (y: number): number => (log ? Math.log10(y) : y);
  const [ly, hy] = log ? [Math.floor(Math.log10(yMin)), Math.ceil(Math.log10(yMax))] : [yMin, yMax];
  const pw = W - M.left - M.right;
  const ph = H - top - M.bottom;
  const px = (x: number): number => M.left + ((x - xMin) / (xMax - xMin)) * pw;
  const py = (y: number): number => top + ph - ((ty(y) - ly) / (hy - ly)) * ph;
  const parts: string[] = [head];
  const yTicks = log ? Array.from({ length: hy - ly + 1 }, (_, i) => 10 ** (ly + i)) : linearTicks(ly, hy);
  for (const t of yTicks) {
    const y = py(t).toFixed(1);
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" class="grid"/><text x="${M.left - 6}" y="${y}" dy="0.32em" text-anchor="end" class="tick">${percent ? `${Math.round(t * 100)}%` : fmt(t)}</text>`);
  }
  for (const t of linearTicks(xMin, xMax).filter((t) => Number.isInteger(t))) {
    const x = px(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${top + ph}" y2="${top + ph + 4}" class="axis"/><text x="${x}" y="${top + ph + 16}" text-anchor="middle" class="tick">${t}</text>`);
  }
  parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${top + ph}" y2="${top + ph}" class="axis"/><line x1="${M.left}" x2="${M.left}" y1="${top}" y2="${top + ph}" class="axis"/>`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 6}" text-anchor="middle" class="label">step</text>`);
  if (yLabel) parts.push(`<text transform="translate(14 ${top + ph / 2}) rotate(-90)" text-anchor="middle" class="label">${esc(yLabel)}${log ? ' (log)' : ''}</text>`);
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const band = (s.band ?? []).filter(([, lo, hi]) => usable(lo, log) && usable(hi, log));
    if (band.length > 1) {
      const edge = [...band.map(([x, , hi]) => `${px(x).toFixed(1)},${py(hi).toFixed(1)}`), ...band.reverse().map(([x, lo]) => `${px(x).toFixed(1)},${py(lo).toFixed(1)}`)];
      parts.push(`<polygon points="${edge.join(' ')}" fill="${color}" fill-opacity="0.15" stroke="none"/>`);
    }
    const runs: string[] = [];
    let run: string[] = [];
    for (const [x, y] of s.points) {
      if (usable(y, log)) run.push(`${px(x).toFixed(1)},${py(y).toFixed(1)}`);
      else if (run.length) (runs.push(run.join(' ')), (run = []));
    }
    if (run.length) runs.push(run.join(' '));
    for (const r of runs) {
      const single = !r.includes(' ');
      parts.push(single ? `<circle cx="${r.split(',')[0]}" cy="${r.split(',')[1]}" r="2" fill="${color}"/>` : `<polyline points="${r}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
    }
  });
  if (legendRows > 0) {
    // Above the plot, `columns` entries per row, so it never covers a line.
    const colWidth = (W - M.left - M.right) / columns;
    series.forEach((s, i) => {
      const x = M.left + (i % columns) * colWidth;
      const y = M.top + Math.floor(i / columns) * LEGEND_ROW;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y - 5}" width="12" height="3" fill="${PALETTE[i % PALETTE.length]}"/><text x="${(x + 16).toFixed(1)}" y="${y}" dy="0.1em" class="legend">${esc(s.name)}</text>`);
    });
  }
  parts.push('</svg>');
  return parts.join('');
}

/** A bar chart of one layer's output histogram on the monitor's symmetric log2 bins. */
function histogramChart(h: LayerHistogram, report: LayerReport | undefined): string {
  const edges = histogramBinEdges();
  const total = h.counts.reduce((a, b) => a + b, 0);
  const name = h.layer === '' ? '(model)' : h.layer;
  const title = `layer "${name}" (${h.kind})${report ? `: ${report.units} units, ${pct(report.zeroFraction)} zeros` : ''}`;
  const head = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><text x="${M.left}" y="18" class="title">${esc(title)}</text>`;
  if (total === 0) return `${head}<text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="muted">no outputs (other than NaN) in the window</text></svg>`;
  // Only the bins from the first to the last non-empty one (and always the zero bin).
  const zero = edges.findIndex((e) => e.sign === 0);
  let first = h.counts.findIndex((c) => c > 0);
  let last = h.counts.length - 1 - [...h.counts].reverse().findIndex((c) => c > 0);
  first = Math.min(first, zero);
  last = Math.max(last, zero);
  const bins = last - first + 1;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const bw = pw / bins;
  const fractions = Array.from(h.counts.subarray(first, last + 1), (c) => c / total);
  const top = Math.max(...fractions);
  const yMax = linearTicks(0, top).find((t) => t >= top) ?? top;
  const ticks = linearTicks(0, yMax);
  const py = (f: number): number => M.top + ph - (f / yMax) * ph;
  const parts = [head];
  for (const t of ticks) {
    const y = py(t).toFixed(1);
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" class="grid"/><text x="${M.left - 6}" y="${y}" dy="0.32em" text-anchor="end" class="tick">${t === 0 ? '0' : `${+(t * 100).toPrecision(3)}%`}</text>`);
  }
  fractions.forEach((f, i) => {
    const b = first + i;
    const e = edges[b]!;
    const x = M.left + i * bw;
    const label = e.sign === 0 ? 'exactly 0' : `${e.sign < 0 ? '−' : ''}[${fmt(e.lo)}, ${fmt(e.hi)})`;
    const cls = e.sign === 0 ? 'bar zero' : e.sign < 0 ? 'bar neg' : 'bar';
    if (f > 0) parts.push(`<rect x="${(x + 0.5).toFixed(1)}" y="${py(f).toFixed(1)}" width="${Math.max(bw - 1, 0.5).toFixed(1)}" height="${(M.top + ph - py(f)).toFixed(1)}" class="${cls}"><title>${esc(label)}: ${pct(f)}</title></rect>`);
    // Label the zero bin and every fourth octave (2^e with e a multiple of 4).
    const exp = Math.round(Math.log2(e.lo));
    if (e.sign === 0 || exp % 4 === 0) {
      const text = e.sign === 0 ? '0' : `${e.sign < 0 ? '−' : ''}2<tspan dy="-0.45em" font-size="8">${exp}</tspan>`;
      parts.push(`<text x="${(x + bw / 2).toFixed(1)}" y="${M.top + ph + 16}" text-anchor="middle" class="tick">${text}</text>`);
    }
  });
  parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${M.top + ph}" y2="${M.top + ph}" class="axis"/>`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 4}" text-anchor="middle" class="label">output value (bins of one octave; ${total.toLocaleString('en')} sampled values)</text>`);
  parts.push('</svg>');
  return parts.join('');
}

function table(rows: readonly LayerReport[]): string {
  const head = ['layer', 'kind', 'units', 'dead', 'dead %', 'nearly dead', 'dormant', 'saturated', 'zeros', 'mean', 'std', 'min', 'max', 'samples'];
  const body = rows.map((r) => {
    const flag = r.deadFraction > 0.1 ? ' class="bad"' : '';
    const cells = [esc(r.layer === '' ? '(model)' : r.layer), r.kind, String(r.units), String(r.dead), pct(r.deadFraction), String(r.nearlyDead), String(r.dormant), r.saturated === null ? '–' : String(r.saturated), pct(r.zeroFraction), fmt(r.mean), fmt(r.std), fmt(r.min), fmt(r.max), String(r.samples)];
    return `<tr${flag}>${cells.map((c, i) => `<td${i >= 2 ? ' class="num"' : ''}>${c}</td>`).join('')}</tr>`;
  });
  return `<table><thead><tr>${head.map((h, i) => `<th${i >= 2 ? ' class="num"' : ''}>${h}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table>`;
}

const CSS = `
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.meta { color: #666; margin: 0 0 12px; font-size: 13px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg { background: #fcfcfc; border: 1px solid #e4e4e4; border-radius: 4px; }
svg .title { font-size: 13px; font-weight: 600; fill: #222; }
svg .tick { font-size: 10px; fill: #555; } svg .label { font-size: 11px; fill: #444; } svg .legend { font-size: 10px; fill: #333; }
svg .muted { font-size: 13px; fill: #999; }
svg .grid { stroke: #e8e8e8; stroke-width: 1; } svg .axis { stroke: #888; stroke-width: 1; }
svg .bar { fill: #1f77b4; } svg .bar.neg { fill: #6baed6; } svg .bar.zero { fill: #d62728; }
table { border-collapse: collapse; font-size: 13px; } th, td { padding: 4px 9px; border-bottom: 1px solid #e4e4e4; text-align: left; }
th { background: #f3f3f3; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { background: #fdecea; }
ul.warnings { font-size: 13px; padding-left: 20px; } ul.warnings li { margin: 3px 0; }
.definitions { font-size: 12px; color: #555; max-width: 900px; }
`;

/**
 * The HTML report: curves of loss, learning rate, dead fraction per layer and gradient norm
 * over steps, the warnings, the activation table and one output histogram per layer.
 */
export function renderReport(input: ReportInput): string {
  if (input === null || typeof input !== 'object') throw new TypeError(`diag.renderReport needs an object { history, monitor, title }, got ${describeValue(input)}`);
  const { history, monitor } = input;
  const title = input.title ?? 'liven: activation report';
  if (typeof title !== 'string') throw new TypeError(`diag.renderReport: title must be a string, got ${describeValue(title)}`);
  if (monitor !== undefined && !(monitor instanceof ActivationMonitor)) throw new TypeError(`diag.renderReport: monitor must be a diag.ActivationMonitor, got ${describeValue(monitor)}`);
  if (history !== undefined && !(history instanceof TrainingMonitor) && !Array.isArray(history)) throw new TypeError(`diag.renderReport: history must be a diag.TrainingMonitor or its history array, got ${describeValue(history)}`);
  const records: readonly TrainingRecord[] = history instanceof TrainingMonitor ? history.history : (history ?? []);
  const warnings: readonly TrainingWarning[] = history instanceof TrainingMonitor ? history.warnings : [];

  // The monitor's current window, or the last step's when it has been reset since (a monitor
  // with neither throws: no rows of zeros).
  const fromHistory = monitor !== undefined && !monitor.hasData && history instanceof TrainingMonitor && history.lastReport.length > 0;
  const rows = fromHistory ? history.lastReport : (monitor?.report() ?? []);
  const hists = fromHistory ? history.lastHistograms : (monitor?.histograms() ?? []);
  const windowNote = fromHistory ? `the window of the last training step (${records.length - 1})` : 'the monitor\'s current window';

  const out: string[] = [];
  out.push(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${CSS}</style></head><body>`);
  out.push(`<h1>${esc(title)}</h1><p class="meta">${records.length} training steps recorded; activation statistics over ${esc(windowNote)}.</p>`);

  if (records.length > 0) {
    const layers = [...new Set(records.flatMap((r) => Object.keys(r.deadFraction)))];
    const charts = [lineChart('loss', [{ name: 'loss', points: records.map((r) => [r.step, r.loss]) }], { yLabel: 'loss' })];
    if (records.some((r) => r.lr !== null)) charts.push(lineChart('learning rate', [{ name: 'lr', points: records.map((r) => [r.step, r.lr ?? NaN]) }], { yLabel: 'lr' }));
    if (layers.length > 0) {
      const series = layers.map((l) => ({ name: `layer "${l}"`, points: records.map((r) => [r.step, r.deadFraction[l] ?? NaN] as [number, number]) }));
      charts.push(lineChart('dead units per layer', series, { percent: true, yLabel: 'dead fraction' }));
    }
    if (records.some((r) => r.gradNorm !== null)) charts.push(lineChart('gradient norm (all parameters)', [{ name: 'grad norm', points: records.map((r) => [r.step, r.gradNorm ?? NaN]) }], { yLabel: 'L2 norm' }));
    out.push(`<h2>Training</h2><div class="charts">${charts.join('')}</div>`);
  }

  if (warnings.length > 0) {
    const shown = warnings.slice(0, 200);
    out.push(`<h2>Warnings (${warnings.length})</h2><ul class="warnings">${shown.map((w) => `<li>${esc(w.message)}</li>`).join('')}</ul>`);
    if (warnings.length > shown.length) out.push(`<p class="meta">… and ${warnings.length - shown.length} more.</p>`);
  }

  if (rows.length > 0) {
    out.push(`<h2>Activation layers</h2>${table(rows)}`);
    out.push(`<p class="definitions">Units are features of [N, F] activations and channels of [N, C, H, W] ones. <b>Dead</b> (ReLU, ReLU6, LeakyReLU, PReLU): the pre-activation was ≤ 0 for every sample and position in the window; the other kinds do not die on a sign and show 0. <b>Saturated</b> (Sigmoid, Tanh, Hardtanh, Hardsigmoid, ReLU6): every output was within 1% of the output range of one of its ends, where the gradient vanishes; – for the unbounded kinds. <b>Nearly dead</b>: not dead, but the largest |output| stayed below ${monitor ? fmt(monitor.nearlyDeadThreshold) : 'the threshold'}. <b>Dormant</b> (ReDo, Sokar et al. 2023): the unit's mean |output| over the layer's average of it is ≤ ${monitor ? fmt(monitor.dormantThreshold) : 'τ'}. Rows with more than 10% dead units are shaded.</p>`);
    const byLayer = new Map(rows.map((r) => [r.layer, r]));
    out.push(`<h2>Output histograms</h2><div class="charts">${hists.map((h) => histogramChart(h, byLayer.get(h.layer))).join('')}</div>`);
  }
  out.push('</body></html>');
  return out.join('\n');
}

/** One experiment of a comparison page: several runs' curves, its tables and its verdict. */
export interface ComparisonSection {
  title: string;
  /**
   * The runs compared. With `histories` (one per seed), each curve is their mean, drawn inside
   * the band from their minimum to their maximum at each step; `history` is one run's.
   */
  runs: readonly { name: string; history?: readonly TrainingRecord[]; histories?: readonly (readonly TrainingRecord[])[] }[];
  tables?: readonly { title?: string; header: readonly string[]; rows: readonly (readonly string[])[] }[];
  /** More charts of [step, value] points per run, one curve per seed (drawn as the runs' curves are, unsmoothed). */
  curves?: readonly { title: string; percent?: boolean; yLabel?: string; runs: readonly { name: string; perSeed: readonly (readonly [number, number])[][] }[] }[];
  verdict?: string;
}

/** One curve from several seeds' curves: the mean at each x, and their min–max band (with several). */
function overSeeds(name: string, curves: [number, number][][]): Series {
  const at = new Map<number, number[]>();
  for (const c of curves) for (const [x, y] of c) if (Number.isFinite(y)) at.set(x, [...(at.get(x) ?? []), y]);
  const xs = [...at.keys()].sort((a, b) => a - b);
  const points = xs.map((x): [number, number] => [x, at.get(x)!.reduce((a, b) => a + b, 0) / at.get(x)!.length]);
  if (curves.length < 2) return { name, points };
  return { name, points, band: xs.map((x): [number, number, number] => [x, Math.min(...at.get(x)!), Math.max(...at.get(x)!)]) };
}

/** The trailing mean of `values` over `window` entries (the raw per-step numbers are noisy). */
function movingAverage(points: [number, number][], window: number): [number, number][] {
  let sum = 0;
  let count = 0;
  return points.map(([x, y], i) => {
    if (Number.isFinite(y)) {
      sum += y;
      count++;
    }
    const old = points[i - window];
    if (old && Number.isFinite(old[1])) {
      sum -= old[1];
      count--;
    }
    return [x, count > 0 ? sum / count : NaN];
  });
}

function plainTable(t: NonNullable<ComparisonSection['tables']>[number]): string {
  const head = t.header.map((h, i) => `<th${i > 0 ? ' class="num"' : ''}>${esc(h)}</th>`).join('');
  const body = t.rows.map((r) => `<tr>${r.map((c, i) => `<td${i > 0 ? ' class="num"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('');
  return `${t.title ? `<p class="meta">${esc(t.title)}</p>` : ''}<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/**
 * A page that compares runs, one section per experiment: the loss, the share of dead units
 * (averaged over the watched layers) and, where it moves, the learning rate of every run on
 * shared axes, then the section's tables and verdict. Curves are trailing means over
 * `smooth` steps.
 */
export function renderComparison(input: { title: string; intro?: readonly string[]; sections: readonly ComparisonSection[]; smooth?: number }): string {
  if (input === null || typeof input !== 'object' || !Array.isArray(input.sections)) {
    throw new TypeError(`diag.renderComparison needs { title, sections }, got ${describeValue(input)}`);
  }
  const smooth = input.smooth ?? 10;
  const sections: readonly ComparisonSection[] = input.sections;
  const out: string[] = [];
  out.push(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(input.title)}</title><style>${CSS}</style></head><body>`);
  out.push(`<h1>${esc(input.title)}</h1>`);
  for (const p of input.intro ?? []) out.push(`<p class="meta">${esc(p)}</p>`);
  for (const section of sections) {
    out.push(`<h2>${esc(section.title)}</h2>`);
    const runs = section.runs.map((r) => ({ name: r.name, histories: r.histories ?? [r.history ?? []] })).filter((r) => r.histories.some((h) => h.length > 0));
    if (runs.length > 0) {
      const curve = (pick: (r: TrainingRecord) => number) => runs.map((run) => overSeeds(run.name, run.histories.map((h) => movingAverage(h.map((r) => [r.step, pick(r)] as [number, number]), smooth))));
      const meanDead = (r: TrainingRecord) => {
        const v = Object.values(r.deadFraction);
        return v.length > 0 ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
      };
      const charts = [
        lineChart(`training loss (mean of ${smooth} steps)`, curve((r) => r.loss), { yLabel: 'loss' }),
        lineChart('dead units, mean over layers (per batch)', curve(meanDead), { percent: true, yLabel: 'dead fraction' }),
      ];
      const lrs = runs.flatMap((run) => run.histories[0]!.map((r) => r.lr ?? NaN)).filter(Number.isFinite);
      if (lrs.length > 0 && Math.min(...lrs) !== Math.max(...lrs)) {
        charts.push(lineChart('learning rate', runs.map((run) => ({ name: run.name, points: run.histories[0]!.map((r) => [r.step, r.lr ?? NaN] as [number, number]) })), { yLabel: 'lr' }));
      }
      for (const c of section.curves ?? []) {
        charts.push(lineChart(c.title, c.runs.map((r) => overSeeds(r.name, r.perSeed.map((points) => points.map(([x, y]): [number, number] => [x, y])))), { percent: c.percent ?? false, yLabel: c.yLabel ?? '' }));
      }
      out.push(`<div class="charts">${charts.join('')}</div>`);
    }
    for (const t of section.tables ?? []) out.push(plainTable(t));
    if (section.verdict) out.push(`<p><b>Verdict.</b> ${esc(section.verdict)}</p>`);
  }
  out.push('</body></html>');
  return out.join('\n');
}
