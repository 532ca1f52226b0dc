import { sql } from 'kysely';
import { digestsEqual, sha256Hex } from '../security/tokens.js';
import type { Db } from './connect.js';
import type { NodeRow } from './schema.js';

/**
 * Stores the hash of a ready node's agent credential, replacing any earlier one. False when the
 * node is not the tenant's or not ready.
 */
export async function setNodeCredential(db: Db, args: { nodeId: string; tenantId: string; hash: string }): Promise<boolean> {
  const result = await db
    .updateTable('nodes')
    .set({ agent_token_hash: args.hash })
    .where('node_id', '=', args.nodeId)
    .where('tenant_id', '=', args.tenantId)
    .where('status', '=', 'ready')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function revokeNodeCredential(db: Db, nodeId: string): Promise<void> {
  await db.updateTable('nodes').set({ agent_token_hash: null }).where('node_id', '=', nodeId).execute();
}

export type CredentialedNode = Pick<NodeRow, 'node_id' | 'tenant_id' | 'pool'>;

/**
 * The node a credential belongs to, compared in constant time; undefined for every kind of bad
 * credential (unknown node, wrong or revoked credential, node not ready) so callers cannot tell
 * them apart.
 */
export async function checkNodeCredential(db: Db, nodeId: string, credential: string): Promise<CredentialedNode | undefined> {
  const row = await db.selectFrom('nodes').select(['node_id', 'tenant_id', 'pool', 'status', 'agent_token_hash']).where('node_id', '=', nodeId).executeTakeFirst();
  // Compare against a dummy digest when there is no credential, so every path does the same work.
  const stored = row?.agent_token_hash ?? sha256Hex('no-such-credential');
  if (!digestsEqual(sha256Hex(credential), stored) || !row?.agent_token_hash || row.status !== 'ready') return undefined;
  return { node_id: row.node_id, tenant_id: row.tenant_id, pool: row.pool };
}

export interface Heartbeat {
  nodeId: string;
  at: Date;
  cpu: number;
  memory: number;
  workloads: number;
  /** The agent says the node has drained (only counts once Berth asked it to). */
  drained?: boolean | undefined;
}

export type AgentState = 'active' | 'drain';

/**
 * Records an agent's report: the latest values on the node row, and a CPU sample for a pool
 * node. Undefined when the node is no longer ready (it was decommissioned meanwhile).
 */
export async function recordHeartbeat(db: Db, beat: Heartbeat): Promise<{ state: AgentState } | undefined> {
  const at = beat.at.toISOString();
  return db.transaction().execute(async (trx) => {
    const node = await trx
      .updateTable('nodes')
      .set({
        last_heartbeat_at: at,
        cpu: beat.cpu,
        memory: beat.memory,
        workloads: beat.workloads,
        ...(beat.workloads > 0 && { busy_at: at }),
        // The first drained report after a drain request is the one that counts.
        ...(beat.drained && {
          drained_at: sql<string | null>`case when drain_requested_at is not null and drained_at is null then ${at} else drained_at end`,
        }),
      })
      .where('node_id', '=', beat.nodeId)
      .where('status', '=', 'ready')
      .returning(['pool', 'drain_requested_at'])
      .executeTakeFirst();
    if (!node) return undefined;
    if (node.pool !== null) {
      await trx.insertInto('node_samples').values({ node_id: beat.nodeId, at, cpu: beat.cpu }).execute();
    }
    return { state: node.drain_requested_at !== null ? 'drain' : 'active' };
  });
}
