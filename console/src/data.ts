// Reads shared by the pages: catalogues (cached a few minutes, like the API's own cache) and the
// cluster's lists (nodes with their region, plan and price; jobs; the budget with the tier's cap).
import { get } from './api.js';
import type { Budget, ClusterNode, Job, PlansAnswer, ProviderStatus, Region } from './types.js';

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
export const regions = (provider: string) => cached(`regions/${provider}/`, () => get<{ regions: Region[] }>(`/cluster/providers/${provider}/regions`).then((r) => r.regions));
export const plans = (provider: string, region: string) =>
  cached(`plans/${provider}/${region}`, () => get<PlansAnswer>(`/cluster/providers/${provider}/plans?region=${encodeURIComponent(region)}`));

/** A node row as the cluster page shows it: the API's row carries its job's region, plan and price. */
export type NodeRow = ClusterNode;

export interface ClusterData {
  nodes: NodeRow[];
  jobs: Job[];
  /** The budget answer also carries the tier and its node cap. */
  budget: Budget;
}

export async function loadCluster(): Promise<ClusterData> {
  const [nodes, jobs, budget] = await Promise.all([
    get<{ nodes: ClusterNode[] }>('/cluster/nodes').then((r) => r.nodes),
    get<{ jobs: Job[] }>('/cluster/jobs?limit=100').then((r) => r.jobs),
    get<Budget>('/cluster/budget'),
  ]);
  return { nodes, jobs, budget };
}
