import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Db } from '../db/connect.js';
import * as jobs from '../db/jobs.js';
import * as nodes from '../db/nodes.js';
import { revokeRegistrationToken, storeRegistrationToken } from '../db/registration-tokens.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { LABEL_JOB, LABEL_MANAGED, LABEL_TENANT, ProviderError, type Vm, type VmSpec } from '../providers/types.js';
import { deriveRegistrationToken } from '../security/tokens.js';
import { vmName, type NodeFacts, type ProvisionInput } from '../workflows/messages.js';
import type { Phase } from '../workflows/phases.js';
import { buildUserData, USER_DATA_LIMITS, userDataBytes } from './cloud-init.js';
import { heartbeating } from './heartbeat.js';
import { countActivity } from './metrics.js';
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

/**
 * The job's request, as the workflow received it. With `recordPhases` (runs from
 * `patched('phases-in-activities')` on) the activity records the job's phases itself:
 * 'provisioning' when it starts and 'bootstrapping' with the VM once it is made.
 */
export type CreateVmInput = ProvisionInput & { recordPhases?: boolean | undefined };

export interface VerifyProviderInput {
  tenantId: string;
  provider: string;
  /** Given (runs from `patched('phases-in-activities')` on): records 'verifying' for this job when it starts. */
  jobId?: string | undefined;
}

export interface CreateVmResult {
  vmId: string;
  /** True when the VM already existed (an earlier attempt made it) and was taken over. */
  adopted: boolean;
}

export type RecordPhaseInput = jobs.PhaseChange;

/**
 * Turns a provider error into a Temporal failure: retryable or not, with the provider's code as
 * type. A provider that asked for a longer wait than the HTTP client waits itself (a rate limit)
 * gets it: Temporal starts the next attempt only after that delay.
 */
function asFailure(what: string, err: unknown): unknown {
  if (!(err instanceof ProviderError)) return err;
  const message = `${what}: ${err.message}`;
  if (!err.retryable) return ApplicationFailure.nonRetryable(message, err.code);
  return ApplicationFailure.create({ message, type: err.code, ...(err.retryAfterMs !== undefined && { nextRetryDelay: err.retryAfterMs }) });
}

async function providerCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw asFailure(what, err);
  }
}

export function createActivities(deps: ActivityDeps) {
  const { db, providers } = deps;

  /** The tenant's provider, its token loaded by reference; missing tokens fail without retry. */
  const providerFor = (tenantId: string, name: string) => providerCall(`using ${name}`, () => providers.forTenant(tenantId, name));

  /** Histories from before tenants were passed to the delete activities name only the job or node. */
  async function tenantOf(input: { tenantId?: string | undefined; jobId?: string; vmId?: string }): Promise<string> {
    if (input.tenantId) return input.tenantId;
    const tenantId = input.jobId ? await jobs.jobTenant(db, input.jobId) : await nodes.nodeTenantByVm(db, input.vmId ?? '');
    if (!tenantId) throw ApplicationFailure.nonRetryable('the job or node of this VM is unknown', 'NotFound');
    return tenantId;
  }

  /**
   * Records a job's phase, and counts it when the job entered it now. Never moves a job back: a
   * late write (a retried attempt, an activity that outlived a cancel) keeps the later phase.
   */
  async function record(jobId: string, phase: Phase, details: Pick<jobs.PhaseChange, 'vmId'> = {}): Promise<void> {
    if (await jobs.recordPhase(db, { jobId, phase, at: new Date().toISOString(), ...details })) countActivity('berth_job_phases', { phase });
  }

  /** The create's phases, recorded by the activity itself when the workflow asks for it. */
  function recordingPhases(create: (input: CreateVmInput) => Promise<CreateVmResult>) {
    return async (input: CreateVmInput): Promise<CreateVmResult> => {
      // Before the token exists: a VM can call back only once its job reads 'provisioning' or later.
      if (input.recordPhases) await record(input.jobId, 'provisioning');
      const made = await create(input);
      // The VM may have called back meanwhile (the API recorded 'registering'): that phase is kept.
      if (input.recordPhases) await record(input.jobId, 'bootstrapping', { vmId: made.vmId });
      return made;
    };
  }

  return {
    ...createOrphanActivities(deps),
    ...createPoolActivities(deps),

    verifyProvider: heartbeating(async (input: VerifyProviderInput): Promise<void> => {
      if (input.jobId !== undefined) await record(input.jobId, 'verifying');
      const provider = await providerFor(input.tenantId, input.provider);
      await providerCall('verifying the provider token', () => provider.verify({ signal: Context.current().cancellationSignal }));
    }),

    /**
     * Issues the registration token (only its hash is stored) and creates the VM with it, at most
     * once per job: the VM's name and job label are derived from the job id, and any VM that
     * already carries the label is adopted instead of creating another.
     */
    createVm: heartbeating(
      recordingPhases(async (input: CreateVmInput): Promise<CreateVmResult> => {
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
          await providerCall('finishing the VM', () => provider.adopt(vm, spec, { signal }));
          countActivity('berth_vm_creates', { provider: provider.name, outcome: 'adopted' });
          return { vmId: vm.id, adopted: true };
        };

        const existing = await providerCall('listing VMs', () => provider.listByJob(input.jobId, { signal }));
        const found = await keepOne(existing);
        if (found) return adopt(found);
        try {
          const vm = await provider.create(spec, { signal });
          countActivity('berth_vm_creates', { provider: provider.name, outcome: 'created' });
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
      }),
    ),

    /** Compensation: deletes every VM carrying the job's label (none is fine). */
    deleteJobVms: heartbeating(async (input: { provider: string; jobId: string; tenantId?: string }): Promise<{ deleted: string[] }> => {
      const provider = await providerFor(await tenantOf(input), input.provider);
      const vms = await providerCall('listing VMs', () => provider.listByJob(input.jobId));
      const deleted: string[] = [];
      for (const vm of vms) {
        const outcome = await providerCall(`deleting VM ${vm.id}`, () => provider.delete(vm.id));
        if (outcome === 'deleted') deleted.push(vm.id);
      }
      countActivity('berth_vm_deletes', { provider: provider.name }, deleted.length);
      return { deleted };
    }),

    deleteVm: heartbeating(async (input: { provider: string; vmId: string; tenantId?: string }): Promise<void> => {
      const provider = await providerFor(await tenantOf(input), input.provider);
      const outcome = await providerCall(`deleting VM ${input.vmId}`, () => provider.delete(input.vmId));
      if (outcome === 'deleted') countActivity('berth_vm_deletes', { provider: provider.name });
    }),

    async revokeRegistrationToken(input: { jobId: string }): Promise<void> {
      await revokeRegistrationToken(db, input.jobId);
      // Runs from before the API bound nodes do not unbind a node they never heard of: this does.
      await nodes.unbindUnrecordedJobNode(db, input.jobId);
    },

    /** Compensation: the job's node, bound by the API when it took the callback, is no longer ready. */
    async unbindJobNode(input: { jobId: string }): Promise<void> {
      await nodes.unbindJobNode(db, input.jobId);
    },

    async bindNode(input: { jobId: string; tenantId: string; provider: string; vmId: string; nodeId: string; facts: NodeFacts; pool?: string | undefined }): Promise<void> {
      await nodes.bindNode(db, {
        nodeId: input.nodeId,
        tenantId: input.tenantId,
        jobId: input.jobId,
        provider: input.provider,
        vmId: input.vmId,
        hostname: input.facts.hostname,
        facts: JSON.stringify(input.facts),
        pool: input.pool,
      });
    },

    async setNodeStatus(input: { nodeId: string; status: nodes.NodeStatus }): Promise<void> {
      await nodes.setNodeStatus(db, input.nodeId, input.status);
    },

    /** Updates the job projection the API reads. Run as a local activity at every phase change. */
    async recordPhase(input: RecordPhaseInput): Promise<void> {
      if (await jobs.recordPhase(db, input)) countActivity('berth_job_phases', { phase: input.phase });
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
