import { Hono } from 'hono';
import { sql } from 'kysely';
import type { AppDeps } from '../deps.js';

const CHECK_TIMEOUT_MS = 3_000;

/** 200 when both the database and Temporal answer; 503 naming the one that does not. */
export function healthRoutes(deps: AppDeps) {
  return new Hono().get('/healthz', async (c) => {
    const [database, temporal] = await Promise.allSettled([
      sql`select 1`.execute(deps.db),
      deps.temporal.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () => deps.temporal.workflowService.getSystemInfo({})),
    ]);
    const checks = {
      database: database.status === 'fulfilled' ? 'ok' : 'unreachable',
      temporal: temporal.status === 'fulfilled' ? 'ok' : 'unreachable',
    };
    const healthy = database.status === 'fulfilled' && temporal.status === 'fulfilled';
    return c.json({ status: healthy ? 'ok' : 'unavailable', checks }, healthy ? 200 : 503);
  });
}
