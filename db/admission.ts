import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import { TIERS, isTier } from './tiers.js';

type Trx = Transaction<Database>;

export interface Refusal {
  status: 402 | 403 | 409;
  code: 'plan_required' | 'node_cap_reached' | 'budget_exceeded';
  message: string;
}

const euros = (cents: number) => (cents / 100).toFixed(2);

/**
 * Takes a slot for a new job: one conditional UPDATE of the tenant row checks tier, cap and budget
 * and counts the job, so concurrent requests (other connections, other processes) cannot overshoot.
 * Returns why it was refused, or undefined once the slot is held. Call it first in the
 * transaction: on SQLite a write that comes first never has to upgrade a read lock.
 */
export async function admitJob(trx: Trx, tenantId: string, priceCents: number): Promise<Refusal | undefined> {
  const result = await trx
    .updateTable('tenants')
    .set({
      reserved_nodes: sql`reserved_nodes + 1`,
      committed_cents: sql`committed_cents + ${priceCents}`,
    })
    .where('tenant_id', '=', tenantId)
    .where((eb) =>
      eb.or(
        Object.entries(TIERS)
          .filter(([, tier]) => tier.canProvision)
          .map(([name, tier]) => (tier.nodeCap === null ? eb('tier', '=', name) : eb.and([eb('tier', '=', name), eb('reserved_nodes', '<', tier.nodeCap)]))),
      ),
    )
    .where((eb) => eb.or([eb('monthly_budget_cents', 'is', null), eb(sql`committed_cents + ${priceCents}`, '<=', eb.ref('monthly_budget_cents'))]))
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 1) return undefined;
  return explainRefusal(trx, tenantId, priceCents);
}

async function explainRefusal(trx: Trx, tenantId: string, priceCents: number): Promise<Refusal> {
  const tenant = await trx.selectFrom('tenants').selectAll().where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
  const tier = isTier(tenant.tier) ? TIERS[tenant.tier] : undefined;
  if (!tier?.canProvision) {
    return {
      status: 403,
      code: 'plan_required',
      message: `the ${tenant.tier} tier cannot provision nodes; upgrade to team (up to 5 nodes) or enterprise (no limit)`,
    };
  }
  if (tier.nodeCap !== null && tenant.reserved_nodes >= tier.nodeCap) {
    return {
      status: 409,
      code: 'node_cap_reached',
      message: `the ${tenant.tier} tier allows ${tier.nodeCap} provisioned nodes and ${tenant.reserved_nodes} exist or are being provisioned`,
    };
  }
  const budget = tenant.monthly_budget_cents ?? 0;
  return {
    status: 402,
    code: 'budget_exceeded',
    message:
      `this node costs ${euros(priceCents)} a month; with the ${euros(tenant.committed_cents)} already committed ` +
      `that exceeds the monthly budget of ${euros(budget)} (${euros(Math.max(0, budget - tenant.committed_cents))} left)`,
  };
}

/** Gives a job's slot back, once: when the job fails, is cancelled, or its node is decommissioned. */
export async function releaseJobSlot(trx: Trx, jobId: string): Promise<void> {
  const job = await trx
    .updateTable('jobs')
    .set({ holds_slot: 0 })
    .where('job_id', '=', jobId)
    .where('holds_slot', '=', 1)
    .returning(['tenant_id', 'price_cents'])
    .executeTakeFirst();
  if (!job) return;
  await trx
    .updateTable('tenants')
    .set({
      reserved_nodes: sql`reserved_nodes - 1`,
      committed_cents: sql`committed_cents - ${job.price_cents}`,
    })
    .where('tenant_id', '=', job.tenant_id)
    .execute();
}

class Preview extends Error {
  constructor(readonly refusal: Refusal | undefined) {
    super('admission preview');
  }
}

/** What admitJob would answer now, without taking the slot: the same update, rolled back. */
export async function previewAdmission(db: Kysely<Database>, tenantId: string, priceCents: number): Promise<Refusal | undefined> {
  try {
    await db.transaction().execute(async (trx) => {
      throw new Preview(await admitJob(trx, tenantId, priceCents));
    });
  } catch (err) {
    if (err instanceof Preview) return err.refusal;
    throw err;
  }
  throw new Error('unreachable');
}
