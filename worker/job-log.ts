// Every worker log line of a job carries its `job_id` and `tenant_id`. The SDK's lines (activity
// and workflow lifecycle, failures) name the workflow, `provision-<job_id>` or
// `decommission-node-<job_id>`, not the tenant: it is looked up once per job and kept.
import { LRUCache } from 'lru-cache';

export interface JobFields {
  job_id?: string;
  tenant_id?: string;
}

/** The job a workflow id belongs to; undefined for pools, the sweep and anything else. */
export function jobOfWorkflow(workflowId: unknown): string | undefined {
  if (typeof workflowId !== 'string') return undefined;
  return /^(?:provision-|decommission-node-)(.+)$/.exec(workflowId)?.[1];
}

/**
 * Returns `write(meta, emit)`: calls `emit` with the job's fields for a line of a job. Lines stay
 * in order: while one waits for its job's tenant, the lines after it wait too (once per job).
 */
export function jobLogFields(lookupTenant: (jobId: string) => Promise<string | undefined>) {
  // '' once looked up and not found (a job row removed after a start that never happened).
  const tenants = new LRUCache<string, string>({ max: 10_000 });
  let queue: Promise<void> = Promise.resolve();
  let waiting = 0;

  const fieldsOf = (jobId: string | undefined): JobFields => {
    if (!jobId) return {};
    const tenantId = tenants.get(jobId);
    return tenantId ? { job_id: jobId, tenant_id: tenantId } : { job_id: jobId };
  };

  return function write(meta: Record<string, unknown> | undefined, emit: (fields: JobFields) => void): void {
    const jobId = jobOfWorkflow(meta?.workflowId ?? meta?.workflow_id);
    if (waiting === 0 && (!jobId || tenants.has(jobId))) return emit(fieldsOf(jobId));
    waiting++;
    queue = queue
      .then(async () => {
        if (jobId && !tenants.has(jobId)) tenants.set(jobId, (await lookupTenant(jobId).catch(() => undefined)) ?? '');
        emit(fieldsOf(jobId));
      })
      .catch(() => undefined)
      .finally(() => waiting--);
  };
}
