/**
 * The serving plot bench:serve writes next to docs/benchmarks.md: throughput and p50 latency against
 * concurrency, one line per setup, from the run's own load results. Plain SVG (no dependency), pure.
 */

export interface PlotSeries {
  name: string;
  color: string;
  /** measured points: concurrency, requests/s, p50 ms */
  points: { c: number; rps: number; p50: number }[];
}

const W = 360;
const H = 240;
const PAD = { l: 56, r: 12, t: 28, b: 40 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const fmt = (x: number) => (x >= 100 ? Math.round(x).toString() : x.toFixed(1));

/** One panel: y against log2(concurrency), axes from 0 (throughput) or 0 (latency) to the max. */
function panel(series: PlotSeries[], y: 'rps' | 'p50', title: string, x0: number): string {
  const cs = series.flatMap((s) => s.points.map((p) => p.c));
  const lx = (c: number) => Math.log2(c);
  const [minX, maxX] = [Math.min(...cs.map(lx)), Math.max(...cs.map(lx))];
  const maxY = Math.max(1e-9, ...series.flatMap((s) => s.points.map((p) => p[y]).filter(Number.isFinite)));
  const px = (c: number) => x0 + PAD.l + ((lx(c) - minX) / Math.max(1e-9, maxX - minX)) * (W - PAD.l - PAD.r);
  const py = (v: number) => PAD.t + (1 - v / maxY) * (H - PAD.t - PAD.b);
  const out = [
    `<text x="${x0 + W / 2}" y="16" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<line x1="${x0 + PAD.l}" y1="${H - PAD.b}" x2="${x0 + W - PAD.r}" y2="${H - PAD.b}" stroke="#333"/>`,
    `<line x1="${x0 + PAD.l}" y1="${PAD.t}" x2="${x0 + PAD.l}" y2="${H - PAD.b}" stroke="#333"/>`,
    `<text x="${x0 + PAD.l - 4}" y="${PAD.t + 4}" text-anchor="end" font-size="10">${fmt(maxY)}</text>`,
    `<text x="${x0 + PAD.l - 4}" y="${H - PAD.b}" text-anchor="end" font-size="10">0</text>`,
    `<text x="${x0 + W / 2}" y="${H - 6}" text-anchor="middle" font-size="11">concurrency (log scale)</text>`,
  ];
  for (const c of [...new Set(cs)].sort((a, b) => a - b))
    out.push(`<text x="${px(c)}" y="${H - PAD.b + 14}" text-anchor="middle" font-size="10">${c}</text>`);
  for (const s of series) {
    const pts = s.points.filter((p) => Number.isFinite(p[y])).sort((a, b) => a.c - b.c);
    out.push(
      `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map((p) => `${px(p.c).toFixed(1)},${py(p[y]).toFixed(1)}`).join(' ')}"/>`,
      ...pts.map(
        (p) =>
          `<circle cx="${px(p.c).toFixed(1)}" cy="${py(p[y]).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.name)}: c=${p.c}, ${fmt(p[y])}</title></circle>`,
      ),
    );
  }
  return out.join('\n');
}

/** Two panels (throughput req/s, p50 ms) against concurrency, with a legend naming each series. */
export function servingPlot(series: PlotSeries[], caption: string): string {
  const legend = series.map(
    (s, i) =>
      `<rect x="${PAD.l + i * 220}" y="${H + 8}" width="12" height="12" fill="${s.color}"/><text x="${PAD.l + 16 + i * 220}" y="${H + 18}" font-size="11">${esc(s.name)}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 48}" font-family="sans-serif">`,
    `<title>${esc(caption)}</title>`,
    panel(series, 'rps', 'throughput (req/s)', 0),
    panel(series, 'p50', 'p50 latency (ms)', W),
    ...legend,
    `<text x="${PAD.l}" y="${H + 40}" font-size="10">${esc(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
