import fs from 'node:fs';
import type { Percentiles } from './stats.js';

const COLORS = { p50: '#4c78a8', p95: '#f58518', p99: '#e45756' } as const;
const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A horizontal bar chart of p50/p95/p99 per scenario, as a standalone SVG file. */
export function writeChart(file: string, series: Record<string, Percentiles>): void {
  const rows = Object.entries(series);
  const max = Math.max(...rows.map(([, p]) => p.p99), 1);
  const labelWidth = 190;
  const plotWidth = 520;
  const rowHeight = 54;
  const height = 40 + rows.length * rowHeight;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + plotWidth + 90}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Latency percentiles (ms)</text>`,
  ];
  Object.entries(COLORS).forEach(([name, color], i) => {
    parts.push(`<rect x="${labelWidth + i * 70}" y="10" width="12" height="12" fill="${color}"/><text x="${labelWidth + i * 70 + 16}" y="20">${name}</text>`);
  });
  rows.forEach(([label, p], row) => {
    const top = 36 + row * rowHeight;
    parts.push(`<text x="10" y="${top + 24}">${escape(label)}</text>`);
    (['p50', 'p95', 'p99'] as const).forEach((key, i) => {
      const width = Math.max(1, (p[key] / max) * plotWidth);
      const y = top + i * 15;
      parts.push(`<rect x="${labelWidth}" y="${y}" width="${width.toFixed(1)}" height="12" fill="${COLORS[key]}"/>`);
      parts.push(`<text x="${labelWidth + width + 4}" y="${y + 10}">${p[key]}</text>`);
    });
  });
  parts.push('</svg>');
  fs.writeFileSync(file, `${parts.join('\n')}\n`);
}
