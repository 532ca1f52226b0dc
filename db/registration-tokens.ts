import { digestsEqual, registrationTokenJobId, sha256Hex } from '../security/tokens.js';
import type { Db } from './connect.js';

/**
 * Stores the hash of a job's registration token. Idempotent: a retried issue keeps the first
 * expiry, so retrying VM creation never extends the token's life.
 */
export async function storeRegistrationToken(db: Db, args: { jobId: string; tenantId: string; token: string; ttlMs: number; now?: Date }): Promise<void> {
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

/** How long a claim holds the token by default: the API's delivery timeout. */
export const DEFAULT_CLAIM_LEASE_MS = 60_000;

export interface ConsumedToken {
  jobId: string;
  tenantId: string;
  /** The claim's timestamp: it completes the claim, or hands the token back. */
  claimedAt: string;
}

/** A token whose digest matched its job's stored hash: genuine, though maybe spent. */
export interface VerifiedToken {
  jobId: string;
  tenantId: string;
}

/**
 * Checks a token against its job's stored hash in constant time. Undefined for every kind of bad
 * token so callers cannot tell them apart.
 */
export async function verifyRegistrationToken(db: Db, token: string): Promise<VerifiedToken | undefined> {
  const jobId = registrationTokenJobId(token);
  const row = jobId ? await db.selectFrom('registration_tokens').select(['tenant_id', 'token_hash']).where('job_id', '=', jobId).executeTakeFirst() : undefined;
  // Compare against a dummy digest when there is no row, so both paths do the same work.
  const stored = row?.token_hash ?? sha256Hex('no-such-token');
  if (!digestsEqual(sha256Hex(token), stored) || !row || !jobId) return undefined;
  return { jobId, tenantId: row.tenant_id };
}

/**
 * Claims a verified token: unused, unrevoked, and not claimed by another registration within
 * `leaseMs` (a claim whose API died lapses). Unexpired too, except once: a claim made in time whose
 * delivery was cut may be taken again after the expiry, since the TTL bounds when a VM first calls,
 * not how long its delivery takes; that new claim is made after the expiry, so it is the last.
 * `db` may be a transaction; on SQLite the claim should be its first statement (a write takes the
 * lock at once).
 */
export async function claimRegistrationToken(db: Db, token: VerifiedToken, now = new Date(), leaseMs = DEFAULT_CLAIM_LEASE_MS): Promise<ConsumedToken | undefined> {
  const claimedAt = now.toISOString();
  const lapsed = new Date(now.getTime() - leaseMs).toISOString();
  // The conditional update is the atomic claim: of concurrent callers, exactly one matches.
  const result = await db
    .updateTable('registration_tokens')
    .set({ claimed_at: claimedAt })
    .where('job_id', '=', token.jobId)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('claimed_at', 'is', null), eb('claimed_at', '<=', lapsed)]))
    // Unexpired, or a lapsed claim made before the expiry (null for an unclaimed token).
    .where((eb) => eb.or([eb('expires_at', '>', claimedAt), eb('claimed_at', '<', eb.ref('expires_at'))]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1 ? { ...token, claimedAt } : undefined;
}

/** Verifies and claims a token in one go. */
export async function consumeRegistrationToken(db: Db, token: string, now = new Date(), leaseMs = DEFAULT_CLAIM_LEASE_MS): Promise<ConsumedToken | undefined> {
  const verified = await verifyRegistrationToken(db, token);
  return verified && claimRegistrationToken(db, verified, now, leaseMs);
}

/**
 * Seconds until another registration's claim on this (unspent, unrevoked) token lapses; undefined
 * when the token is not held by a claim. A claim holds past the expiry: it may be taken again once
 * (see claimRegistrationToken). Only asked after the token's digest matched.
 */
export async function claimHeldForS(db: Db, jobId: string, now = new Date(), leaseMs = DEFAULT_CLAIM_LEASE_MS): Promise<number | undefined> {
  const row = await db.selectFrom('registration_tokens').select(['claimed_at', 'used_at', 'revoked_at']).where('job_id', '=', jobId).executeTakeFirst();
  if (!row?.claimed_at || row.used_at || row.revoked_at) return undefined;
  const left = Date.parse(row.claimed_at) + leaseMs - now.getTime();
  return left > 0 ? Math.ceil(left / 1000) : undefined;
}

/** The job answered the registration: the token is spent for good. */
export async function completeRegistrationToken(db: Db, claim: ConsumedToken, now = new Date()): Promise<void> {
  await db
    .updateTable('registration_tokens')
    .set({ used_at: now.toISOString() })
    .where('job_id', '=', claim.jobId)
    .where('claimed_at', '=', claim.claimedAt)
    .where('used_at', 'is', null)
    .execute();
}

/** Gives a claimed token back after a transient failure to deliver the callback. */
export async function releaseRegistrationToken(db: Db, claim: ConsumedToken): Promise<void> {
  await db
    .updateTable('registration_tokens')
    .set({ claimed_at: null })
    .where('job_id', '=', claim.jobId)
    .where('claimed_at', '=', claim.claimedAt)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .execute();
}

export async function revokeRegistrationToken(db: Db, jobId: string, now = new Date()): Promise<void> {
  await db.updateTable('registration_tokens').set({ revoked_at: now.toISOString() }).where('job_id', '=', jobId).where('revoked_at', 'is', null).execute();
}
