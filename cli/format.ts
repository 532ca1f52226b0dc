// Output for people (aligned tables, key: value blocks) or for programs (the API's JSON as is).
import { UsageError } from './errors.js';

export type Output = 'table' | 'json';

export function parseOutput(value: string | undefined, noun: string): Output {
  if (value === undefined || value === 'table') return 'table';
  if (value === 'json') return 'json';
  throw new UsageError(`--output must be json or table, not "${value}"`, noun);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

type Cell = string | number | boolean | null | undefined;

export interface Column<T> {
  title: string;
  value: (row: T) => Cell;
  align?: 'left' | 'right';
}

const cellText = (cell: Cell) => (cell === null || cell === undefined || cell === '' ? '-' : String(cell));

/** An aligned table with a header row, columns two spaces apart; `empty` when there are no rows. */
export function table<T>(rows: T[], columns: Column<T>[], empty: string): string {
  if (rows.length === 0) return empty;
  const cells = rows.map((row) => columns.map((c) => cellText(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i]!.align === 'right' ? v.padStart(widths[i]!) : i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.title)), ...cells.map(line)].join('\n');
}

/** `label:  value` lines with the values aligned; undefined values are left out. */
export function fields(pairs: Array<[string, Cell]>): string {
  const shown = pairs.filter(([, v]) => v !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length)) + 1;
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${cellText(v)}`).join('\n');
}

/** How long ago: `12s`, `5m`, `3h`, `2d`. */
export function age(iso: string | undefined, now = Date.now()): string {
  const at = iso ? Date.parse(iso) : NaN;
  if (Number.isNaN(at)) return '-';
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 90) return `${s}s`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/** A time as `2025-01-31 12:04:05Z` (UTC, to the second). */
export function time(iso: string | undefined): string {
  const at = iso ? new Date(iso) : undefined;
  if (!at || Number.isNaN(at.getTime())) return iso ?? '-';
  return `${at.toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** A duration in seconds with one decimal under a minute: `0.4s`, `12.3s`, `2m05s`. */
export function seconds(ms: number): string {
  if (ms < 60_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export function memory(mb: number | undefined): string {
  if (mb === undefined) return '-';
  if (mb < 1024) return `${mb} MB`;
  const gb = mb / 1024;
  return `${Number.isInteger(gb) ? gb : gb.toFixed(1)} GB`;
}

/** A price with the digits it needs: `4.51`, `0.0072`. */
export function price(value: number | undefined): string {
  if (value === undefined || value === null) return '-';
  if (value === 0) return '0';
  return value >= 1 ? value.toFixed(2) : value.toPrecision(2).replace(/0+$/, '');
}
