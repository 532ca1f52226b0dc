// A VM's registration, in one transaction: claim its token, check that its job still waits for it
// (holding the job row's lock), and bind the node with its agent credential.
import { sql } from 'kysely';
import { vmName, type NodeFacts } from '../workflows/messages.js';
import type { Db } from './connect.js';
import { PHASES } from '../workflows/phases.js';
import { claimHeldForS, claimRegistrationToken, DEFAULT_CLAIM_LEASE_MS, verifyRegistrationToken, type ConsumedToken, type VerifiedToken } from './registration-tokens.js';

export const nodeIdOf = (jobId: string) => `node-${jobId}`;

export interface RegisterRequest {
  token: string;
  /** What the VM reported, without its hostname when it named none. */
  facts: Record<string, string | number | boolean | undefined>;
  /** sha256 of the node agent's new credential. */
  credentialHash: string;
  /**
   * The VM made the credential itself: a repeat with the same digest after the token was spent
   * (the answer was lost) is answered again, since the answer carries nothing the VM lacks.
   */
  vmCredential?: boolean | undefined;
  leaseMs?: number | undefined;
  now?: Date | undefined;
}

export type Registration =
  | { outcome: 'invalid' }
  /** Another registration with this token is in flight; it lapses in `retryAfterS`. */
  | { outcome: 'held'; retryAfterS: number }
  /** A repeat of a registration already answered, with the VM's own credential: nothing was written. */
  | { outcome: 'answered'; jobId: string; nodeId: string }
  /** The job has ended or is ending: nothing was written. */
  | { outcome: 'not_waiting'; jobId: string }
  /** The node is bound and ready (again, for a repeat: the job row may say ready already). */
  | { outcome: 'bound'; claim: ConsumedToken; nodeId: string; facts: NodeFacts };

/** Phases in which the job takes a first registration (the VM may boot before the create returned). */
const WAITING = ['provisioning', 'bootstrapping', 'registering'];

class NotWaiting extends Error {}

/**
 * Binds the VM's node unless its job is no longer waiting. The job row is updated (to
 * 'registering') before the node is written: on PostgreSQL that takes the row's lock, and SQLite
 * has one writer, so this serialises with the workflow recording 'decommissioning' (also an update
 * of that row): either the node is written first and the job's compensation, which runs after that
 * record, unbinds it by job id, or the job is already ending and no node is written.
 * A repeat (the earlier attempt's answer was lost) keeps the node row and replaces its credential.
 */
export async function registerNode(db: Db, request: RegisterRequest): Promise<Registration> {
  const now = request.now ?? new Date();
  const leaseMs = request.leaseMs ?? DEFAULT_CLAIM_LEASE_MS;
  const at = now.toISOString();
  // Read outside the transaction: its first statement must be a write (see claimRegistrationToken).
  const verified = await verifyRegistrationToken(db, request.token);
  if (!verified) return { outcome: 'invalid' };
  try {
    return await db.transaction().execute(async (trx): Promise<Registration> => {
      const claim = await claimRegistrationToken(trx, verified, now, leaseMs);
      if (!claim) {
        const held = await claimHeldForS(trx, verified.jobId, now, leaseMs);
        if (held !== undefined) return { outcome: 'held', retryAfterS: held };
        if (request.vmCredential && (await answeredBefore(trx, verified, request.credentialHash))) {
          return { outcome: 'answered', jobId: verified.jobId, nodeId: nodeIdOf(verified.jobId) };
        }
        return { outcome: 'invalid' };
      }
      const nodeId = nodeIdOf(claim.jobId);
      const job = await trx
        .updateTable('jobs')
        .set({ phase: sql<string>`case when phase = 'ready' then phase else 'registering' end`, updated_at: at })
        .where('job_id', '=', claim.jobId)
        .where('tenant_id', '=', claim.tenantId)
        .where((eb) =>
          eb.or([
            eb('phase', 'in', WAITING),
            // A repeat after the job recorded the node: only while that node is still ready.
            eb.and([eb('phase', '=', 'ready'), eb.exists(eb.selectFrom('nodes').select('node_id').where('node_id', '=', nodeId).where('status', '=', 'ready'))]),
          ]),
        )
        .returning(['provider', 'vm_id', 'pool', 'hostname'])
        .executeTakeFirst();
      if (!job) throw new NotWaiting();
      const { hostname, ...reported } = request.facts;
      const facts: NodeFacts = { ...definedOnly(reported), hostname: typeof hostname === 'string' ? hostname : (job.hostname ?? vmName(claim.jobId)) };
      const bound = await trx
        .insertInto('nodes')
        .values({
          node_id: nodeId,
          tenant_id: claim.tenantId,
          job_id: claim.jobId,
          provider: job.provider,
          vm_id: job.vm_id,
          hostname: facts.hostname,
          status: 'ready',
          provisioned: 1,
          facts: JSON.stringify(facts),
          created_at: at,
          updated_at: at,
          pool: job.pool,
          agent_token_hash: request.credentialHash,
        })
        // Only the latest answer's credential works.
        .onConflict((oc) => oc.column('node_id').doUpdateSet({ agent_token_hash: request.credentialHash, updated_at: at }).where('nodes.status', '=', 'ready'))
        .executeTakeFirst();
      if (Number(bound.numInsertedOrUpdatedRows ?? 0) !== 1) throw new NotWaiting();
      // A VM that calls back has booted: a callback during the create passed 'bootstrapping' too.
      await trx
        .insertInto('job_progress')
        .values((['bootstrapping', 'registering'] as const).map((phase) => ({ job_id: claim.jobId, phase, at, seq: PHASES.indexOf(phase) })))
        .onConflict((oc) => oc.columns(['job_id', 'phase']).doNothing())
        .execute();
      return { outcome: 'bound', claim, nodeId, facts };
    });
  } catch (err) {
    if (err instanceof NotWaiting) return { outcome: 'not_waiting', jobId: verified.jobId };
    throw err;
  }
}

/** The token was spent on binding this job's node, still ready, with this credential. */
async function answeredBefore(db: Db, token: VerifiedToken, credentialHash: string): Promise<boolean> {
  const row = await db
    .selectFrom('registration_tokens')
    .innerJoin('nodes', (join) => join.on('nodes.node_id', '=', nodeIdOf(token.jobId)).onRef('nodes.tenant_id', '=', 'registration_tokens.tenant_id'))
    .select('nodes.node_id')
    .where('registration_tokens.job_id', '=', token.jobId)
    .where('registration_tokens.used_at', 'is not', null)
    .where('registration_tokens.revoked_at', 'is', null)
    .where('nodes.job_id', '=', token.jobId)
    .where('nodes.status', '=', 'ready')
    .where('nodes.agent_token_hash', '=', credentialHash)
    .executeTakeFirst();
  return row !== undefined;
}

const definedOnly = (facts: Record<string, string | number | boolean | undefined>) =>
  Object.fromEntries(Object.entries(facts).filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined));
