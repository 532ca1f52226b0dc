// Nodes: a VM bound to a tenant once it registered. Every query on `nodes` outside the pools and
// the node agent's credential (node-agent.ts) lives here.
import type { Db } from './connect.js';
import type { NodeRow } from './schema.js';

export type NodeStatus = 'ready' | 'decommissioning' | 'decommissioned';

/** A node with the region, plan and monthly price of the job that made it (null for a node registered by hand). */
export type NodeWithJob = NodeRow & { region: string | null; plan: string | null; price_cents: number | null };

function selectNodesWithJob(db: Db, tenantId: string) {
  return db
    .selectFrom('nodes')
    .leftJoin('jobs', 'jobs.job_id', 'nodes.job_id')
    .selectAll('nodes')
    .select(['jobs.region as region', 'jobs.plan as plan', 'jobs.price_cents as price_cents'])
    .where('nodes.tenant_id', '=', tenantId);
}

/** The tenant's nodes, newest first, each with its job's region, plan and price. */
export function listNodes(db: Db, tenantId: string, filter: { status?: NodeStatus | undefined } = {}): Promise<NodeWithJob[]> {
  let select = selectNodesWithJob(db, tenantId);
  if (filter.status) select = select.where('nodes.status', '=', filter.status);
  return select.orderBy('nodes.created_at', 'desc').orderBy('nodes.node_id').execute();
}

/** The tenant's node with its job's region, plan and price; another tenant's is as absent as one that never existed. */
export function findNodeWithJob(db: Db, tenantId: string, nodeId: string): Promise<NodeWithJob | undefined> {
  return selectNodesWithJob(db, tenantId).where('nodes.node_id', '=', nodeId).executeTakeFirst();
}

/** The tenant's node; another tenant's is as absent as one that never existed. */
export function findNode(db: Db, tenantId: string, nodeId: string): Promise<NodeRow | undefined> {
  return db.selectFrom('nodes').selectAll().where('node_id', '=', nodeId).where('tenant_id', '=', tenantId).executeTakeFirst();
}

/** The status of the tenant's node on this VM, undefined when no node has it. */
export async function nodeStatusByVm(db: Db, tenantId: string, vmId: string): Promise<string | undefined> {
  return (await db.selectFrom('nodes').select('status').where('tenant_id', '=', tenantId).where('vm_id', '=', vmId).executeTakeFirst())?.status;
}

/** The tenant of the node on this VM (any tenant's), undefined when no node has it. */
export async function nodeTenantByVm(db: Db, vmId: string): Promise<string | undefined> {
  return (await db.selectFrom('nodes').select('tenant_id').where('vm_id', '=', vmId).executeTakeFirst())?.tenant_id;
}

export interface NewBoundNode {
  nodeId: string;
  tenantId: string;
  jobId: string;
  provider: string;
  vmId: string;
  hostname: string;
  /** What the VM reported about itself, as JSON. */
  facts: string;
  pool?: string | undefined;
}

/** A registered VM becomes the tenant's ready node. Idempotent: a node that exists is kept as it is. */
export async function bindNode(db: Db, node: NewBoundNode, now = new Date()): Promise<void> {
  const at = now.toISOString();
  await db
    .insertInto('nodes')
    .values({
      node_id: node.nodeId,
      tenant_id: node.tenantId,
      job_id: node.jobId,
      provider: node.provider,
      vm_id: node.vmId,
      hostname: node.hostname,
      status: 'ready',
      provisioned: 1,
      facts: node.facts,
      created_at: at,
      updated_at: at,
      pool: node.pool ?? null,
    })
    .onConflict((oc) => oc.column('node_id').doNothing())
    .execute();
}

export async function setNodeStatus(db: Db, nodeId: string, status: NodeStatus, now = new Date()): Promise<void> {
  await db
    .updateTable('nodes')
    // A node that is gone keeps no credential its agent could use.
    .set({ status, updated_at: now.toISOString(), ...(status === 'decommissioned' && { agent_token_hash: null }) })
    .where('node_id', '=', nodeId)
    .execute();
}

/**
 * Unbinds the job's node, whoever bound it (the API at registration, or an older run's activity):
 * a job that ends leaves no ready node and no credential behind. Called after the job's phase
 * says it is ending, so the register transaction, which checks that phase, binds no node after.
 */
export async function unbindJobNode(db: Db, jobId: string, now = new Date()): Promise<void> {
  await db
    .updateTable('nodes')
    .set({ status: 'decommissioned', agent_token_hash: null, updated_at: now.toISOString() })
    .where('job_id', '=', jobId)
    .where('status', '!=', 'decommissioned')
    .execute();
}

/**
 * Unbinds the job's node only if the job never recorded it (so not a ready node being
 * decommissioned): what a run from before the API bound nodes cannot know about.
 */
export async function unbindUnrecordedJobNode(db: Db, jobId: string, now = new Date()): Promise<void> {
  await db
    .updateTable('nodes')
    .set({ status: 'decommissioned', agent_token_hash: null, updated_at: now.toISOString() })
    .where('job_id', '=', jobId)
    .where('status', '!=', 'decommissioned')
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('jobs').select('job_id').where('job_id', '=', jobId).where('node_id', 'is not', null))))
    .execute();
}

/** The VM of a node bound before its job knew the VM (it called back while the create returned). */
export async function fillNodeVm(db: Db, jobId: string, vmId: string): Promise<void> {
  await db.updateTable('nodes').set({ vm_id: vmId }).where('job_id', '=', jobId).where('vm_id', 'is', null).execute();
}
