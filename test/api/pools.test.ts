// The pool API without a reachable Temporal: a pool whose reconciler cannot start is not created.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureDefaultAdmin } from '../../db/bootstrap.js';
import { migrate, openDatabase, type Db } from '../../db/connect.js';
import { offlineApp, unreachableTemporal } from '../support/offline-app.js';
import { ADMIN_TOKEN } from '../support/stack.js';

let dataDir: string;
let db: Db;
let app: ReturnType<typeof offlineApp>;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-pools-api-'));
  db = openDatabase({ dataDir });
  await migrate(db);
  await ensureDefaultAdmin(db, dataDir, ADMIN_TOKEN);
  // A Temporal that is not there: nothing listens on this port.
  app = offlineApp(db, dataDir, await unreachableTemporal());
});
afterAll(async () => {
  await db?.destroy();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const call = (method: string, route: string, body?: unknown) =>
  app.request(`/cp/api/v1/cluster${route}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });

it('answers 503 and stores nothing when the reconciler cannot be started', { timeout: 30_000 }, async () => {
  const res = await call('POST', '/pools', { name: 'web', template: { provider: 'local', region: 'local', plan: 'local-1' }, min: 1, max: 3 });
  expect(res.status).toBe(503);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('temporal_unavailable');
  expect(await db.selectFrom('pools').selectAll().execute()).toEqual([]);
  expect(await db.selectFrom('pool_templates').selectAll().execute()).toEqual([]);
  expect((await call('GET', '/pools/web')).status).toBe(404);
});

it('stores a PATCH even when the reconciler cannot be told (its next pass applies it)', { timeout: 30_000 }, async () => {
  const now = new Date().toISOString();
  const spec = { min: 1, max: 3, health: { unhealthyAfterMs: 180_000, maxUnhealthy: { percent: 40 } }, evaluationIntervalMs: 30_000, drainTimeoutMs: 300_000 };
  await db
    .insertInto('pools')
    .values({ tenant_id: 'default', name: 'api', spec: JSON.stringify(spec), desired: 1, template_version: 1, created_at: now, updated_at: now })
    .execute();
  const plan = { name: 'local-1', vcpu: 1, memory_mb: 512, disk_gb: 1, arch: 'x86', price_monthly: 1, price_hourly: 0.0014, currency: 'EUR' };
  await db
    .insertInto('pool_templates')
    .values({
      tenant_id: 'default',
      pool: 'api',
      version: 1,
      template: JSON.stringify({ provider: 'local', region: 'local', plan: 'local-1' }),
      plan: JSON.stringify(plan),
      user_data: null,
      created_at: now,
    })
    .execute();

  const res = await call('PATCH', '/pools/api', { desired: 3, autoscaling: { scale_out_cpu: 0.8 } });
  expect(res.status).toBe(200);
  const pool = (await res.json()) as { desired: number; autoscaling: { scale_out_cpu: number; window: string } };
  expect(pool).toMatchObject({ desired: 3, autoscaling: { scale_out_cpu: 0.8, window: '2m' } });
  // Raising min above desired raises desired; an explicit desired outside the bounds is refused.
  expect(((await (await call('PATCH', '/pools/api', { min: 3, max: 5 })).json()) as { desired: number }).desired).toBe(3);
  const bad = await call('PATCH', '/pools/api', { max: 2 });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: { field: string } }).error.field).toBe('min');
  expect((await db.selectFrom('pools').select('desired').where('name', '=', 'api').executeTakeFirstOrThrow()).desired).toBe(3);
});
