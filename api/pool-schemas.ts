import { z } from 'zod';
import { parseDuration } from '../config/index.js';
import { formatMs } from '../placement/pool-decision.js';
import { DEFAULT_AUTOSCALING, DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_EVALUATION_INTERVAL_MS, DEFAULT_HEALTH, MAX_WINDOW_MS, type PoolSpec } from '../placement/pool-spec.js';
import { createNodeSchema } from './schemas.js';

/** A duration such as `15s`, `2m`, `1h`, within bounds. */
const duration = (min: number, max: number) =>
  z
    .string()
    .transform((text, ctx) => {
      const value = /^0+(ms|s|m|h)?$/.test(text.trim()) ? 0 : parseDuration(text);
      if (value === undefined || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `must be a duration from ${formatMs(min)} to ${formatMs(max)}, such as 15s, 2m or 1h` });
        return z.NEVER;
      }
      return value;
    })
    .meta({ description: `a duration from ${formatMs(min)} to ${formatMs(max)}: 15s, 2m, 1h` });

const SECOND = 1_000;
const DAY = 86_400_000;
const share = z.number().min(0).max(1);

export const POOL_NAME = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;
export const poolNameSchema = z.string().regex(POOL_NAME, 'must be a DNS label: lowercase letters, digits and dashes, at most 40');

/** A pool's node template: what POST /cluster/nodes takes (but the hostname), plus the node-side extras. */
export const templateSchema = createNodeSchema
  .omit({ hostname: true })
  .extend({
    /** An extra cloud-init part, run after the node registered (`#cloud-config` or `#!`). */
    user_data: z
      .string()
      .min(1)
      .max(64 * 1024)
      .optional(),
    /** A shell command whose output is the node's workload count (default: none, i.e. 0). */
    workload_command: z.string().min(1).max(4096).optional(),
  })
  .meta({ id: 'PoolTemplate', description: 'What POST /cluster/nodes takes (but the hostname: nodes are named `<pool>-<id>`), plus `user_data` and `workload_command`.' });
export type TemplateBody = z.output<typeof templateSchema>;

const autoscalingSchema = z.strictObject({
  scale_out_cpu: share.optional(),
  scale_in_cpu: share.optional(),
  window: duration(SECOND, MAX_WINDOW_MS).optional(),
  cooldown: duration(0, DAY).optional(),
  step: z.number().int().min(1).max(100).optional(),
  empty_ttl: duration(SECOND, 7 * DAY).optional(),
});

const healthSchema = z.strictObject({
  unhealthy_after: duration(2 * SECOND, DAY).optional(),
  max_unhealthy: z.union([z.string().regex(/^(100|[1-9]?[0-9])%$/, 'must be a percentage such as "40%" or a number of nodes'), z.number().int().min(0).max(1000)]).optional(),
});

const specFields = {
  min: z.number().int().min(0).max(1000),
  max: z.number().int().min(1).max(1000),
  desired: z.number().int().min(0).max(1000).optional(),
  autoscaling: autoscalingSchema.optional(),
  health: healthSchema.optional(),
  evaluation_interval: duration(SECOND, 3_600_000).optional(),
  drain_timeout: duration(SECOND, DAY).optional(),
};

export const createPoolSchema = z.strictObject({ name: poolNameSchema, template: templateSchema, ...specFields }).meta({
  id: 'PoolRequest',
  examples: [
    {
      name: 'web',
      template: { provider: 'local', region: 'local', plan: 'local-1' },
      min: 1,
      max: 4,
      desired: 2,
      autoscaling: { scale_out_cpu: 0.7, scale_in_cpu: 0.2, window: '30s', cooldown: '45s', step: 1, empty_ttl: '2m' },
      health: { unhealthy_after: '1m', max_unhealthy: '40%' },
      evaluation_interval: '5s',
    },
  ],
});
export type CreatePoolBody = z.output<typeof createPoolSchema>;

/** Every field may change; the template is merged over the current one. */
export const patchPoolSchema = z
  .strictObject({
    template: templateSchema.partial().optional(),
    min: specFields.min.optional(),
    max: specFields.max.optional(),
    desired: specFields.desired,
    autoscaling: autoscalingSchema.nullable().optional(),
    health: healthSchema.optional(),
    evaluation_interval: specFields.evaluation_interval,
    drain_timeout: specFields.drain_timeout,
  })
  .meta({ id: 'PoolChange', examples: [{ desired: 3 }] });
export type PatchPoolBody = z.output<typeof patchPoolSchema>;

type SpecBody = Pick<CreatePoolBody, 'min' | 'max' | 'autoscaling' | 'health' | 'evaluation_interval' | 'drain_timeout'>;

/** The stored spec from a request, with every default filled in. */
export function specFromBody(body: SpecBody, current?: PoolSpec): PoolSpec {
  const a = body.autoscaling;
  const maxUnhealthy = body.health?.max_unhealthy;
  return {
    min: body.min,
    max: body.max,
    autoscaling: a
      ? {
          scaleOutCpu: a.scale_out_cpu,
          scaleInCpu: a.scale_in_cpu,
          windowMs: a.window ?? DEFAULT_AUTOSCALING.windowMs,
          cooldownMs: a.cooldown ?? DEFAULT_AUTOSCALING.cooldownMs,
          step: a.step ?? DEFAULT_AUTOSCALING.step,
          emptyTtlMs: a.empty_ttl,
        }
      : undefined,
    health: {
      unhealthyAfterMs: body.health?.unhealthy_after ?? current?.health.unhealthyAfterMs ?? DEFAULT_HEALTH.unhealthyAfterMs,
      maxUnhealthy:
        maxUnhealthy === undefined
          ? (current?.health.maxUnhealthy ?? DEFAULT_HEALTH.maxUnhealthy)
          : typeof maxUnhealthy === 'number'
            ? { count: maxUnhealthy }
            : { percent: Number(maxUnhealthy.slice(0, -1)) },
    },
    evaluationIntervalMs: body.evaluation_interval ?? current?.evaluationIntervalMs ?? DEFAULT_EVALUATION_INTERVAL_MS,
    drainTimeoutMs: body.drain_timeout ?? current?.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
  };
}

/** The spec as the API shows it: durations written as durations again. */
export function specView(spec: PoolSpec) {
  const a = spec.autoscaling;
  const max = spec.health.maxUnhealthy;
  return {
    min: spec.min,
    max: spec.max,
    autoscaling: a
      ? {
          ...(a.scaleOutCpu !== undefined && { scale_out_cpu: a.scaleOutCpu }),
          ...(a.scaleInCpu !== undefined && { scale_in_cpu: a.scaleInCpu }),
          window: formatMs(a.windowMs),
          cooldown: formatMs(a.cooldownMs),
          step: a.step,
          ...(a.emptyTtlMs !== undefined && { empty_ttl: formatMs(a.emptyTtlMs) }),
        }
      : null,
    health: { unhealthy_after: formatMs(spec.health.unhealthyAfterMs), max_unhealthy: 'percent' in max ? `${max.percent}%` : max.count },
    evaluation_interval: formatMs(spec.evaluationIntervalMs),
    drain_timeout: formatMs(spec.drainTimeoutMs),
  };
}
