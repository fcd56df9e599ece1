/**
 * The training report: one self-contained HTML page (inline SVG and CSS, no
 * scripts, no external assets) with the loss and accuracy curves per epoch and
 * the validation confusion matrix, written into the model folder. A person can
 * open it from a file manager, mail it, or attach it to an issue.
 *
 * Owner: training.
 */
import type { EpochLog } from './train';
import type { Evaluation } from './evaluate';

export interface ReportInput {
  name: string;
  type: string;
  arch: string;
  backend: string;
  createdAt: string;
  featureDescription: string;
  settings: Record<string, string | number | boolean>;
  dataset: { clipsPerLabel: Record<string, number>; trainClips: number; valClips: number; splitBy: string };
  history: EpochLog[];
  validation: Evaluation | null;
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface Series {
  name: string;
  color: string;
  values: (number | null)[];
}

const fmt = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

/** A line chart of per-epoch series as an SVG element. */
export function lineChartSvg(title: string, series: Series[], opts: { yMin?: number; yMax?: number; percent?: boolean } = {}): string {
  const W = 460;
  const H = 260;
  const L = 48;
  const R = 12;
  const T = 28;
  const B = 36;
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  let yMin = opts.yMin ?? Math.min(0, ...all);
  let yMax = opts.yMax ?? Math.max(1e-9, ...all);
  if (yMax <= yMin) yMax = yMin + 1;
  if (!Number.isFinite(yMin)) yMin = 0;
  const x = (i: number): number => L + (n <= 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
  const y = (v: number): number => T + (H - T - B) * (1 - (v - yMin) / (yMax - yMin));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(title)}">`);
  parts.push(`<text x="${L}" y="16" class="title">${escapeHtml(title)}</text>`);
  for (let g = 0; g <= 4; g++) {
    const v = yMin + ((yMax - yMin) * g) / 4;
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${yy}" y2="${yy}" class="grid"/>`);
    parts.push(`<text x="${L - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle" class="tick">${opts.percent ? `${Math.round(v * 100)}%` : fmt(v)}</text>`);
  }
  const ticks = Math.min(n, 10);
  for (let t = 0; t < ticks; t++) {
    const i = ticks <= 1 ? 0 : Math.round((t * (n - 1)) / (ticks - 1));
    parts.push(`<text x="${x(i).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" class="tick">${i + 1}</text>`);
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle" class="tick">epoch</text>`);
  series.forEach((s, si) => {
    const pts = s.values
      .map((v, i) => (v === null || !Number.isFinite(v) ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`))
      .filter((p): p is string => p !== null);
    if (pts.length > 1) parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const p of pts) {
      const [px, py] = p.split(',');
      parts.push(`<circle cx="${px}" cy="${py}" r="2.5" fill="${s.color}"/>`);
    }
    // Legend in the title row, right-aligned, so it never hides a curve.
    const lx = W - R - (series.length - si) * 95;
    parts.push(`<rect x="${lx}" y="10" width="12" height="3" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 16}" y="15" class="tick">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** The confusion matrix as an SVG heat map; cell shade = share of the true label's clips. */
export function confusionSvg(e: Evaluation): string {
  const k = e.labels.length;
  const cell = Math.max(28, Math.min(56, Math.floor(420 / Math.max(1, k))));
  const labelW = Math.min(140, 8 + 7 * Math.max(4, ...e.labels.map((l) => l.length)));
  const top = labelW;
  const W = labelW + k * cell + 10;
  const H = top + k * cell + 24;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="confusion matrix">`);
  e.labels.forEach((l, j) => {
    const cx = labelW + j * cell + cell / 2;
    parts.push(`<text transform="translate(${cx},${top - 6}) rotate(-50)" class="tick">${escapeHtml(l)}</text>`);
  });
  e.confusion.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    const cy = top + i * cell;
    parts.push(`<text x="${labelW - 6}" y="${cy + cell / 2}" text-anchor="end" dominant-baseline="middle" class="tick">${escapeHtml(e.labels[i] ?? '')}</text>`);
    row.forEach((v, j) => {
      const share = total > 0 ? v / total : 0;
      // Correct cells in blue, mistakes in red, so errors stand out at a glance.
      const hue = i === j ? 212 : 4;
      const light = Math.round(97 - share * 55);
      const textClass = share > 0.55 ? 'cell light' : 'cell';
      parts.push(`<rect x="${labelW + j * cell}" y="${cy}" width="${cell - 1}" height="${cell - 1}" fill="hsl(${hue},70%,${light}%)"><title>true ${escapeHtml(e.labels[i] ?? '')}, predicted ${escapeHtml(e.labels[j] ?? '')}: ${v}</title></rect>`);
      parts.push(`<text x="${labelW + j * cell + cell / 2}" y="${cy + cell / 2}" text-anchor="middle" dominant-baseline="middle" class="${textClass}">${v}</text>`);
    });
  });
  parts.push(`<text x="${labelW + (k * cell) / 2}" y="${H - 6}" text-anchor="middle" class="tick">predicted label (rows: true label)</text>`);
  parts.push('</svg>');
  return parts.join('');
}

const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : `${(100 * v).toFixed(1)}%`);

/** Loss and accuracy charts for one run of epochs (a single model, or one member of an ensemble). */
function curveCharts(history: EpochLog[], title: string): string {
  const lossChart = lineChartSvg(`${title}loss`, [
    { name: 'training', color: '#1f77b4', values: history.map((h) => h.loss) },
    { name: 'validation', color: '#d62728', values: history.map((h) => h.valLoss) },
  ]);
  const accChart = lineChartSvg(
    `${title}accuracy`,
    [
      { name: 'training', color: '#1f77b4', values: history.map((h) => h.acc) },
      { name: 'validation', color: '#d62728', values: history.map((h) => h.valAcc) },
    ],
    { yMin: 0, yMax: 1, percent: true },
  );
  return lossChart + accChart;
}

export function renderReport(r: ReportInput): string {
  const members = [...new Set(r.history.map((h) => h.member ?? 1))];
  const ensemble = members.length > 1;
  const epochs = r.history.filter((h) => (h.member ?? 1) === 1).map((h) => h.epoch);
  const charts = members.map((m) => curveCharts(r.history.filter((h) => (h.member ?? 1) === m), ensemble ? `member ${m}: ` : '')).join('');
  const rows = (obj: Record<string, string | number | boolean>): string =>
    Object.entries(obj)
      .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`)
      .join('');
  const perLabel = r.validation
    ? `<table class="num"><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>clips</th></tr>${r.validation.perLabel
        .map((m) => `<tr><th>${escapeHtml(m.label)}</th><td>${pct(m.precision)}</td><td>${pct(m.recall)}</td><td>${pct(m.f1)}</td><td>${m.support}</td></tr>`)
        .join('')}</table>`
    : '<p>No validation split (--val-split 0).</p>';
  const epochRows = r.history
    .map((h) => `<tr>${ensemble ? `<td>${h.member ?? 1}</td>` : ''}<td>${h.epoch}</td><td>${h.loss.toFixed(4)}</td><td>${pct(h.acc)}</td><td>${h.valLoss === null ? '-' : h.valLoss.toFixed(4)}</td><td>${pct(h.valAcc)}</td><td>${h.seconds.toFixed(1)}</td></tr>`)
    .join('');
  // The validation evaluation is the saved model's: an ensemble's average, not its last member.
  const headline = r.validation ? `validation accuracy ${pct(r.validation.accuracy)}${ensemble ? ` (ensemble of ${members.length})` : ''}` : 'no validation split';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kws training report: ${escapeHtml(r.name)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.sub{color:#666;margin-bottom:16px}.big{font-size:28px;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:16px}
svg .title{font-size:13px;font-weight:600}svg .tick{font-size:11px;fill:#444}svg .grid{stroke:#e4e4e4}
svg .cell{font-size:11px;fill:#222}svg .cell.light{fill:#fff}
table{border-collapse:collapse;margin:4px 0}th,td{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}
table.num td{text-align:right}
</style></head><body>
<h1>${escapeHtml(r.name)}</h1>
<div class="sub">${escapeHtml(r.type)} model, ${escapeHtml(r.arch)} architecture, trained ${escapeHtml(r.createdAt)} on the ${escapeHtml(r.backend)} backend, ${epochs.length} epochs${ensemble ? ` for each of ${members.length} members` : ''}</div>
<div class="big">${headline}</div>
<div class="sub">${r.dataset.trainClips} training clips, ${r.dataset.valClips} validation clips (split by ${escapeHtml(r.dataset.splitBy)}); features: ${escapeHtml(r.featureDescription)}</div>
<h2>Curves</h2>
<div class="charts">${charts}</div>
<h2>Validation confusion matrix</h2>
${r.validation ? confusionSvg(r.validation) : '<p>No validation split (--val-split 0).</p>'}
<h2>Per label (validation)</h2>
${perLabel}
<h2>Data</h2>
<table class="num"><tr><th>label</th><th>clips</th></tr>${Object.entries(r.dataset.clipsPerLabel)
    .map(([l, n]) => `<tr><th>${escapeHtml(l)}</th><td>${n}</td></tr>`)
    .join('')}</table>
<h2>Settings</h2>
<table>${rows(r.settings)}</table>
<h2>Epochs</h2>
<table class="num"><tr>${ensemble ? '<th>member</th>' : ''}<th>epoch</th><th>loss</th><th>accuracy</th><th>val loss</th><th>val accuracy</th><th>seconds</th></tr>${epochRows}</table>
</body></html>
`;
}
