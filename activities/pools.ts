import { ApplicationFailure } from '@temporalio/activity';
import { admitJob } from '../db/admission.js';
import {
  deletePoolRows,
  getPool,
  getTemplate,
  poolCpu,
  poolFailures,
  poolMembers,
  pruneSamples,
  recordPoolEvents,
  requestDrain,
  setPoolDesired,
  type RecordedEvent,
} from '../db/pools.js';
import { memberState, type PoolNumbers } from '../placement/pool-decision.js';
import { DEFAULT_AUTOSCALING, type PoolStatus } from '../placement/pool-spec.js';
import { LABEL_POOL, monthlyCents } from '../providers/types.js';
import type { ProvisionInput } from '../workflows/messages.js';
import { heartbeating } from './heartbeat.js';
import type { ActivityDeps } from './index.js';

const DEFAULT_REGISTRATION_TTL_MS = 30 * 60_000;
/** Provider look-ups per pass for nodes that stopped heartbeating: is their VM still there? */
const MAX_VM_CHECKS = 10;

export interface PoolView extends PoolNumbers {
  generation: number;
  /** For the Web UI summary. */
  min: number;
  max: number;
}

export type Admission = { admitted: true; input: ProvisionInput; summary: string } | { admitted: false; code: string; message: string };

/** Thrown inside the admission transaction when the job row already exists (a retried activity). */
class AlreadyAdmitted extends Error {}

export function createPoolActivities(deps: ActivityDeps) {
  const { db, providers } = deps;

  const activities = {
    /**
     * The pool's spec and numbers, read at one moment: members with their nodes, the CPU average
     * over the window, recent failures, and whether silent nodes still have a VM. Read-only. The
     * reconciler runs it as a local activity, which does not heartbeat; as a regular one it would.
     */
    readPool: heartbeating(async (input: { tenantId: string; name: string }): Promise<PoolView | undefined> => {
      const pool = await getPool(db, input.tenantId, input.name);
      if (!pool) return undefined;
      const now = Date.now();
      const members = await poolMembers(db, input.tenantId, input.name);
      // A node that stopped heartbeating may have lost its VM: then it is replaced whatever the count.
      const silent = members.filter((m) => memberState(m, pool.spec, now) === 'unhealthy').slice(0, MAX_VM_CHECKS);
      for (const member of silent) {
        try {
          const provider = await providers.forTenant(input.tenantId, member.node!.provider);
          member.vmGone = (await provider.listByJob(member.jobId)).length === 0;
        } catch {
          // Unknown is not gone: the health rules decide.
        }
      }
      await pruneSamples(db, now);
      return {
        spec: pool.spec,
        desired: pool.desired,
        templateVersion: pool.templateVersion,
        deleting: pool.deleting,
        members,
        cpu: await poolCpu(db, input.tenantId, input.name, pool.spec.autoscaling?.windowMs ?? DEFAULT_AUTOSCALING.windowMs, now),
        failures: await poolFailures(db, input.tenantId, input.name, pool.createdAt),
        now,
        generation: pool.generation,
        min: pool.spec.min,
        max: pool.spec.max,
      };
    }),

    /** The reconciler's new desired size; false when the spec changed meanwhile (decide again). */
    async setPoolDesired(input: { tenantId: string; name: string; generation: number; desired: number }): Promise<boolean> {
      return setPoolDesired(db, input);
    },

    async recordPoolEvents(input: { tenantId: string; name: string; events: RecordedEvent[]; status: PoolStatus }): Promise<void> {
      await recordPoolEvents(db, input);
    },

    async requestDrain(input: { tenantId: string; nodeIds: string[] }): Promise<void> {
      await requestDrain(db, input.tenantId, input.nodeIds);
    },

    /**
     * Admits one new node of the pool (tier, cap, budget: the same conditional UPDATE as an API
     * request) and records its job, in one transaction. The job id comes from the workflow, so a
     * retried activity finds its own row instead of admitting twice.
     */
    async admitPoolNode(input: { tenantId: string; pool: string; jobId: string; templateVersion: number }): Promise<Admission> {
      const template = await getTemplate(db, input.tenantId, input.pool, input.templateVersion);
      if (!template) throw ApplicationFailure.nonRetryable(`pool ${input.pool} has no template version ${input.templateVersion}`, 'NotFound');
      const t = template.template;
      const hostname = `${input.pool}-${input.jobId.slice(0, 8)}`;
      const provisionInput: ProvisionInput = {
        jobId: input.jobId,
        tenantId: input.tenantId,
        provider: t.provider,
        region: t.region,
        plan: t.plan,
        hostname,
        sshKey: t.ssh_key,
        image: t.image,
        labels: { ...t.labels, [LABEL_POOL]: input.pool },
        network: t.network,
        firewall: t.firewall,
        publicIpv4: t.public_ipv4,
        ipv6: t.ipv6,
        registrationTtlMs: deps.registrationTtlMs ?? DEFAULT_REGISTRATION_TTL_MS,
        pool: { name: input.pool, templateVersion: input.templateVersion },
      };
      const admitted: Admission = {
        admitted: true,
        input: provisionInput,
        summary: `${t.provider} ${t.plan} in ${t.region} for pool ${input.pool} of tenant ${input.tenantId}`,
      };
      const cents = monthlyCents(template.plan);
      const now = new Date().toISOString();
      try {
        return await db.transaction().execute(async (trx) => {
          const refusal = await admitJob(trx, input.tenantId, cents);
          const existing = await trx.selectFrom('jobs').select('pool').where('job_id', '=', input.jobId).executeTakeFirst();
          if (existing) throw new AlreadyAdmitted();
          if (refusal) return { admitted: false, code: refusal.code, message: refusal.message };
          await trx
            .insertInto('jobs')
            .values({
              job_id: input.jobId,
              tenant_id: input.tenantId,
              provider: t.provider,
              region: t.region,
              plan: t.plan,
              hostname,
              phase: 'queued',
              vm_id: null,
              node_id: null,
              error: null,
              idempotency_key: null,
              request_hash: `pool:${input.pool}:${input.templateVersion}`,
              created_at: now,
              updated_at: now,
              price_cents: cents,
              holds_slot: 1,
              pool: input.pool,
              template_version: input.templateVersion,
            })
            .execute();
          await trx.insertInto('job_progress').values({ job_id: input.jobId, phase: 'queued', at: now, seq: 0 }).execute();
          return admitted;
        });
      } catch (err) {
        // Rolled back, admission included: the first attempt already holds the slot.
        if (err instanceof AlreadyAdmitted) return admitted;
        throw err;
      }
    },

    /**
     * Admits new nodes of the pool in order, each as admitPoolNode does, and stops at the first
     * refusal: one activity for a whole scale-out instead of one per node.
     */
    async admitPoolNodes(input: { tenantId: string; pool: string; jobIds: string[]; templateVersion: number }) {
      const admitted: Array<Extract<Admission, { admitted: true }>> = [];
      for (const jobId of input.jobIds) {
        const admission = await activities.admitPoolNode({ tenantId: input.tenantId, pool: input.pool, jobId, templateVersion: input.templateVersion });
        if (!admission.admitted) return { admitted, refusal: { code: admission.code, message: admission.message } };
        admitted.push(admission);
      }
      return { admitted };
    },

    /** The last step of a pool's deletion, once no member is left. */
    async finishPoolDeletion(input: { tenantId: string; name: string }): Promise<void> {
      await deletePoolRows(db, input.tenantId, input.name);
    },
  };
  return activities;
}
