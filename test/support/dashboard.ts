// The Grafana dashboard (deploy/grafana/berth.json) as the tests read it: its panels and the
// metric names their expressions use.
import fs from 'node:fs';
import path from 'node:path';

export const DASHBOARD_PATH = path.resolve(import.meta.dirname, '../../deploy/grafana/berth.json');

export interface Panel {
  title: string;
  type: string;
  targets?: { expr: string; datasource?: unknown }[];
  panels?: Panel[];
}

export function readDashboard(): { schemaVersion: number; templating: { list: { name: string; type: string; query?: unknown }[] }; panels: Panel[] } {
  return JSON.parse(fs.readFileSync(DASHBOARD_PATH, 'utf8'));
}

/** Every panel, those inside collapsed rows included. */
export function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** The series names an expression reads (Berth's, the SDK's and the process's: they share these prefixes). */
export function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(/\b((?:berth|temporal|process|nodejs)_[a-zA-Z0-9_]*)/g)].map((m) => m[1]!);
}
