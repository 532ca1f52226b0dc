// Reads shared by the pages: catalogues (cached a few minutes, like the API's own cache), the
// tenant's tier, and the node list joined with its jobs for region, plan and price.
import { ApiError, get } from './api.js';
import type { Budget, ClusterNode, Job, JobDetail, Plan, PlansAnswer, ProviderStatus, Region } from './types.js';

const CATALOGUE_TTL_MS = 5 * 60_000;
const catalogue = new Map<string, { at: number; value: Promise<unknown> }>();

function cached<T>(key: string, load: () => Promise<T>): Promise<T> {
  const hit = catalogue.get(key);
  if (hit && Date.now() - hit.at < CATALOGUE_TTL_MS) return hit.value as Promise<T>;
  const value = load();
  catalogue.set(key, { at: Date.now(), value });
  value.catch(() => catalogue.delete(key));
  return value;
}

export function forgetCatalogue(provider?: string): void {
  for (const key of [...catalogue.keys()]) if (!provider || key.includes(`/${provider}/`)) catalogue.delete(key);
}

export const providers = () => get<{ providers: ProviderStatus[] }>('/cluster/providers').then((r) => r.providers);
export const regions = (provider: string) =>
  cached(`regions/${provider}/`, () => get<{ regions: Region[] }>(`/cluster/providers/${provider}/regions`).then((r) => r.regions));
export const plans = (provider: string, region: string) =>
  cached(`plans/${provider}/${region}`, () => get<PlansAnswer>(`/cluster/providers/${provider}/plans?region=${encodeURIComponent(region)}`));

let tier: Promise<string | null> | undefined;
/**
 * The tenant's tier. The API has no "who am I" yet: the operator (default tenant) can read it
 * from GET /tenants; any other tenant gets null here and the console shows no cap.
 */
export function tenantTier(): Promise<string | null> {
  tier ??= get<{ tenants: { tenant_id: string; tier: string }[] }>('/tenants')
    .then((r) => r.tenants.find((t) => t.tenant_id === 'default')?.tier ?? null)
    .catch((err) => {
      if (err instanceof ApiError && err.status === 401) tier = undefined;
      return null;
    });
  return tier;
}
export const resetTier = () => (tier = undefined);

/** Provisioned nodes each tier may hold (db/tiers.ts); null: no cap. */
export const TIER_CAPS: Record<string, number | null> = { free: 0, pro: 0, team: 5, enterprise: null };

export interface NodeRow extends ClusterNode {
  region?: string;
  plan?: string;
  job?: Job;
  price?: Plan;
}

const jobCache = new Map<string, Job>();

/** A job, from the list or fetched once (its provider, region and plan never change). */
async function jobFor(jobId: string | null, listed: Map<string, Job>): Promise<Job | undefined> {
  if (!jobId) return undefined;
  const known = listed.get(jobId) ?? jobCache.get(jobId);
  if (known) return known;
  try {
    const job = await get<JobDetail>(`/cluster/jobs/${jobId}`);
    jobCache.set(jobId, job);
    return job;
  } catch {
    return undefined;
  }
}

export interface ClusterData {
  nodes: NodeRow[];
  jobs: Job[];
  budget: Budget;
  tier: string | null;
}

export async function loadCluster(): Promise<ClusterData> {
  const [nodes, jobs, budget, tierName] = await Promise.all([
    get<{ nodes: ClusterNode[] }>('/cluster/nodes').then((r) => r.nodes),
    get<{ jobs: Job[] }>('/cluster/jobs?limit=100').then((r) => r.jobs),
    get<Budget>('/cluster/budget'),
    tenantTier(),
  ]);
  const byId = new Map(jobs.map((j) => [j.job_id, j]));
  const rows = await Promise.all(
    nodes.map(async (node): Promise<NodeRow> => {
      const job = await jobFor(node.job_id, byId);
      if (!job) return node;
      let price: Plan | undefined;
      try {
        price = (await plans(job.provider, job.region)).plans.find((p) => p.name === job.plan);
      } catch {
        price = undefined; // a cloud without a stored token: no catalogue, no price
      }
      return { ...node, job, region: job.region, plan: job.plan, ...(price && { price }) };
    }),
  );
  return { nodes: rows, jobs, budget, tier: tierName };
}
