import type { Check } from '../checks/check.js';

/** One group of bars (e.g. a scale) with one bar per series (e.g. partitioned, legacy). */
export interface BarGroup {
  label: string;
  bars: { series: string; value: number }[];
}

export interface ReportChart {
  id: string;
  title: string;
  unit: string;
  groups: BarGroup[];
}

export interface ReportInput {
  runId: string;
  ok: boolean;
  createdAt: string;
  checks: (Check & { evidence: string | null })[];
  summary: Record<string, unknown>;
  charts: ReportChart[];
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const palette = ['#2f6db5', '#d9822b', '#3a9a5b', '#9b59b6', '#c0392b', '#7f8c8d'];

/** A grouped bar chart as inline SVG: no script, no network, renders anywhere. */
export function barChartSvg(chart: ReportChart): string {
  const series = [...new Set(chart.groups.flatMap((g) => g.bars.map((b) => b.series)))];
  const max = Math.max(0, ...chart.groups.flatMap((g) => g.bars.map((b) => b.value)));
  const barW = 18;
  const gap = 14;
  const groupW = Math.max(1, series.length) * barW + gap;
  const left = 56;
  const top = 16;
  const plotH = 180;
  const width = Math.max(320, left + chart.groups.length * groupW + 20);
  const height = top + plotH + 64;
  const y = (v: number) => (max === 0 ? 0 : (v / max) * plotH);
  const bars = chart.groups.flatMap((g, gi) =>
    g.bars.map((b) => {
      const si = series.indexOf(b.series);
      const h = Math.max(1, y(b.value));
      const x = left + gi * groupW + si * barW;
      return `<rect class="bar" data-series="${escapeHtml(b.series)}" x="${x}" y="${top + plotH - h}" width="${barW - 3}" height="${h}" fill="${palette[si % palette.length]}"><title>${escapeHtml(`${g.label} · ${b.series}: ${b.value} ${chart.unit}`)}</title></rect>`;
    }),
  );
  const labels = chart.groups.map((g, gi) => `<text x="${left + gi * groupW + (groupW - gap) / 2}" y="${top + plotH + 14}" font-size="10" text-anchor="middle">${escapeHtml(g.label)}</text>`);
  const ticks = [0, 0.5, 1].map((f) => `<text x="${left - 6}" y="${top + plotH - f * plotH + 3}" font-size="10" text-anchor="end">${Math.round(max * f * 100) / 100}</text><line x1="${left}" x2="${width - 10}" y1="${top + plotH - f * plotH}" y2="${top + plotH - f * plotH}" stroke="#ddd"/>`);
  const legend = series.map((s, i) => `<rect x="${left + i * 120}" y="${height - 22}" width="10" height="10" fill="${palette[i % palette.length]}"/><text x="${left + i * 120 + 14}" y="${height - 13}" font-size="11">${escapeHtml(s)}</text>`);
  return `<figure><figcaption>${escapeHtml(chart.title)} (${escapeHtml(chart.unit)})</figcaption>
<svg class="chart" data-chart="${escapeHtml(chart.id)}" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(chart.title)}">
${ticks.join('')}
${bars.join('\n')}
${labels.join('')}
${legend.join('')}
</svg></figure>`;
}

/** The gate's one self-contained page: the verdict, the checks, the charts, the summary. */
export function renderReportHtml(r: ReportInput): string {
  const rows = r.checks.map((c) => `<tr class="${c.status}"><td>${escapeHtml(c.name)}</td><td class="status">${c.status}</td><td>${escapeHtml(c.detail)}</td><td>${c.evidence ? `<code>${escapeHtml(c.evidence)}</code>` : ''}</td></tr>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>partgov gate ${escapeHtml(r.runId)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 20px; } .verdict { font-weight: bold; padding: 2px 8px; border-radius: 4px; color: #fff; }
.verdict.ok { background: #3a9a5b; } .verdict.fail { background: #c0392b; }
table { border-collapse: collapse; margin: 12px 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
tr.fail td.status { color: #c0392b; font-weight: bold; } tr.pass td.status { color: #3a9a5b; } tr.warn td.status { color: #d9822b; }
figure { display: inline-block; margin: 12px 24px 12px 0; } figcaption { font-weight: 600; margin-bottom: 4px; }
pre { background: #f6f6f6; padding: 8px; overflow: auto; }
</style></head>
<body>
<h1>partgov gate <code>${escapeHtml(r.runId)}</code> <span class="verdict ${r.ok ? 'ok' : 'fail'}">${r.ok ? 'PASS' : 'FAIL'}</span></h1>
<p>${escapeHtml(r.createdAt)}</p>
<h2>Checks</h2>
<table><thead><tr><th>check</th><th>status</th><th>detail</th><th>evidence</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>
<h2>Charts</h2>
${r.charts.map(barChartSvg).join('\n')}
<h2>Summary</h2>
<pre>${escapeHtml(JSON.stringify(r.summary, null, 2))}</pre>
</body></html>
`;
}
