/**
 * A self-contained HTML page of a benchmark run: the machine, then one horizontal bar chart per
 * group (inline SVG, log-free so ratios read directly), then the raw table.
 */
import { formatNs, type Measurement } from './measure.ts';

/** The report as bench/index.ts writes it. */
export interface Report {
  environment: Record<string, string | number>;
  results: Measurement[];
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** Renders `report` as one HTML document with no external resources. */
export function renderHtml(report: Report): string {
  const groups = new Map<string, Measurement[]>();
  for (const r of report.results) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
  const charts = [...groups].map(([group, rows]) => chart(group, rows)).join('\n');
  const env = Object.entries(report.environment)
    .map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(String(v))}</td></tr>`)
    .join('');
  const table = report.results
    .map((r) =>
      r.unavailable
        ? `<tr><td>${escape(r.group)}</td><td>${escape(r.name)}</td><td colspan="3">unavailable: ${escape(r.unavailable)}</td></tr>`
        : `<tr><td>${escape(r.group)}</td><td>${escape(r.name)}</td><td>${formatNs(r.nsPerOp)}</td><td>${formatNs(r.minNsPerOp)} – ${formatNs(r.maxNsPerOp)}</td><td>${escape(JSON.stringify(r.extra ?? {}))}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>cowpool benchmarks</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #ddd}h2{font-size:1.05em;margin-top:2em}</style>
</head><body><h1>cowpool benchmarks</h1><table>${env}</table>${charts}
<h2>All results</h2><table><tr><th>group</th><th>case</th><th>median</th><th>range</th><th>extra</th></tr>${table}</table></body></html>`;
}

function chart(group: string, all: Measurement[]): string {
  const rows = all.filter((r) => !r.unavailable);
  const missing = all
    .filter((r) => r.unavailable)
    .map((r) => `<p>${escape(r.name)}: unavailable (${escape(r.unavailable!)})</p>`)
    .join('');
  if (rows.length === 0) return `<h2>${escape(group)}</h2>${missing}`;
  return chartOf(group, rows) + missing;
}

function chartOf(group: string, rows: Measurement[]): string {
  const width = 560;
  const label = 230;
  const bar = 22;
  const max = Math.max(...rows.map((r) => r.nsPerOp));
  const isRate = rows.every((r) => r.extra?.requestsPerSecond !== undefined);
  const value = (r: Measurement) => (isRate ? Number(r.extra!.requestsPerSecond) : r.nsPerOp);
  const top = Math.max(...rows.map(value));
  const bars = rows
    .map((r, i) => {
      const w = Math.max(1, ((value(r) / (isRate ? top : max)) * (width - label - 90)) | 0);
      const text = isRate ? `${Math.round(value(r))} req/s` : formatNs(r.nsPerOp);
      return `<text x="0" y="${i * (bar + 6) + 16}">${escape(r.name)}</text><rect x="${label}" y="${i * (bar + 6)}" width="${w}" height="${bar}" fill="${i === 0 ? '#999' : '#3a7'}"/><text x="${label + w + 6}" y="${i * (bar + 6) + 16}">${text}</text>`;
    })
    .join('');
  return `<h2>${escape(group)}${isRate ? ' (higher is better)' : ' (time per request, lower is better)'}</h2><svg width="${width}" height="${rows.length * (bar + 6)}" font-size="12">${bars}</svg>`;
}
