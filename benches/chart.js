// An SVG bar chart of how many times faster liven native is than each contender, from the
// training and peers suites' results: `npm run bench -- training peers --chart benches/ratios.svg`.

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/** Bars of `ratio` (contender time / liven native time) on a log axis; 1x marked. */
export function ratioChart(title, bars) {
  const rowH = 18;
  const left = 330;
  const width = 900;
  const plotW = width - left - 70;
  const height = 50 + bars.length * rowH + 30;
  const finite = bars.filter((b) => Number.isFinite(b.ratio) && b.ratio > 0);
  const lo = Math.min(0.5, ...finite.map((b) => b.ratio));
  const hi = Math.max(2, ...finite.map((b) => b.ratio));
  const x = (r) => left + (plotW * (Math.log10(r) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo));
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`];
  out.push(`<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (let p = Math.ceil(Math.log10(lo)); p <= Math.floor(Math.log10(hi)); p++) {
    const v = 10 ** p;
    out.push(`<line x1="${x(v)}" y1="34" x2="${x(v)}" y2="${height - 24}" stroke="${v === 1 ? '#333' : '#ddd'}"/><text x="${x(v)}" y="${height - 10}" text-anchor="middle">${v >= 1 ? v : v.toFixed(1)}x</text>`);
  }
  bars.forEach((b, i) => {
    const y = 40 + i * rowH;
    out.push(`<text x="${left - 6}" y="${y + 12}" text-anchor="end">${esc(b.label)}</text>`);
    if (!Number.isFinite(b.ratio) || b.ratio <= 0) {
      out.push(`<text x="${left + 4}" y="${y + 12}" fill="#888">n/a</text>`);
      return;
    }
    const x0 = x(1);
    const x1 = x(b.ratio);
    const color = b.ratio >= 1 ? '#2ca02c' : '#d62728';
    out.push(`<rect x="${Math.min(x0, x1)}" y="${y + 2}" width="${Math.max(1, Math.abs(x1 - x0))}" height="${rowH - 5}" fill="${color}"/><text x="${Math.max(x0, x1) + 4}" y="${y + 12}">${b.ratio >= 10 ? b.ratio.toFixed(0) : b.ratio.toFixed(1)}x</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Bars from the suites' results: liven native's speed-up over each contender. */
export function barsFrom({ training, peers }) {
  const bars = [];
  if (training) {
    for (const [model, r] of Object.entries(training.results)) {
      const ref = r['liven native'];
      for (const [who, ips] of Object.entries(r)) if (who !== 'liven native') bars.push({ label: `train ${model}: vs ${who}`, ratio: ref / ips });
    }
  }
  if (peers) {
    for (const r of peers.results) {
      for (const who of ['tfjs wasm', 'tfjs cpu']) {
        if (r[who]) bars.push({ label: `${r.op} ${r.size} fwd+bwd: vs ${who}`, ratio: r[who].both / r.native.both });
      }
    }
  }
  return bars;
}
