import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { admitJob, previewAdmission } from '../db/admission.js';
import { deleteJob, insertJob, jobRequest } from '../db/jobs.js';
import { getTenant } from '../db/tenants.js';
import { isProviderName, type ProviderRegistry } from '../providers/registry.js';
import { PROVIDER_NAMES, monthlyCents, type Plan } from '../providers/types.js';
import { derivedId, randomId, sha256Hex } from '../security/tokens.js';
import { provisionWorkflowId, type ProvisionInput } from '../workflows/messages.js';
import type { provisionNode } from '../workflows/provision.js';
import type { ErrorAnswer, ErrorCode } from './contract.js';
import type { AppDeps } from './deps.js';
import { apiError } from './errors.js';
import { viaProvider } from './provider-errors.js';
import { berthWorkflowOptions } from './workflow-options.js';
import type { CreateNodeBody } from './schemas.js';

/** What the catalogue check (and the provider calls it makes) can answer. */
export const CATALOGUE_ERRORS = {
  422: ['unknown_provider', 'unsupported_option', 'provider_not_configured', 'provider_token_invalid', 'unknown_region', 'unknown_plan'],
  502: ['provider_error'],
  503: { codes: ['provider_unavailable'], headers: { 'Retry-After': { description: 'seconds to wait' } } },
} as const satisfies Record<number, ErrorAnswer | readonly ErrorCode[]>;

/** What the catalogue check needs of a node request or a pool's template. */
type CatalogueRequest = Pick<CreateNodeBody, 'provider' | 'region' | 'plan' | 'public_ipv4' | 'ipv6'>;

/**
 * 422 naming the field when the provider, region or plan does not exist, or no token is stored
 * for a cloud: checked against the provider's (cached) catalogue before anything is made. Fields
 * are named under `prefix` (a pool's `template.`).
 */
export async function checkCatalogue(providers: ProviderRegistry, tenantId: string, body: CatalogueRequest, prefix = ''): Promise<Plan> {
  const field = (name: string) => `${prefix}${name}`;
  if (!isProviderName(body.provider)) {
    throw apiError(422, 'unknown_provider', `unknown provider "${body.provider}"; expected one of ${PROVIDER_NAMES.join(', ')}`, { field: field('provider') });
  }
  if (body.provider === 'digitalocean' && body.public_ipv4 === false && body.ipv6 === true) {
    throw apiError(422, 'unsupported_option', 'a droplet without public networking has no public IPv6 either', { field: field('ipv6') });
  }
  const provider = await viaProvider(() => providers.forTenant(tenantId, body.provider), field('provider'), field('provider'));
  const regions = await viaProvider(() => provider.regions(), field('provider'), field('provider'));
  if (!regions.some((r) => r.name === body.region)) {
    const known = regions.map((r) => r.name).join(', ');
    throw apiError(422, 'unknown_region', `${body.provider} has no region "${body.region}"; expected one of ${known}`, { field: field('region') });
  }
  const plans = await viaProvider(() => provider.plans(body.region), field('provider'), field('provider'));
  const plan = plans.find((p) => p.name === body.plan);
  if (!plan) {
    const known = plans.map((p) => p.name).join(', ');
    throw apiError(422, 'unknown_plan', `${body.provider} offers no plan "${body.plan}" in ${body.region}; expected one of ${known}`, { field: field('plan') });
  }
  return plan;
}

/** Same request, same hash: key order and absent optional fields do not matter. */
function requestHash(body: CreateNodeBody): string {
  const labels = Object.fromEntries(Object.entries(body.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
  const canonical: unknown[] = [body.provider, body.region, body.plan, body.hostname ?? '', body.ssh_key ?? '', body.image ?? '', labels];
  // Later options join the hash only when set, so keys recorded before them still match.
  const options = { network: body.network, firewall: body.firewall, public_ipv4: body.public_ipv4, ipv6: body.ipv6 };
  if (Object.values(options).some((v) => v !== undefined)) canonical.push(options);
  return sha256Hex(JSON.stringify(canonical));
}

/** Thrown inside the insert transaction when a concurrent retry with the same key won. */
class SameKeyRace extends Error {}

/**
 * Records the job and starts its workflow. With an idempotency key the job id is derived from
 * (tenant, key), so a retry lands on the same row and, through USE_EXISTING, the same workflow.
 * A new job is admitted (tier, cap, budget) in the same transaction that records it.
 */
export async function submitJob(
  deps: AppDeps,
  tenantId: string,
  body: CreateNodeBody,
  plan: Plan,
  idempotencyKey: string | undefined,
): Promise<{ jobId: string; created: boolean }> {
  const { db } = deps;
  const jobId = idempotencyKey ? derivedId('job', tenantId, idempotencyKey) : randomId(16);
  const hash = requestHash(body);
  const now = new Date().toISOString();

  /** A retry of an earlier request: the same job, if the request is the same too. */
  async function existingJob(): Promise<boolean> {
    const existing = await jobRequest(db, jobId);
    if (!existing) return false;
    if (existing.tenant_id !== tenantId || existing.request_hash !== hash) {
      throw apiError(422, 'idempotency_key_reused', 'this Idempotency-Key was used for a different request', { field: 'Idempotency-Key' });
    }
    return true;
  }

  let created = false;
  if (!(idempotencyKey && (await existingJob()))) {
    try {
      await db.transaction().execute(async (trx) => {
        const refusal = await admitJob(trx, tenantId, monthlyCents(plan));
        if (refusal) throw apiError(refusal.status, refusal.code, refusal.message);
        const inserted = await insertJob(trx, {
          job_id: jobId,
          tenant_id: tenantId,
          provider: body.provider,
          region: body.region,
          plan: body.plan,
          hostname: body.hostname ?? null,
          phase: 'queued',
          vm_id: null,
          node_id: null,
          error: null,
          idempotency_key: idempotencyKey ?? null,
          request_hash: hash,
          created_at: now,
          updated_at: now,
          price_cents: monthlyCents(plan),
          holds_slot: 1,
        });
        // Rolls the admission back too: the other request holds the slot.
        if (!inserted) throw new SameKeyRace();
      });
      created = true;
    } catch (err) {
      if (!(err instanceof SameKeyRace)) throw err;
      await existingJob();
    }
  }

  const input: ProvisionInput = {
    jobId,
    tenantId,
    provider: body.provider,
    region: body.region,
    plan: body.plan,
    hostname: body.hostname,
    sshKey: body.ssh_key,
    image: body.image,
    labels: body.labels ?? {},
    network: body.network,
    firewall: body.firewall,
    publicIpv4: body.public_ipv4,
    ipv6: body.ipv6,
    registrationTtlMs: deps.registrationTtlMs,
  };
  try {
    await deps.temporal.workflow.start<typeof provisionNode>('provisionNode', {
      ...berthWorkflowOptions({
        taskQueue: deps.taskQueue,
        workflowId: provisionWorkflowId(jobId),
        tenantId,
        provider: body.provider,
        phase: 'queued',
        summary: `${body.provider} ${body.plan} in ${body.region} for tenant ${tenantId}`,
      }),
      args: [input],
      staticDetails: `Job ${jobId}${body.hostname ? `, host ${body.hostname}` : ''}. Phases are in the BerthPhase search attribute.`,
    });
  } catch (err) {
    // The workflow exists (a retry of a job whose workflow already finished, or a start that went
    // through): the job is started, and its row is the one the workflow records into.
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      if (created) deps.logger.warn({ job_id: jobId, tenant_id: tenantId }, 'recorded a job whose workflow had already been started');
      return { jobId, created };
    }
    // Anything else is ambiguous (a deadline may expire after the server accepted the start): the
    // row is removed only once Temporal says the workflow does not exist.
    const started = await workflowExists(deps, provisionWorkflowId(jobId));
    if (started) {
      deps.logger.warn({ err, job_id: jobId, tenant_id: tenantId }, 'the start of the provision workflow failed, but the workflow exists: the job runs');
      return { jobId, created };
    }
    if (created && started === false) await deleteJob(db, jobId);
    deps.logger.error({ err, job_id: jobId, tenant_id: tenantId }, 'could not start the provision workflow');
    throw apiError(503, 'temporal_unavailable', 'the job could not be started: Temporal is not reachable; retry later', {
      headers: { 'Retry-After': '5' },
    });
  }
  return { jobId, created };
}

/** Whether the workflow exists; undefined when Temporal cannot tell (unreachable too). */
async function workflowExists(deps: AppDeps, workflowId: string): Promise<boolean | undefined> {
  try {
    await deps.temporal.withDeadline(Date.now() + 5_000, () => deps.temporal.workflow.getHandle(workflowId).describe());
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    deps.logger.warn({ err, workflowId }, 'could not look up the workflow');
    return undefined;
  }
}

/**
 * The confirm step of a wizard: what POST /cluster/nodes would create and what it would cost a
 * month, and whether tier, cap and budget would admit it now. Creates nothing.
 */
export async function previewJob(deps: AppDeps, tenantId: string, body: CreateNodeBody, plan: Plan) {
  const cents = monthlyCents(plan);
  const refusal = await previewAdmission(deps.db, tenantId, cents);
  const tenant = (await getTenant(deps.db, tenantId))!;
  const budget = tenant.monthly_budget_cents;
  return {
    dry_run: true,
    would_create: {
      provider: body.provider,
      region: body.region,
      plan: body.plan,
      hostname: body.hostname ?? null,
      image: body.image ?? null,
      labels: body.labels ?? {},
      ...(body.network !== undefined && { network: body.network }),
      ...(body.firewall !== undefined && { firewall: body.firewall }),
      ...(body.public_ipv4 !== undefined && { public_ipv4: body.public_ipv4 }),
      ...(body.ipv6 !== undefined && { ipv6: body.ipv6 }),
    },
    plan,
    monthly_cost: { cents, amount: plan.price_monthly, currency: plan.currency, indicative: true },
    budget: {
      monthly_cents: budget,
      committed_cents: tenant.committed_cents,
      remaining_after_cents: budget === null ? null : budget - tenant.committed_cents - cents,
    },
    admission: refusal ? { allowed: false, status: refusal.status, code: refusal.code, message: refusal.message } : { allowed: true },
  };
}
