import { Context } from '@temporalio/activity';
import { credentialOwners } from '../db/credentials.js';
import type { Db } from '../db/connect.js';
import { jobPhase } from '../db/jobs.js';
import { nodeStatusByVm } from '../db/nodes.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { LABEL_JOB, LABEL_TENANT, type Vm } from '../providers/types.js';
import { heartbeating } from './heartbeat.js';

export interface Orphan {
  tenantId: string;
  provider: string;
  vmId: string;
  name: string;
  jobId: string | null;
  createdAt: string | null;
  /** Why it counts as an orphan, for the report. */
  reason: string;
}

export interface OrphanSearch {
  orphans: Orphan[];
  /** VMs with Berth's labels that were looked at. */
  checked: number;
  /** Accounts that could not be listed (a revoked token, an outage); the next sweep tries again. */
  errors: Array<{ tenantId: string; provider: string; message: string }>;
}

const ENDED = new Set(['failed', 'cancelled', 'decommissioned']);

/**
 * Finds VMs that carry Berth's labels but belong to no live job or node, and are older than the
 * grace period (a VM is created before its job records it, and a compensation may be on its way).
 */
export function createOrphanActivities(deps: { db: Db; providers: ProviderRegistry }) {
  const { db, providers } = deps;

  async function whyOrphan(tenantId: string, vm: Vm): Promise<string | undefined> {
    const status = await nodeStatusByVm(db, tenantId, vm.id);
    if (status !== undefined && status !== 'decommissioned') return undefined;
    const jobId = vm.labels[LABEL_JOB];
    if (!jobId) return 'no job label';
    const phase = await jobPhase(db, tenantId, jobId);
    if (phase === undefined) return `job ${jobId} is unknown`;
    return ENDED.has(phase) ? `job ${jobId} is ${phase}` : undefined;
  }

  return {
    findOrphans: heartbeating(async (input: { graceMs: number }): Promise<OrphanSearch> => {
      const search: OrphanSearch = { orphans: [], checked: 0, errors: [] };
      const cutoff = Date.now() - input.graceMs;
      // Tokenless providers (local) hold every tenant's VMs; each cloud account is looked at per tenant.
      const owners = [{ tenantId: undefined as string | undefined, provider: 'local' }, ...(await credentialOwners(db))];
      for (const owner of owners) {
        let vms: Vm[];
        try {
          const provider = await providers.forTenant(owner.tenantId ?? '', owner.provider);
          vms = await provider.listManaged({ signal: Context.current().cancellationSignal });
        } catch (err) {
          search.errors.push({ tenantId: owner.tenantId ?? '*', provider: owner.provider, message: err instanceof Error ? err.message : String(err) });
          continue;
        }
        for (const vm of vms) {
          const tenantId = vm.labels[LABEL_TENANT];
          // An account shared by several tenants: each tenant's sweep looks at its own VMs only.
          if (!tenantId || (owner.tenantId !== undefined && tenantId !== owner.tenantId)) continue;
          search.checked++;
          if (!vm.createdAt || Date.parse(vm.createdAt) > cutoff) continue;
          const reason = await whyOrphan(tenantId, vm);
          if (reason) {
            search.orphans.push({
              tenantId,
              provider: owner.provider,
              vmId: vm.id,
              name: vm.name,
              jobId: vm.labels[LABEL_JOB] ?? null,
              createdAt: vm.createdAt,
              reason,
            });
          }
        }
      }
      return search;
    }),
  };
}
