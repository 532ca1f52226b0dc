import { digestsEqual, registrationTokenJobId, sha256Hex } from '../security/tokens.js';
import type { Db } from './connect.js';

/**
 * Stores the hash of a job's registration token. Idempotent: a retried issue keeps the first
 * expiry, so retrying VM creation never extends the token's life.
 */
export async function storeRegistrationToken(
  db: Db,
  args: { jobId: string; tenantId: string; token: string; ttlMs: number; now?: Date },
): Promise<void> {
  const now = args.now ?? new Date();
  await db
    .insertInto('registration_tokens')
    .values({
      job_id: args.jobId,
      tenant_id: args.tenantId,
      token_hash: sha256Hex(args.token),
      expires_at: new Date(now.getTime() + args.ttlMs).toISOString(),
      used_at: null,
      revoked_at: null,
      created_at: now.toISOString(),
    })
    .onConflict((oc) => oc.column('job_id').doNothing())
    .execute();
}

export interface ConsumedToken {
  jobId: string;
  tenantId: string;
  /** The claim's timestamp, needed to hand the token back if the callback cannot be delivered. */
  usedAt: string;
}

/**
 * Consumes a registration token: single use, unexpired, unrevoked, compared in constant time.
 * Returns undefined for every kind of bad token so callers cannot tell them apart.
 */
export async function consumeRegistrationToken(db: Db, token: string, now = new Date()): Promise<ConsumedToken | undefined> {
  const jobId = registrationTokenJobId(token);
  const row = jobId
    ? await db.selectFrom('registration_tokens').select(['tenant_id', 'token_hash']).where('job_id', '=', jobId).executeTakeFirst()
    : undefined;
  // Compare against a dummy digest when there is no row, so both paths do the same work.
  const stored = row?.token_hash ?? sha256Hex('no-such-token');
  if (!digestsEqual(sha256Hex(token), stored) || !row || !jobId) return undefined;
  const usedAt = now.toISOString();
  // The conditional update is the atomic claim: of concurrent callers, exactly one matches.
  const result = await db
    .updateTable('registration_tokens')
    .set({ used_at: usedAt })
    .where('job_id', '=', jobId)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', usedAt)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1 ? { jobId, tenantId: row.tenant_id, usedAt } : undefined;
}

/** Gives a claimed token back after a transient failure to deliver the callback. */
export async function releaseRegistrationToken(db: Db, claim: ConsumedToken): Promise<void> {
  await db
    .updateTable('registration_tokens')
    .set({ used_at: null })
    .where('job_id', '=', claim.jobId)
    .where('used_at', '=', claim.usedAt)
    .where('revoked_at', 'is', null)
    .execute();
}

export async function revokeRegistrationToken(db: Db, jobId: string, now = new Date()): Promise<void> {
  await db
    .updateTable('registration_tokens')
    .set({ revoked_at: now.toISOString() })
    .where('job_id', '=', jobId)
    .where('revoked_at', 'is', null)
    .execute();
}
