// Rows the route and database tests start from, written straight into the database.
import { expect } from 'vitest';
import type { Db } from '../../db/connect.js';
import { setNodeCredential } from '../../db/node-agent.js';
import { storeRegistrationToken } from '../../db/registration-tokens.js';
import { deriveRegistrationToken, newSecretToken, randomId, sha256Hex } from '../../security/tokens.js';

/** A job waiting for its VM (or in `phase`), with its registration token stored. */
export async function waitingJob(db: Db, options: { tenantId: string; phase?: string; vmId?: string | null; pool?: string | null }): Promise<{ jobId: string; token: string }> {
  const { tenantId } = options;
  const jobId = `job${randomId(10)}`;
  const at = new Date().toISOString();
  await db
    .insertInto('jobs')
    .values({
      job_id: jobId,
      tenant_id: tenantId,
      provider: 'local',
      region: 'local',
      plan: 'local-1',
      hostname: null,
      phase: options.phase ?? 'bootstrapping',
      vm_id: options.vmId ?? null,
      node_id: null,
      error: null,
      idempotency_key: null,
      request_hash: 'x',
      created_at: at,
      updated_at: at,
      pool: options.pool ?? null,
    })
    .execute();
  const token = deriveRegistrationToken(Buffer.alloc(32, 7), tenantId, jobId);
  await storeRegistrationToken(db, { jobId, tenantId, token, ttlMs: 60_000 });
  return { jobId, token };
}

/** A ready node registered by hand (no job), with a fresh agent credential. */
export async function agentNode(db: Db, options: { tenantId: string; pool?: string | null }): Promise<{ nodeId: string; credential: string }> {
  const { tenantId } = options;
  const nodeId = `node-${randomId(12)}`;
  const now = new Date().toISOString();
  await db
    .insertInto('nodes')
    .values({
      node_id: nodeId,
      tenant_id: tenantId,
      job_id: null,
      provider: 'local',
      vm_id: null,
      hostname: nodeId,
      status: 'ready',
      facts: '{}',
      created_at: now,
      updated_at: now,
      pool: options.pool ?? null,
    })
    .execute();
  const credential = newSecretToken('bnt');
  expect(await setNodeCredential(db, { nodeId, tenantId, hash: sha256Hex(credential) })).toBe(true);
  return { nodeId, credential };
}
