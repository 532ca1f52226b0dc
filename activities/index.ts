import { ApplicationFailure, Context } from '@temporalio/activity';
import { releaseJobSlot } from '../db/admission.js';
import type { Db } from '../db/connect.js';
import { revokeRegistrationToken, storeRegistrationToken } from '../db/registration-tokens.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { LABEL_JOB, LABEL_MANAGED, LABEL_TENANT, ProviderError, type Vm, type VmSpec } from '../providers/types.js';
import { deriveRegistrationToken } from '../security/tokens.js';
import type { NodeFacts, ProvisionInput } from '../workflows/messages.js';
import { PHASES, type Phase } from '../workflows/phases.js';
import { buildUserData, USER_DATA_LIMITS, userDataBytes } from './cloud-init.js';
import { createOrphanActivities } from './orphans.js';
import { createPoolActivities } from './pools.js';
import { getTemplate } from '../db/pools.js';

export interface ActivityDeps {
  db: Db;
  providers: ProviderRegistry;
  /** Base URL VMs call back on. */
  publicUrl: string;
  /** Key registration tokens are derived from; tokens never leave the activity. */
  registrationKey: Buffer;
  /** Registration window of the jobs pools start (default 30m). */
  registrationTtlMs?: number | undefined;
  /** How often node agents report (default 15s). */
  heartbeatIntervalMs?: number | undefined;
}

/** The job's request, as the workflow received it. */
export type CreateVmInput = ProvisionInput;

export interface CreateVmResult {
  vmId: string;
  /** True when the VM already existed (an earlier attempt made it) and was taken over. */
  adopted: boolean;
}

export interface RecordPhaseInput {
  jobId: string;
  phase: Phase;
  at: string;
  vmId?: string | undefined;
  nodeId?: string | undefined;
  error?: string | undefined;
}

export const vmName = (jobId: string) => `berth-${jobId}`;

const SLOT_RELEASING: ReadonlySet<Phase> = new Set(['failed', 'cancelled', 'decommissioned']);

/** Turns a provider error into a Temporal failure: retryable or not, with the provider's code as type. */
function asFailure(what: string, err: unknown): unknown {
  if (!(err instanceof ProviderError)) return err;
  const message = `${what}: ${err.message}`;
  return err.retryable ? ApplicationFailure.retryable(message, err.code) : ApplicationFailure.nonRetryable(message, err.code);
}

async function providerCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw asFailure(what, err);
  }
}

/** Heartbeats while a slow call runs, so a dead worker is noticed within the heartbeat timeout. */
async function withHeartbeat<T>(call: Promise<T>): Promise<T> {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(), 1_000);
  try {
    return await call;
  } finally {
    clearInterval(timer);
  }
}

export function createActivities(deps: ActivityDeps) {
  const { db, providers } = deps;

  /** The tenant's provider, its token loaded by reference; missing tokens fail without retry. */
  const providerFor = (tenantId: string, name: string) => providerCall(`using ${name}`, () => providers.forTenant(tenantId, name));

  /** Histories from before tenants were passed to the delete activities name only the job or node. */
  async function tenantOf(input: { tenantId?: string | undefined; jobId?: string; vmId?: string }): Promise<string> {
    if (input.tenantId) return input.tenantId;
    const row = input.jobId
      ? await db.selectFrom('jobs').select('tenant_id').where('job_id', '=', input.jobId).executeTakeFirst()
      : await db.selectFrom('nodes').select('tenant_id').where('vm_id', '=', input.vmId ?? '').executeTakeFirst();
    if (!row) throw ApplicationFailure.nonRetryable('the job or node of this VM is unknown', 'NotFound');
    return row.tenant_id;
  }

  return {
    ...createOrphanActivities(deps),
    ...createPoolActivities(deps),

    async verifyProvider(input: { tenantId: string; provider: string }): Promise<void> {
      const provider = await providerFor(input.tenantId, input.provider);
      await providerCall('verifying the provider token', () => provider.verify({ signal: Context.current().cancellationSignal }));
    },

    /**
     * Issues the registration token (only its hash is stored) and creates the VM with it, at most
     * once per job: the VM's name and job label are derived from the job id, and any VM that
     * already carries the label is adopted instead of creating another.
     */
    async createVm(input: CreateVmInput): Promise<CreateVmResult> {
      const provider = await providerFor(input.tenantId, input.provider);
      const signal = Context.current().cancellationSignal;
      const token = deriveRegistrationToken(deps.registrationKey, input.tenantId, input.jobId);
      await storeRegistrationToken(db, { jobId: input.jobId, tenantId: input.tenantId, token, ttlMs: input.registrationTtlMs });

      const name = vmName(input.jobId);
      // A pool's template may add a user-data part and a workload command: loaded here by
      // reference, so neither passes through Temporal.
      const template = input.pool ? await getTemplate(db, input.tenantId, input.pool.name, input.pool.templateVersion) : undefined;
      const userData = buildUserData(
        {
          registerUrl: `${deps.publicUrl}/cp/api/v1/cluster/register`,
          token,
          tenantId: input.tenantId,
          hostname: input.hostname ?? name,
        },
        {
          heartbeatIntervalS: Math.round((deps.heartbeatIntervalMs ?? 15_000) / 1000),
          workloadCommand: template?.template.workload_command,
          extraUserData: template?.userData ?? undefined,
        },
      );
      const limit = USER_DATA_LIMITS[provider.name];
      if (userDataBytes(userData) > limit) {
        throw ApplicationFailure.nonRetryable(`the user-data is ${userDataBytes(userData)} bytes; ${provider.name} accepts at most ${limit}`, 'user_data_too_large');
      }
      const labels = { ...input.labels, [LABEL_JOB]: input.jobId, [LABEL_TENANT]: input.tenantId, [LABEL_MANAGED]: 'true' };
      const spec: VmSpec = {
        name,
        region: input.region,
        plan: input.plan,
        image: input.image,
        sshKey: input.sshKey,
        userData,
        labels,
        network: input.network,
        firewall: input.firewall,
        publicIpv4: input.publicIpv4,
        ipv6: input.ipv6,
      };
      const adopt = async (vm: Vm): Promise<CreateVmResult> => {
        await providerCall('finishing the VM', () => withHeartbeat(provider.adopt(vm, spec, { signal })));
        return { vmId: vm.id, adopted: true };
      };

      const existing = await providerCall('listing VMs', () => provider.listByJob(input.jobId, { signal }));
      const found = await keepOne(existing);
      if (found) return adopt(found);
      try {
        const vm = await withHeartbeat(provider.create(spec, { signal }));
        return { vmId: vm.id, adopted: false };
      } catch (err) {
        if (!(err instanceof ProviderError && err.code === 'uniqueness_error')) throw asFailure('creating the VM', err);
        // The name is taken: ours if it carries this job's label (a lost answer), else someone else's.
        const vm = await providerCall('looking up the VM', () => provider.findByName(name, { signal }));
        if (vm?.labels[LABEL_JOB] === input.jobId) return adopt(vm);
        if (vm) throw ApplicationFailure.nonRetryable(`a VM named ${name} exists and does not belong to this job`, 'uniqueness_error');
        throw ApplicationFailure.retryable(`the name ${name} is taken but no VM has it yet`, 'uniqueness_error');
      }

      /** One job owns at most one VM: keep the oldest, delete any extra. */
      async function keepOne(vms: Vm[]): Promise<Vm | undefined> {
        const [first, ...extra] = vms;
        for (const vm of extra) await providerCall('deleting a duplicate VM', () => provider.delete(vm.id, { signal }));
        return first;
      }
    },

    /** Compensation: deletes every VM carrying the job's label (none is fine). */
    async deleteJobVms(input: { provider: string; jobId: string; tenantId?: string }): Promise<{ deleted: string[] }> {
      const provider = await providerFor(await tenantOf(input), input.provider);
      const vms = await providerCall('listing VMs', () => provider.listByJob(input.jobId));
      const deleted: string[] = [];
      for (const vm of vms) {
        const outcome = await providerCall(`deleting VM ${vm.id}`, () => withHeartbeat(provider.delete(vm.id)));
        if (outcome === 'deleted') deleted.push(vm.id);
      }
      return { deleted };
    },

    async deleteVm(input: { provider: string; vmId: string; tenantId?: string }): Promise<void> {
      const provider = await providerFor(await tenantOf(input), input.provider);
      await providerCall(`deleting VM ${input.vmId}`, () => withHeartbeat(provider.delete(input.vmId)));
    },

    async revokeRegistrationToken(input: { jobId: string }): Promise<void> {
      await revokeRegistrationToken(db, input.jobId);
    },

    async bindNode(input: {
      jobId: string;
      tenantId: string;
      provider: string;
      vmId: string;
      nodeId: string;
      facts: NodeFacts;
      pool?: string | undefined;
    }): Promise<void> {
      const now = new Date().toISOString();
      await db
        .insertInto('nodes')
        .values({
          node_id: input.nodeId,
          tenant_id: input.tenantId,
          job_id: input.jobId,
          provider: input.provider,
          vm_id: input.vmId,
          hostname: input.facts.hostname,
          status: 'ready',
          provisioned: 1,
          facts: JSON.stringify(input.facts),
          created_at: now,
          updated_at: now,
          pool: input.pool ?? null,
        })
        .onConflict((oc) => oc.column('node_id').doNothing())
        .execute();
    },

    async setNodeStatus(input: { nodeId: string; status: 'ready' | 'decommissioning' | 'decommissioned' }): Promise<void> {
      await db
        .updateTable('nodes')
        // A node that is gone keeps no credential its agent could use.
        .set({ status: input.status, updated_at: new Date().toISOString(), ...(input.status === 'decommissioned' && { agent_token_hash: null }) })
        .where('node_id', '=', input.nodeId)
        .execute();
    },

    /** Updates the job projection the API reads. Run as a local activity at every phase change. */
    async recordPhase(input: RecordPhaseInput): Promise<void> {
      await db.transaction().execute(async (trx) => {
        await trx
          .updateTable('jobs')
          .set({
            phase: input.phase,
            updated_at: input.at,
            ...(input.vmId !== undefined && { vm_id: input.vmId }),
            ...(input.nodeId !== undefined && { node_id: input.nodeId }),
            ...(input.error !== undefined && { error: input.error }),
          })
          .where('job_id', '=', input.jobId)
          .execute();
        await trx
          .insertInto('job_progress')
          .values({ job_id: input.jobId, phase: input.phase, at: input.at, seq: PHASES.indexOf(input.phase) })
          .onConflict((oc) => oc.columns(['job_id', 'phase']).doNothing())
          .execute();
        // The end of a job, or of its node, frees its place under the tenant's cap and budget.
        if (SLOT_RELEASING.has(input.phase)) await releaseJobSlot(trx, input.jobId);
      });
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
