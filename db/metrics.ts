// What the API's /metrics reads at scrape time: one GROUP BY each, over every tenant (no tenant
// in the answer: metrics carry no tenant names).
import { sql } from 'kysely';
import type { Db } from './connect.js';

export interface Count<K extends string> {
  labels: Record<K, string>;
  count: number;
}

/** Provision jobs by phase. */
export async function jobsByPhase(db: Db): Promise<Count<'phase'>[]> {
  const rows = await db
    .selectFrom('jobs')
    .select(['phase', sql<number>`count(*)`.as('n')])
    .groupBy('phase')
    .execute();
  return rows.map((r) => ({ labels: { phase: r.phase }, count: Number(r.n) }));
}

/** Nodes by status and provider. */
export async function nodesByStatusAndProvider(db: Db): Promise<Count<'status' | 'provider'>[]> {
  const rows = await db
    .selectFrom('nodes')
    .select(['status', 'provider', sql<number>`count(*)`.as('n')])
    .groupBy(['status', 'provider'])
    .execute();
  return rows.map((r) => ({ labels: { status: r.status, provider: r.provider }, count: Number(r.n) }));
}
