import { createHash } from 'node:crypto';
import type { Db } from '../db/connect.js';
import { poolCpu, poolMembers, templatesInUse, type Pool } from '../db/pools.js';
import { countMembers, memberState } from '../placement/pool-decision.js';
import { DEFAULT_AUTOSCALING, type PoolSpec } from '../placement/pool-spec.js';
import { poolWorkflowId } from '../workflows/messages.js';
import { apiError } from './errors.js';
import { specView, type PatchPoolBody } from './pool-schemas.js';

/** Rules that span fields: 400 naming the field to change. */
export function checkSpec(spec: PoolSpec, desired: number, desiredGiven: boolean): void {
  if (spec.min > spec.max) throw apiError(400, 'invalid_request', `min (${spec.min}) is greater than max (${spec.max})`, { field: 'min' });
  if (desiredGiven && (desired < spec.min || desired > spec.max)) {
    throw apiError(400, 'invalid_request', `desired (${desired}) must be between min (${spec.min}) and max (${spec.max})`, { field: 'desired' });
  }
  const a = spec.autoscaling;
  if (a?.scaleInCpu !== undefined && a.scaleOutCpu !== undefined && a.scaleInCpu >= a.scaleOutCpu) {
    throw apiError(400, 'invalid_request', `scale_in_cpu (${a.scaleInCpu}) must be lower than scale_out_cpu (${a.scaleOutCpu})`, {
      field: 'autoscaling.scale_in_cpu',
    });
  }
}

/** The spec after a PATCH: given fields replace, `autoscaling` merges (null removes it). */
export function mergeSpec(current: PoolSpec, patch: PatchPoolBody): PoolSpec {
  const a = patch.autoscaling;
  const max = patch.health?.max_unhealthy;
  return {
    min: patch.min ?? current.min,
    max: patch.max ?? current.max,
    autoscaling:
      a === null
        ? undefined
        : a === undefined
          ? current.autoscaling
          : {
              scaleOutCpu: a.scale_out_cpu ?? current.autoscaling?.scaleOutCpu,
              scaleInCpu: a.scale_in_cpu ?? current.autoscaling?.scaleInCpu,
              windowMs: a.window ?? current.autoscaling?.windowMs ?? DEFAULT_AUTOSCALING.windowMs,
              cooldownMs: a.cooldown ?? current.autoscaling?.cooldownMs ?? DEFAULT_AUTOSCALING.cooldownMs,
              step: a.step ?? current.autoscaling?.step ?? DEFAULT_AUTOSCALING.step,
              emptyTtlMs: a.empty_ttl ?? current.autoscaling?.emptyTtlMs,
            },
    health: {
      unhealthyAfterMs: patch.health?.unhealthy_after ?? current.health.unhealthyAfterMs,
      maxUnhealthy: max === undefined ? current.health.maxUnhealthy : typeof max === 'number' ? { count: max } : { percent: Number(max.slice(0, -1)) },
    },
    evaluationIntervalMs: patch.evaluation_interval ?? current.evaluationIntervalMs,
    drainTimeoutMs: patch.drain_timeout ?? current.drainTimeoutMs,
  };
}

const round = (n: number) => Math.round(n * 100) / 100;

/** A pool as the API shows it: the spec, the live counts read now, and the reconciler's last word. */
export async function poolView(db: Db, pool: Pool) {
  const now = Date.now();
  const [members, templates, cpu] = await Promise.all([
    poolMembers(db, pool.tenantId, pool.name),
    templatesInUse(db, pool.tenantId, pool.name),
    poolCpu(db, pool.tenantId, pool.name, pool.spec.autoscaling?.windowMs ?? DEFAULT_AUTOSCALING.windowMs, now),
  ]);
  const current = templates.get(pool.templateVersion)!;
  const capacity = { vcpu: 0, memory_mb: 0, disk_gb: 0, arch: current.plan.arch, price_monthly: 0, currency: current.plan.currency };
  for (const member of members) {
    const plan = (templates.get(member.templateVersion) ?? current).plan;
    capacity.price_monthly += plan.price_monthly;
    if (memberState(member, pool.spec, now) !== 'ready') continue;
    capacity.vcpu += plan.vcpu;
    capacity.memory_mb += plan.memory_mb;
    capacity.disk_gb += plan.disk_gb;
  }
  capacity.price_monthly = round(capacity.price_monthly);
  const userData = current.userData;
  return {
    name: pool.name,
    state: pool.deleting ? 'deleting' : 'active',
    template: {
      ...current.template,
      ...(userData !== null && { user_data: { bytes: Buffer.byteLength(userData), sha256: createHash('sha256').update(userData).digest('hex') } }),
    },
    template_version: pool.templateVersion,
    ...specView(pool.spec),
    desired: pool.desired,
    nodes: countMembers(members, pool.spec, now),
    capacity,
    cpu_average: cpu ? round(cpu.average) : null,
    last_action: pool.status.lastAction ?? null,
    conditions: pool.status.conditions,
    workflow_id: poolWorkflowId(pool.tenantId, pool.name),
    created_at: pool.createdAt,
    updated_at: pool.updatedAt,
  };
}
