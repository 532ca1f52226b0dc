// The job projection: one row per provision job (Temporal holds the job itself) and its progress,
// one row per phase reached. Every query on `jobs` and `job_progress` outside the pools lives here.
import { sql, type Kysely, type Transaction } from 'kysely';
import { PHASES, type Phase } from '../workflows/phases.js';
import { releaseJobSlot } from './admission.js';
import type { Db } from './connect.js';
import { fillNodeVm } from './nodes.js';
import type { Database, JobRow, NewJob } from './schema.js';

type DbOrTrx = Kysely<Database> | Transaction<Database>;

/** The endings that give a job's place under the tenant's cap and budget back. */
const SLOT_RELEASING: ReadonlySet<Phase> = new Set(['failed', 'cancelled', 'decommissioned']);

/** The tenant's job; another tenant's is as absent as one that never existed. */
export function findJob(db: Db, tenantId: string, jobId: string): Promise<JobRow | undefined> {
  return db.selectFrom('jobs').selectAll().where('job_id', '=', jobId).where('tenant_id', '=', tenantId).executeTakeFirst();
}

/** The tenant's jobs, newest first. */
export function listJobs(db: Db, tenantId: string, filter: { phase?: string | undefined; pool?: string | undefined; limit: number }): Promise<JobRow[]> {
  let select = db.selectFrom('jobs').selectAll().where('tenant_id', '=', tenantId);
  if (filter.phase) select = select.where('phase', '=', filter.phase);
  if (filter.pool) select = select.where('pool', '=', filter.pool);
  return select.orderBy('created_at', 'desc').orderBy('job_id').limit(filter.limit).execute();
}

/** The phases a job reached after position `afterSeq`, in order (-1: all of them). */
export function jobProgressSince(db: Db, jobId: string, afterSeq: number): Promise<Array<{ phase: string; at: string; seq: number }>> {
  return db.selectFrom('job_progress').select(['phase', 'at', 'seq']).where('job_id', '=', jobId).where('seq', '>', afterSeq).orderBy('seq').execute();
}

/** How a job ended (or where it stands): its error, node and VM. */
export function jobOutcome(db: Db, jobId: string): Promise<Pick<JobRow, 'error' | 'node_id' | 'vm_id'> | undefined> {
  return db.selectFrom('jobs').select(['error', 'node_id', 'vm_id']).where('job_id', '=', jobId).executeTakeFirst();
}

/** Who asked for the job and with what request (its hash): to match a retried request to it. */
export function jobRequest(db: Db, jobId: string): Promise<Pick<JobRow, 'tenant_id' | 'request_hash'> | undefined> {
  return db.selectFrom('jobs').select(['tenant_id', 'request_hash']).where('job_id', '=', jobId).executeTakeFirst();
}

export async function jobTenant(db: Db, jobId: string): Promise<string | undefined> {
  return (await db.selectFrom('jobs').select('tenant_id').where('job_id', '=', jobId).executeTakeFirst())?.tenant_id;
}

/** The job's hostname: undefined for an unknown job, null when the request named none. */
export async function jobHostname(db: Db, jobId: string): Promise<string | null | undefined> {
  return (await db.selectFrom('jobs').select('hostname').where('job_id', '=', jobId).executeTakeFirst())?.hostname;
}

/** The phase of the tenant's job, undefined when it is unknown. */
export async function jobPhase(db: Db, tenantId: string, jobId: string): Promise<string | undefined> {
  return (await db.selectFrom('jobs').select('phase').where('job_id', '=', jobId).where('tenant_id', '=', tenantId).executeTakeFirst())?.phase;
}

/** The tenant's jobs on this provider that still hold a slot: made, being made, or bound to a live node. */
export async function countSlotHoldingJobs(db: Db, tenantId: string, provider: string): Promise<number> {
  const row = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('provider', '=', provider)
    .where('holds_slot', '=', 1)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Records a new job in phase `queued`, inside the caller's transaction (the one that admitted it).
 * False when a job with this id exists already: nothing is written then.
 */
export async function insertJob(trx: DbOrTrx, job: NewJob & { phase: 'queued' }): Promise<boolean> {
  const result = await trx
    .insertInto('jobs')
    .values(job)
    .onConflict((oc) => oc.column('job_id').doNothing())
    .executeTakeFirst();
  if (Number(result.numInsertedOrUpdatedRows ?? 0) !== 1) return false;
  await trx.insertInto('job_progress').values({ job_id: job.job_id, phase: 'queued', at: job.created_at, seq: 0 }).execute();
  return true;
}

/** Forgets a job that never started, and gives its slot back. */
export async function deleteJob(db: Db, jobId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await releaseJobSlot(trx, jobId);
    await trx.deleteFrom('job_progress').where('job_id', '=', jobId).execute();
    await trx.deleteFrom('jobs').where('job_id', '=', jobId).execute();
  });
}

export interface PhaseChange {
  jobId: string;
  phase: Phase;
  at: string;
  vmId?: string | undefined;
  nodeId?: string | undefined;
  error?: string | undefined;
}

/**
 * A job reached a phase: the row takes the phase (and the VM, node or error that came with it), the
 * progress gets the phase once, and an ending frees the job's place under the cap and budget.
 * True when the phase was entered now (its progress row is new), false for a repeat or a late write.
 */
export async function recordPhase(db: Db, change: PhaseChange): Promise<boolean> {
  // Never back: the API records 'registering' and may be ahead of the workflow (an activity records
  // 'bootstrapping' when its create returns, possibly after the VM called back), and a late write of
  // an earlier phase must not reopen a job that is ending to a registration.
  const later = PHASES.slice(PHASES.indexOf(change.phase) + 1);
  const phase = later.length === 0 ? change.phase : sql<string>`case when phase in (${sql.join(later)}) then phase else ${change.phase} end`;
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('jobs')
      .set({
        phase,
        updated_at: change.at,
        ...(change.vmId !== undefined && { vm_id: change.vmId }),
        ...(change.nodeId !== undefined && { node_id: change.nodeId }),
        ...(change.error !== undefined && { error: change.error }),
      })
      .where('job_id', '=', change.jobId)
      .returning('phase')
      .executeTakeFirst();
    // A phase the job is already past is not progress: a late write (an activity's attempt that
    // outlived a cancel) must not add an earlier phase after the ending to what the API streams.
    let entered = false;
    if (row?.phase === change.phase) {
      const progress = await trx
        .insertInto('job_progress')
        .values({ job_id: change.jobId, phase: change.phase, at: change.at, seq: PHASES.indexOf(change.phase) })
        .onConflict((oc) => oc.columns(['job_id', 'phase']).doNothing())
        .executeTakeFirst();
      entered = Number(progress.numInsertedOrUpdatedRows ?? 0) === 1;
    }
    if (change.vmId !== undefined) await fillNodeVm(trx, change.jobId, change.vmId);
    if (SLOT_RELEASING.has(change.phase)) await releaseJobSlot(trx, change.jobId);
    return entered;
  });
}
