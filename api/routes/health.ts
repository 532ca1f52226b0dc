import { Hono } from 'hono';
import { sql } from 'kysely';
import { healthSchema } from '../answers.js';
import { operation } from '../contract.js';
import type { AppDeps } from '../deps.js';

export const healthOperations = {
  health: operation({
    method: 'get',
    path: '/healthz',
    root: true,
    operationId: 'health',
    tag: 'Health',
    summary: 'Whether the database and Temporal answer',
    auth: 'public',
    answers: {
      200: { description: 'Both answer', json: healthSchema },
      503: { description: 'One of them does not: `checks` names it', json: healthSchema },
    },
  }),
};

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
