import type { JobRow, NodeRow } from '../db/schema.js';

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
    created_at: row.created_at,
    updated_at: row.updated_at,
  });
}

export function nodeView(row: NodeRow) {
  return {
    node_id: row.node_id,
    job_id: row.job_id,
    provider: row.provider,
    vm_id: row.vm_id,
    hostname: row.hostname,
    status: row.status,
    ...(row.pool !== null && { pool: row.pool }),
    created_at: row.created_at,
  };
}
