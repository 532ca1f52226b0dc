import { sql } from 'kysely';
import type { Plan } from '../providers/types.js';
import type { Member, PoolSpec, PoolStatus } from '../placement/pool-spec.js';
import { MAX_WINDOW_MS } from '../placement/pool-spec.js';
import type { Db } from './connect.js';
import type { PoolRow } from './schema.js';

/** A pool's node template as stored (user_data apart: it never leaves the database but for the VM). */
export interface PoolTemplate {
  provider: string;
  region: string;
  plan: string;
  image?: string | undefined;
  labels?: Record<string, string> | undefined;
  ssh_key?: string | undefined;
  network?: string | undefined;
  firewall?: string | undefined;
  public_ipv4?: boolean | undefined;
  ipv6?: boolean | undefined;
  workload_command?: string | undefined;
}

export interface TemplateVersion {
  version: number;
  template: PoolTemplate;
  plan: Plan;
  userData: string | null;
}

export interface Pool {
  tenantId: string;
  name: string;
  spec: PoolSpec;
  desired: number;
  templateVersion: number;
  generation: number;
  status: PoolStatus;
  deleting: boolean;
  createdAt: string;
  updatedAt: string;
}

const ms = (iso: string | null | undefined) => (iso ? Date.parse(iso) : undefined);

export function poolFromRow(row: PoolRow): Pool {
  return {
    tenantId: row.tenant_id,
    name: row.name,
    spec: JSON.parse(row.spec) as PoolSpec,
    desired: row.desired,
    templateVersion: row.template_version,
    generation: row.generation,
    status: { conditions: [], ...(JSON.parse(row.status) as Partial<PoolStatus>) },
    deleting: row.deleting_at !== null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function getPool(db: Db, tenantId: string, name: string): Promise<Pool | undefined> {
  const row = await db.selectFrom('pools').selectAll().where('tenant_id', '=', tenantId).where('name', '=', name).executeTakeFirst();
  return row && poolFromRow(row);
}

export async function listPools(db: Db, tenantId: string): Promise<Pool[]> {
  const rows = await db.selectFrom('pools').selectAll().where('tenant_id', '=', tenantId).orderBy('name').execute();
  return rows.map(poolFromRow);
}

export async function getTemplate(db: Db, tenantId: string, pool: string, version: number): Promise<TemplateVersion | undefined> {
  const row = await db.selectFrom('pool_templates').selectAll().where('tenant_id', '=', tenantId).where('pool', '=', pool).where('version', '=', version).executeTakeFirst();
  if (!row) return undefined;
  return { version: row.version, template: JSON.parse(row.template) as PoolTemplate, plan: JSON.parse(row.plan) as Plan, userData: row.user_data };
}

/** Every template version of a pool that still has members, for capacity and prices. */
export async function templatesInUse(db: Db, tenantId: string, pool: string): Promise<Map<number, TemplateVersion>> {
  const rows = await db.selectFrom('pool_templates').selectAll().where('tenant_id', '=', tenantId).where('pool', '=', pool).execute();
  return new Map(
    rows.map((row) => [row.version, { version: row.version, template: JSON.parse(row.template) as PoolTemplate, plan: JSON.parse(row.plan) as Plan, userData: row.user_data }]),
  );
}

/** The pool's jobs that have not ended, with their nodes: what the reconciler decides on. */
export async function poolMembers(db: Db, tenantId: string, pool: string): Promise<Member[]> {
  const rows = await db
    .selectFrom('jobs as j')
    .leftJoin('nodes as n', 'n.job_id', 'j.job_id')
    .select([
      'j.job_id',
      'j.phase',
      'j.template_version',
      'j.created_at',
      'n.node_id',
      'n.status',
      'n.provider',
      'n.vm_id',
      'n.created_at as ready_at',
      'n.last_heartbeat_at',
      'n.workloads',
      'n.busy_at',
      'n.drain_requested_at',
      'n.drained_at',
    ])
    .where('j.tenant_id', '=', tenantId)
    .where('j.pool', '=', pool)
    .where('j.phase', 'not in', ['failed', 'cancelled', 'decommissioned'])
    .where((eb) => eb.or([eb('n.status', 'is', null), eb('n.status', '!=', 'decommissioned')]))
    .orderBy('j.created_at')
    .execute();
  return rows.map((r) => ({
    jobId: r.job_id,
    phase: r.phase,
    templateVersion: r.template_version ?? 1,
    createdAt: Date.parse(r.created_at),
    node:
      r.node_id && r.status
        ? {
            nodeId: r.node_id,
            status: r.status,
            provider: r.provider ?? '',
            vmId: r.vm_id ?? null,
            readyAt: Date.parse(r.ready_at ?? r.created_at),
            lastHeartbeatAt: ms(r.last_heartbeat_at),
            workloads: r.workloads ?? undefined,
            busyAt: ms(r.busy_at),
            drainRequestedAt: ms(r.drain_requested_at),
            drainedAt: ms(r.drained_at),
          }
        : undefined,
  }));
}

/** Average CPU reported by the pool's ready, undrained nodes since `now - windowMs`. */
export async function poolCpu(db: Db, tenantId: string, pool: string, windowMs: number, now: number) {
  const row = await db
    .selectFrom('node_samples as s')
    .innerJoin('nodes as n', 'n.node_id', 's.node_id')
    .select([sql<number | null>`avg(s.cpu)`.as('average'), sql<string | null>`min(s.at)`.as('oldest'), sql<number>`count(*)`.as('samples')])
    .where('n.tenant_id', '=', tenantId)
    .where('n.pool', '=', pool)
    .where('n.status', '=', 'ready')
    .where('n.drain_requested_at', 'is', null)
    .where('s.at', '>=', new Date(now - windowMs).toISOString())
    .executeTakeFirst();
  if (!row || row.average === null || !row.oldest) return undefined;
  return { average: Number(row.average), coveredMs: now - Date.parse(row.oldest), samples: Number(row.samples) };
}

/**
 * Member jobs that failed since a node of the pool last became ready (cancelled ones do not count),
 * among those made since `since` (the pool's creation: an earlier pool of that name is not this one).
 */
export async function poolFailures(db: Db, tenantId: string, pool: string, since: string) {
  const lastReady = await db
    .selectFrom('nodes')
    .select(sql<string | null>`max(created_at)`.as('at'))
    .where('tenant_id', '=', tenantId)
    .where('pool', '=', pool)
    .executeTakeFirst();
  let failed = db
    .selectFrom('jobs')
    .select(['error', 'updated_at'])
    .where('tenant_id', '=', tenantId)
    .where('pool', '=', pool)
    .where('phase', '=', 'failed')
    .where('created_at', '>=', since);
  if (lastReady?.at) failed = failed.where('updated_at', '>', lastReady.at);
  const rows = await failed.orderBy('updated_at', 'desc').limit(20).execute();
  if (rows.length === 0) return undefined;
  return { count: rows.length, lastAt: Date.parse(rows[0]!.updated_at), lastError: rows[0]!.error ?? 'unknown error' };
}

/** The reconciler's change of `desired`, only if nobody changed the spec since it read it. */
export async function setPoolDesired(db: Db, args: { tenantId: string; name: string; generation: number; desired: number }): Promise<boolean> {
  const result = await db
    .updateTable('pools')
    .set({ desired: args.desired, generation: sql`generation + 1`, updated_at: new Date().toISOString() })
    .where('tenant_id', '=', args.tenantId)
    .where('name', '=', args.name)
    .where('generation', '=', args.generation)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export interface RecordedEvent {
  seq: number;
  at: string;
  kind: string;
  reason: string;
}

export async function recordPoolEvents(db: Db, args: { tenantId: string; name: string; events: RecordedEvent[]; status: PoolStatus }): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('pools')
      .set({ status: JSON.stringify(args.status) })
      .where('tenant_id', '=', args.tenantId)
      .where('name', '=', args.name)
      .execute();
    if (args.events.length === 0) return;
    // A retried activity writes the same sequence numbers again: nothing doubles.
    await trx
      .insertInto('pool_events')
      .values(args.events.map((e) => ({ tenant_id: args.tenantId, pool: args.name, seq: e.seq, at: e.at, kind: e.kind, reason: e.reason, data: null })))
      .onConflict((oc) => oc.columns(['tenant_id', 'pool', 'seq']).doNothing())
      .execute();
  });
}

export async function poolEventsSince(db: Db, tenantId: string, pool: string, afterSeq: number) {
  return db
    .selectFrom('pool_events')
    .select(['seq', 'at', 'kind', 'reason'])
    .where('tenant_id', '=', tenantId)
    .where('pool', '=', pool)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(500)
    .execute();
}

/** Asks the nodes' agents to drain (their next heartbeat answers `drain`); idempotent. */
export async function requestDrain(db: Db, tenantId: string, nodeIds: string[]): Promise<void> {
  if (nodeIds.length === 0) return;
  await db
    .updateTable('nodes')
    .set({ drain_requested_at: new Date().toISOString() })
    .where('tenant_id', '=', tenantId)
    .where('node_id', 'in', nodeIds)
    .where('drain_requested_at', 'is', null)
    .execute();
}

/** The end of a deleted pool, once it has no member left: the name can be used again. */
export async function deletePoolRows(db: Db, tenantId: string, name: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('pool_events').where('tenant_id', '=', tenantId).where('pool', '=', name).execute();
    await trx.deleteFrom('pool_templates').where('tenant_id', '=', tenantId).where('pool', '=', name).execute();
    await trx.deleteFrom('pools').where('tenant_id', '=', tenantId).where('name', '=', name).execute();
  });
}

/** Drops CPU samples older than any window can use. */
export async function pruneSamples(db: Db, now: number): Promise<void> {
  await db
    .deleteFrom('node_samples')
    .where('at', '<', new Date(now - MAX_WINDOW_MS).toISOString())
    .execute();
}
