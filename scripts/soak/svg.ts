/**
 * A small SVG line chart: panels stacked vertically sharing the time axis, one or more series per
 * panel. Pure (data in, SVG text out), so the soak's figure is a file in the repository, not a screenshot.
 */

export interface Series {
  label: string;
  color: string;
  /** [x, y] points (x in seconds). */
  points: [number, number][];
}

export interface Panel {
  title: string;
  unit: string;
  series: Series[];
}

const W = 720;
const PANEL_H = 150;
const M = { left: 64, right: 16, top: 28, bottom: 22 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) =>
  Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);

function panelSvg(p: Panel, top: number, xMax: number): string {
  const ys = p.series.flatMap((s) => s.points.map(([, y]) => y)).filter(Number.isFinite);
  const yMax = Math.max(1e-9, ...ys) * 1.1;
  const x = (v: number) => M.left + (v / Math.max(1e-9, xMax)) * (W - M.left - M.right);
  const y = (v: number) => top + M.top + (1 - v / yMax) * (PANEL_H - M.top - M.bottom);
  const out = [
    `<text x="${M.left}" y="${top + 16}" font-size="13" font-weight="bold">${esc(p.title)} (${esc(p.unit)})</text>`,
    `<line x1="${M.left}" y1="${y(0)}" x2="${W - M.right}" y2="${y(0)}" stroke="#999"/>`,
    `<line x1="${M.left}" y1="${y(0)}" x2="${M.left}" y2="${y(yMax)}" stroke="#999"/>`,
  ];
  for (const f of [0.5, 1]) {
    const v = (yMax / 1.1) * f;
    out.push(
      `<text x="${M.left - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${fmt(v)}</text>`,
      `<line x1="${M.left}" y1="${y(v)}" x2="${W - M.right}" y2="${y(v)}" stroke="#eee"/>`,
    );
  }
  p.series.forEach((s, i) => {
    const pts = s.points
      .filter(([, v]) => Number.isFinite(v))
      .map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`);
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
    out.push(
      `<text x="${W - M.right - 140 * (p.series.length - i)}" y="${top + 16}" font-size="11" fill="${s.color}">— ${esc(s.label)}</text>`,
    );
  });
  return out.join('\n');
}

/** The chart; the x axis (seconds) is labelled under the last panel. */
export function lineChart(panels: Panel[], xLabel = 'time (s)'): string {
  const xMax = Math.max(1, ...panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([t]) => t))));
  const h = PANEL_H * panels.length + 40;
  const body = panels.map((p, i) => panelSvg(p, i * PANEL_H, xMax));
  const axisY = PANEL_H * panels.length + 4;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const xv = M.left + f * (W - M.left - M.right);
    return `<text x="${xv}" y="${axisY + 10}" font-size="11" text-anchor="middle">${fmt(f * xMax)}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif">`,
    `<rect width="${W}" height="${h}" fill="white"/>`,
    ...body,
    ...ticks,
    `<text x="${W - M.right}" y="${axisY + 28}" font-size="11" text-anchor="end">${esc(xLabel)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
