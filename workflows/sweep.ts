import { log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { Orphan } from '../activities/orphans.js';
import { describeFailure } from './describe.js';
import { retry } from './activity-options.js';

const { findOrphans, deleteVm } = proxyActivities<Activities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: '30s',
  // A sweep that cannot finish is retried by the next one, not forever.
  retry: { ...retry, maximumAttempts: 3 },
});

export interface SweepInput {
  graceMs: number;
}

export interface SweepReport {
  checked: number;
  deleted: Orphan[];
  failed: Array<Orphan & { error: string }>;
  errors: Array<{ tenantId: string; provider: string; message: string }>;
}

/** Deletes VMs that carry Berth's labels but belong to no live job or node; run by a schedule. */
export async function sweepOrphans(input: SweepInput): Promise<SweepReport> {
  const search = await findOrphans({ graceMs: input.graceMs });
  const report: SweepReport = { checked: search.checked, deleted: [], failed: [], errors: search.errors };
  for (const orphan of search.orphans) {
    try {
      await deleteVm({ provider: orphan.provider, vmId: orphan.vmId, tenantId: orphan.tenantId });
      log.warn('deleted an orphan VM', { provider: orphan.provider, vmId: orphan.vmId, tenantId: orphan.tenantId, reason: orphan.reason });
      report.deleted.push(orphan);
    } catch (err) {
      report.failed.push({ ...orphan, error: describeFailure(err) });
    }
  }
  return report;
}
