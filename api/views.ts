import type { NodeWithJob } from '../db/nodes.js';
import type { JobRow } from '../db/schema.js';

/** Drops null fields, so optional facts are absent rather than null. */
export function compact<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined)) as Partial<T>;
}

export function jobView(row: JobRow) {
  return compact({
    job_id: row.job_id,
    phase: row.phase,
    provider: row.provider,
    region: row.region,
    plan: row.plan,
    hostname: row.hostname,
    node_id: row.node_id,
    vm_id: row.vm_id,
    error: row.error,
    pool: row.pool,
    created_at: row.created_at,
    updated_at: row.updated_at,
  });
}

export function nodeView(row: NodeWithJob) {
  return {
    node_id: row.node_id,
    job_id: row.job_id,
    provider: row.provider,
    vm_id: row.vm_id,
    hostname: row.hostname,
    status: row.status,
    region: row.region,
    plan: row.plan,
    price_monthly_cents: row.price_cents,
    ...(row.pool !== null && { pool: row.pool }),
    created_at: row.created_at,
  };
}

/** What the VM reported at registration; a row that does not hold a JSON object reads as no facts. */
function parseFacts(facts: string): Record<string, string | number | boolean> {
  try {
    const value: unknown = JSON.parse(facts);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
    return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string | number | boolean] => ['string', 'number', 'boolean'].includes(typeof entry[1])));
  } catch {
    return {};
  }
}

/** The node as listed, its facts and its agent's last report; never its credential. */
export function nodeDetailView(row: NodeWithJob) {
  return {
    ...nodeView(row),
    facts: parseFacts(row.facts),
    agent: {
      last_heartbeat_at: row.last_heartbeat_at,
      cpu: row.cpu,
      memory: row.memory,
      workloads: row.workloads,
      busy_at: row.busy_at,
      drain_requested_at: row.drain_requested_at,
      drained_at: row.drained_at,
    },
    updated_at: row.updated_at,
  };
}
