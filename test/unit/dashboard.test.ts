// The Grafana dashboard: a current schema, a Prometheus datasource variable every panel uses, the
// panels operators look for, and only series Berth's API registry defines or the worker exposes
// (the worker's are scraped for real in test/e2e/metrics.test.ts, which checks every name again).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createApiMetrics } from '../../api/metrics.js';
import { migrate, openDatabase } from '../../db/connect.js';
import { allPanels, metricNamesIn, readDashboard } from '../support/dashboard.js';

const dashboard = readDashboard();
const panels = allPanels(dashboard.panels).filter((p) => p.type !== 'row');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dashboard-'));
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

/** The series names the API's registry exposes, histograms' `_bucket`, `_sum` and `_count` included. */
async function apiSeries(): Promise<Set<string>> {
  const db = openDatabase({ dataDir });
  await migrate(db);
  try {
    const metrics = await createApiMetrics(db).registry.getMetricsAsJSON();
    return new Set(metrics.flatMap((m) => (String(m.type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => m.name + s) : [m.name])));
  } finally {
    await db.destroy();
  }
}

/** Series only the worker exposes: Berth's activity counters and the SDK's, as the exporter names them. */
const WORKER_ONLY = /^(berth_(vm_creates|vm_deletes|job_phases)_total|temporal_[a-z_]+)$/;

describe('the Grafana dashboard', () => {
  it('has a current schema and a Prometheus datasource variable that every panel and query uses', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
    for (const panel of panels) {
      expect((panel as any).datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const target of panel.targets ?? []) expect(target.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });

  it('shows what operators watch', () => {
    const titles = panels.map((p) => p.title);
    for (const title of [
      'Request rate by route',
      'p95 latency by route',
      '5xx answers',
      'Jobs by phase',
      'Nodes by status and provider',
      'Refused registrations',
      'Provider calls by status',
      'Provider 429s by endpoint',
      'Catalogue cache hit ratio',
      'Workflow task schedule-to-start p95',
      'Activity schedule-to-start p95',
      'Activity failures',
      'Phases entered (worker)',
    ]) {
      expect(titles).toContain(title);
    }
  });

  it("reads only series the API's registry defines, or the worker's", async () => {
    const api = await apiSeries();
    const used = [...new Set(panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr))))];
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !api.has(name) && !WORKER_ONLY.test(name))).toEqual([]);
    // Histograms are read through their buckets, counters through rate().
    for (const panel of panels) {
      for (const { expr } of panel.targets ?? []) {
        if (expr.includes('histogram_quantile')) expect(expr, panel.title).toMatch(/_bucket\[/);
        for (const counter of metricNamesIn(expr).filter((n) => n.endsWith('_total'))) expect(expr, panel.title).toMatch(new RegExp(`rate\\(${counter}`));
      }
    }
  });
});
