// Plots as SVG strings: small, dependency-free, and readable in a screenshot.
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

// points: [{x, y}] with x increasing; x labelled by xFormat.
export function lineChart(points, { width = 900, height = 180, yLabel = '', xFormat = (x) => x } = {}) {
  if (points.length < 2) return `<p class="muted">Not enough samples yet.</p>`;
  const pad = { l: 46, r: 10, t: 10, b: 24 };
  const x0 = points[0].x, x1 = points[points.length - 1].x;
  const ymax = niceMax(Math.max(...points.map((p) => p.y)));
  const sx = (x) => pad.l + ((x - x0) / (x1 - x0 || 1)) * (width - pad.l - pad.r);
  const sy = (y) => height - pad.b - (y / ymax) * (height - pad.t - pad.b);
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join('');
  return `<svg class="plot" width="${width}" height="${height}" role="img" aria-label="${esc(yLabel)}">
    <line x1="${pad.l}" y1="${sy(0)}" x2="${width - pad.r}" y2="${sy(0)}" stroke="#d9dde3"/>
    <line x1="${pad.l}" y1="${sy(ymax)}" x2="${width - pad.r}" y2="${sy(ymax)}" stroke="#eef0f3"/>
    <text x="${pad.l - 4}" y="${sy(ymax) + 4}" text-anchor="end">${esc(+ymax.toPrecision(3))}</text>
    <text x="${pad.l - 4}" y="${sy(0) + 4}" text-anchor="end">0</text>
    <text x="${pad.l}" y="${height - 6}">${esc(xFormat(x0))}</text>
    <text x="${width - pad.r}" y="${height - 6}" text-anchor="end">${esc(xFormat(x1))}</text>
    <text x="${pad.l + 4}" y="${pad.t + 10}">${esc(yLabel)}</text>
    <path d="${path}" fill="none" stroke="#2563eb" stroke-width="1.6"/></svg>`;
}

const PHASE_COLORS = { detect: '#dc2626', isolate: '#d97706', relaunch: '#7c3aed', restore: '#2563eb', first_step: '#1f9d55' };
export const PHASES = Object.keys(PHASE_COLORS);

// bars: [{label, parts: {phase: seconds}}], stacked in PHASES order.
export function phaseBars(bars, { width = 520, height = 170 } = {}) {
  if (!bars.length) return `<p class="muted">No recovery yet.</p>`;
  const pad = { l: 46, r: 10, t: 22, b: 24 };
  const total = (b) => PHASES.reduce((s, p) => s + (b.parts[p] || 0), 0);
  const ymax = niceMax(Math.max(...bars.map(total)));
  const slot = (width - pad.l - pad.r) / bars.length;
  const bw = Math.max(4, Math.min(36, slot * 0.7));
  const sy = (v) => (v / ymax) * (height - pad.t - pad.b);
  let out = `<svg class="plot" width="${width}" height="${height}" role="img" aria-label="MTTR by phase">`;
  out += `<text x="${pad.l - 4}" y="${pad.t + 4}" text-anchor="end">${esc(+ymax.toPrecision(3))} s</text>`;
  out += `<text x="${pad.l - 4}" y="${height - pad.b + 4}" text-anchor="end">0</text>`;
  const step = Math.min(92, (width - pad.l) / PHASES.length);
  PHASES.forEach((p, i) => {
    out += `<rect x="${pad.l + i * step}" y="4" width="10" height="10" fill="${PHASE_COLORS[p]}"/><text x="${pad.l + 13 + i * step}" y="13">${p}</text>`;
  });
  bars.forEach((b, i) => {
    let y = height - pad.b;
    const x = pad.l + i * slot + (slot - bw) / 2;
    for (const p of PHASES) {
      const h = sy(b.parts[p] || 0);
      y -= h;
      out += `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${PHASE_COLORS[p]}"><title>${esc(b.label)} ${p}: ${(b.parts[p] || 0).toFixed(2)} s</title></rect>`;
    }
    out += `<text x="${(x + bw / 2).toFixed(1)}" y="${height - 8}" text-anchor="middle">${esc(b.label)}</text>`;
  });
  return out + '</svg>';
}

// A rank × collective heat map: cell(r, c) in µs; darker is later.
export function heatMap(rows, cols, cell, { cellW = 14, cellH = 20 } = {}) {
  const pad = { l: 130, t: 4, b: 22 };
  let max = 0;
  rows.forEach((_, r) => cols.forEach((_, c) => { max = Math.max(max, cell(r, c) || 0); }));
  const width = pad.l + cols.length * cellW + 10, height = pad.t + rows.length * cellH + pad.b;
  let out = `<svg class="plot heatmap" width="${width}" height="${height}" role="img" aria-label="lateness heat map">`;
  rows.forEach((label, r) => {
    out += `<text x="${pad.l - 6}" y="${pad.t + r * cellH + cellH - 4}" text-anchor="end">${esc(label)}</text>`;
    cols.forEach((seq, c) => {
      const v = cell(r, c) || 0;
      const a = max > 0 ? v / max : 0;
      out += `<rect x="${pad.l + c * cellW}" y="${pad.t + r * cellH}" width="${cellW - 1}" height="${cellH - 1}" fill="rgba(220,38,38,${(0.06 + 0.94 * a).toFixed(3)})"><title>${esc(label)}, collective ${seq}: ${(v / 1000).toFixed(2)} ms late</title></rect>`;
    });
  });
  out += `<text x="${pad.l}" y="${height - 6}">collective ${esc(cols[0])}</text>`;
  out += `<text x="${width - 10}" y="${height - 6}" text-anchor="end">${esc(cols[cols.length - 1])} · darkest ${(max / 1000).toFixed(2)} ms late</text>`;
  return out + '</svg>';
}

export { esc };
