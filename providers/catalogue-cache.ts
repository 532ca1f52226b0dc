import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { CallOptions, Plan, Provider, Region } from './types.js';

/** One look into the cache: `hit` when no provider call was needed (a shared pending one counts as a miss). */
export interface CatalogueLookup {
  provider: string;
  kind: 'regions' | 'plans';
  hit: boolean;
}

export type CatalogueObserver = (lookup: CatalogueLookup) => void;

/** Long enough that a busy wizard costs the provider's rate limit nothing, short enough for price changes. */
const TTL_MS = 5 * 60_000;

/**
 * Regions and plans per (provider, account), shared by every caller in the process. Accounts are
 * told apart by a digest of their token; concurrent misses share one request.
 */
export class CatalogueCache {
  private readonly entries = new LRUCache<string, Region[] | Plan[]>({ max: 500, ttl: TTL_MS });
  private readonly pending = new Map<string, Promise<Region[] | Plan[]>>();

  constructor(private readonly observer?: CatalogueObserver) {}

  /** The provider with cached `regions` and `plans`; `account` is the token or another stable id. */
  wrap(provider: Provider, account: string): Provider {
    const scope = `${provider.name}:${createHash('sha256').update(account).digest('hex').slice(0, 32)}`;
    const cached = <T extends Region[] | Plan[]>(kind: CatalogueLookup['kind'], key: string, load: () => Promise<T>) =>
      this.get(`${scope}:${key}`, load, (hit) => this.observer?.({ provider: provider.name, kind, hit })) as Promise<T>;
    return {
      name: provider.name,
      verify: (options) => provider.verify(options),
      regions: (options?: CallOptions) => cached('regions', 'regions', () => provider.regions(options)),
      plans: (region: string, options?: CallOptions) => cached('plans', `plans:${region}`, () => provider.plans(region, options)),
      listByJob: (jobId, options) => provider.listByJob(jobId, options),
      findByName: (name, options) => provider.findByName(name, options),
      listManaged: (options) => provider.listManaged(options),
      create: (spec, options) => provider.create(spec, options),
      adopt: (vm, spec, options) => provider.adopt(vm, spec, options),
      delete: (vmId, options) => provider.delete(vmId, options),
    };
  }

  private async get(key: string, load: () => Promise<Region[] | Plan[]>, seen: (hit: boolean) => void): Promise<Region[] | Plan[]> {
    const hit = this.entries.get(key);
    seen(hit !== undefined);
    if (hit) return hit;
    let running = this.pending.get(key);
    if (!running) {
      running = load().finally(() => this.pending.delete(key));
      this.pending.set(key, running);
    }
    const value = await running;
    this.entries.set(key, value);
    return value;
  }
}
