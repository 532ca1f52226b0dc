// What the API answers, as zod schemas: they become the response schemas of the OpenAPI document,
// and the tests validate every real answer against them (test/contract/contract.ts).
import { z } from 'zod';
import { TIER_NAMES } from '../db/tiers.js';
import { PROVIDER_NAMES } from '../providers/types.js';
import { PHASES } from '../workflows/phases.js';
import { ERROR_CODES } from './contract.js';

const time = z.iso.datetime({ offset: true }).meta({ description: 'ISO 8601 time' });
const nullable = <T extends z.ZodType>(schema: T) => schema.nullable();

export const errorSchema = z
  .strictObject({
    error: z.strictObject({
      code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES, ...(keyof typeof ERROR_CODES)[]]),
      message: z.string(),
      field: z.string().optional().meta({ description: 'the field, query parameter or header the error is about (`labels.team`, `Idempotency-Key`)' }),
    }),
  })
  .meta({ id: 'Error', description: 'Every error: `{error:{code, message, field?}}`.' });

export const phaseSchema = z.enum(PHASES).meta({ id: 'Phase' });

export const planSchema = z
  .strictObject({
    name: z.string(),
    vcpu: z.number(),
    memory_mb: z.number(),
    disk_gb: z.number(),
    arch: z.string(),
    price_monthly: z.number(),
    price_hourly: z.number(),
    currency: z.string(),
  })
  .meta({ id: 'Plan', description: "A plan with its indicative prices in the region, from the provider's catalogue." });

export const jobSchema = z
  .strictObject({
    job_id: z.string(),
    phase: phaseSchema,
    provider: z.string(),
    region: z.string(),
    plan: z.string(),
    hostname: z.string().optional(),
    node_id: z.string().optional(),
    vm_id: z.string().optional(),
    error: z.string().optional(),
    pool: z.string().optional().meta({ description: 'the pool that made the job; absent for a job asked for by hand' }),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Job' });

export const jobDetailSchema = jobSchema
  .extend({ progress: z.array(z.strictObject({ phase: phaseSchema, at: time })).meta({ description: 'every phase reached, in order' }) })
  .meta({ id: 'JobDetail' });

export const jobListSchema = z.strictObject({ jobs: z.array(jobSchema) }).meta({ id: 'JobList', description: 'Newest first.' });

export const jobPhaseEventSchema = z
  .strictObject({
    job_id: z.string(),
    phase: phaseSchema,
    at: time,
    node_id: z.string().optional(),
    vm_id: z.string().optional(),
    error: z.string().optional(),
  })
  .meta({ id: 'JobPhaseEvent', description: 'The `data` of a `phase` event; the last one (a final phase) also says how the job ended.' });

export const nodeSchema = z
  .strictObject({
    node_id: z.string(),
    job_id: nullable(z.string()).meta({ description: 'the job that made the node; null for a node registered by hand' }),
    provider: z.string(),
    vm_id: nullable(z.string()),
    hostname: z.string(),
    status: z.enum(['ready', 'decommissioning', 'decommissioned']),
    region: nullable(z.string()).meta({ description: "the job's region; null for a node registered by hand" }),
    plan: nullable(z.string()).meta({ description: "the job's plan; null for a node registered by hand" }),
    price_monthly_cents: nullable(z.number().int()).meta({
      description: "the plan's monthly price in cents, as reserved against the budget when the job was admitted; null for a node registered by hand",
    }),
    pool: z.string().optional().meta({ description: 'the pool the node belongs to, when it does' }),
    created_at: time,
  })
  .meta({ id: 'Node' });

const heartbeatTime = nullable(time);

export const nodeDetailSchema = nodeSchema
  .extend({
    facts: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .meta({ description: 'what the VM reported about itself at registration (`hostname` and any extra facts)' }),
    agent: z
      .strictObject({
        last_heartbeat_at: heartbeatTime.meta({ description: "the agent's last heartbeat; null before the first" }),
        cpu: nullable(z.number()).meta({ description: 'CPU use in the last report, 0 to 1' }),
        memory: nullable(z.number()).meta({ description: 'memory in use in the last report, 0 to 1' }),
        workloads: nullable(z.number().int()).meta({ description: 'workloads running in the last report' }),
        busy_at: heartbeatTime.meta({ description: 'the last heartbeat that reported a workload' }),
        drain_requested_at: heartbeatTime.meta({ description: 'when Berth asked the node to drain' }),
        drained_at: heartbeatTime.meta({ description: 'when the node said it had drained' }),
      })
      .meta({ description: "the node agent's latest report; nulls for what it has not reported" }),
    updated_at: time,
  })
  .meta({ id: 'NodeDetail', description: 'A node as listed, with its facts and its agent’s latest report; never its credential.' });

export const nodeListSchema = z.strictObject({ nodes: z.array(nodeSchema) }).meta({ id: 'NodeList' });

export const jobCreatedSchema = z.strictObject({ job_id: z.string() }).meta({ id: 'JobCreated' });

export const previewSchema = z
  .strictObject({
    dry_run: z.literal(true),
    would_create: z.strictObject({
      provider: z.string(),
      region: z.string(),
      plan: z.string(),
      hostname: nullable(z.string()),
      image: nullable(z.string()),
      labels: z.record(z.string(), z.string()),
      network: z.string().optional(),
      firewall: z.string().optional(),
      public_ipv4: z.boolean().optional(),
      ipv6: z.boolean().optional(),
    }),
    plan: planSchema,
    monthly_cost: z.strictObject({ cents: z.number().int(), amount: z.number(), currency: z.string(), indicative: z.literal(true) }),
    budget: z.strictObject({
      monthly_cents: nullable(z.number().int()),
      committed_cents: z.number().int(),
      remaining_after_cents: nullable(z.number().int()),
    }),
    admission: z.union([
      z.strictObject({ allowed: z.literal(true) }),
      z.strictObject({ allowed: z.literal(false), status: z.number().int(), code: z.enum(['plan_required', 'node_cap_reached', 'budget_exceeded']), message: z.string() }),
    ]),
  })
  .meta({ id: 'NodePreview', description: 'What `POST /cluster/nodes` would create and what it would cost; nothing is created.' });

export const nodeDeletedSchema = z.strictObject({ node_id: z.string(), status: z.enum(['decommissioning', 'decommissioned']) }).meta({ id: 'NodeDeletion' });

export const providerListSchema = z
  .strictObject({
    providers: z.array(z.strictObject({ name: z.enum(PROVIDER_NAMES), configured: z.boolean(), fingerprint: z.string().optional() })),
  })
  .meta({ id: 'ProviderList' });

export const tokenVerifiedSchema = z
  .strictObject({ valid: z.literal(true), provider: z.enum(PROVIDER_NAMES), fingerprint: z.string() })
  .meta({ id: 'TokenVerified', description: 'The token works and is stored sealed; `fingerprint` is its last 4 characters.' });

export const tokenRefusedSchema = z
  .strictObject({
    valid: z.literal(false),
    provider: z.enum(PROVIDER_NAMES),
    error: z.strictObject({ code: z.literal('invalid_token'), message: z.string(), field: z.literal('token') }),
  })
  .meta({ id: 'TokenRefused', description: 'The provider refused the token, with its reason; nothing is stored.' });

export const regionListSchema = z
  .strictObject({ provider: z.enum(PROVIDER_NAMES), regions: z.array(z.strictObject({ name: z.string(), description: z.string() })) })
  .meta({ id: 'RegionList' });

export const planListSchema = z
  .strictObject({
    provider: z.enum(PROVIDER_NAMES),
    region: z.string(),
    indicative: z.literal(true),
    note: z.string(),
    plans: z.array(planSchema),
  })
  .meta({ id: 'PlanList', description: 'A plan with no price in the region is not listed.' });

export const budgetSchema = z
  .strictObject({
    monthly_cents: nullable(z.number().int()).meta({ description: 'null: no budget' }),
    committed_cents: z.number().int(),
    remaining_cents: nullable(z.number().int()),
    nodes_counted: z.number().int().meta({ description: 'the reserved nodes: jobs being provisioned or bound to a live node, counted against the cap and budget' }),
    tier: z.enum(TIER_NAMES).meta({ description: "the tenant's license tier" }),
    node_cap: nullable(z.number().int()).meta({ description: 'provisioned nodes the tier allows; null: no cap' }),
  })
  .meta({ id: 'Budget' });

export const keyListSchema = z
  .strictObject({
    keys: z.array(z.strictObject({ key_id: z.string(), label: z.string(), created_at: time, revoked_at: nullable(time) })),
  })
  .meta({ id: 'KeyList', description: "The tenant's admin keys, never the keys themselves." });

export const keyCreatedSchema = z.strictObject({ key_id: z.string(), key: z.string().meta({ description: 'the key, shown once' }), label: z.string() }).meta({ id: 'KeyCreated' });

export const tenantListSchema = z
  .strictObject({ tenants: z.array(z.strictObject({ tenant_id: z.string(), name: z.string(), tier: z.enum(TIER_NAMES), created_at: time })) })
  .meta({ id: 'TenantList' });

export const tenantCreatedSchema = z
  .strictObject({ tenant_id: z.string(), tier: z.enum(TIER_NAMES), key_id: z.string(), key: z.string().meta({ description: "the tenant's first admin key, shown once" }) })
  .meta({ id: 'TenantCreated' });

export const registeredSchema = z
  .strictObject({
    node_id: z.string(),
    job_id: z.string(),
    node_token: z.string().optional().meta({ description: "the node agent's credential for the heartbeat route, shown once; made here when the VM sent no credential_sha256" }),
    credential_sha256: z.string().optional().meta({ description: "the digest of the VM's own credential, now the node's: the agent may use it" }),
  })
  .meta({ id: 'Registered' });

export const heartbeatAnswerSchema = z
  .strictObject({ state: z.enum(['active', 'drain']).meta({ description: '`drain`: move the workloads away, then report `drained: true`' }) })
  .meta({ id: 'HeartbeatAnswer' });

const duration = z.string().meta({ description: 'a duration: `15s`, `2m`, `1h`' });

export const poolSchema = z
  .strictObject({
    name: z.string(),
    state: z.enum(['active', 'deleting']),
    template: z.strictObject({
      provider: z.string(),
      region: z.string(),
      plan: z.string(),
      image: z.string().optional(),
      labels: z.record(z.string(), z.string()).optional(),
      ssh_key: z.string().optional(),
      network: z.string().optional(),
      firewall: z.string().optional(),
      public_ipv4: z.boolean().optional(),
      ipv6: z.boolean().optional(),
      workload_command: z.string().optional(),
      user_data: z.strictObject({ bytes: z.number().int(), sha256: z.string() }).optional().meta({ description: 'only the size and digest of the user-data are shown' }),
    }),
    template_version: z.number().int(),
    min: z.number().int(),
    max: z.number().int(),
    autoscaling: nullable(
      z.strictObject({
        scale_out_cpu: z.number().optional(),
        scale_in_cpu: z.number().optional(),
        window: duration,
        cooldown: duration,
        step: z.number().int(),
        empty_ttl: duration.optional(),
      }),
    ),
    health: z.strictObject({ unhealthy_after: duration, max_unhealthy: z.union([z.string(), z.number().int()]) }),
    evaluation_interval: duration,
    drain_timeout: duration,
    desired: z.number().int(),
    nodes: z.strictObject({ ready: z.number().int(), provisioning: z.number().int(), draining: z.number().int(), unhealthy: z.number().int() }),
    capacity: z.strictObject({
      vcpu: z.number(),
      memory_mb: z.number(),
      disk_gb: z.number(),
      arch: z.string(),
      price_monthly: z.number(),
      currency: z.string(),
    }),
    cpu_average: nullable(z.number()),
    last_action: nullable(z.strictObject({ at: time, kind: z.string(), reason: z.string() })),
    conditions: z.array(z.strictObject({ type: z.enum(['ScaleOutBlocked', 'TooManyUnhealthy']), reason: z.string(), message: z.string() })),
    workflow_id: z.string(),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Pool', description: 'The spec, the live counts read now, and the reconciler’s last word.' });

export const poolListSchema = z.strictObject({ pools: z.array(poolSchema) }).meta({ id: 'PoolList' });

export const poolDeletionSchema = z.strictObject({ name: z.string(), state: z.literal('deleting') }).meta({ id: 'PoolDeletion' });

export const poolDecisionEventSchema = z
  .strictObject({ pool: z.string(), seq: z.number().int(), at: time, kind: z.string(), reason: z.string() })
  .meta({ id: 'PoolDecisionEvent', description: 'The `data` of a `decision` event.' });

export const poolDeletedEventSchema = z.strictObject({ pool: z.string() }).meta({ id: 'PoolDeletedEvent', description: 'The `data` of the last event, `deleted`.' });

export const healthSchema = z
  .strictObject({
    status: z.enum(['ok', 'unavailable']),
    checks: z.strictObject({ database: z.enum(['ok', 'unreachable']), temporal: z.enum(['ok', 'unreachable']) }),
  })
  .meta({ id: 'Health' });
