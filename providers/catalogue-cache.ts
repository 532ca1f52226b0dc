import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { CallOptions, Plan, Provider, Region } from './types.js';

/** One look into the cache: `hit` when no provider call was needed (a shared pending one counts as a miss). */
export interface CatalogueLookup {
  provider: string;
  kind: 'regions' | 'plans' | 'verify';
  hit: boolean;
}

export type CatalogueObserver = (lookup: CatalogueLookup) => void;

/** Long enough that a busy wizard costs the provider's rate limit nothing, short enough for price changes. */
const TTL_MS = 5 * 60_000;
/**
 * How long a successful token check answers for the jobs that follow it: a pool's scale-out of 20
 * nodes checks once. A token revoked meanwhile fails the create instead, with the same reason.
 */
export const VERIFIED_TTL_MS = 60_000;

type Entry = Region[] | Plan[] | true;

/**
 * Regions, plans and recent successful token checks per (provider, account), shared by every
 * caller in the process. Accounts are told apart by a digest of their token; concurrent misses
 * share one request; failures are never kept.
 */
export class CatalogueCache {
  private readonly entries: LRUCache<string, Entry>;
  private readonly pending = new Map<string, Promise<Entry>>();

  /** `clock`: the time the entries age by (tests move it). */
  constructor(
    private readonly observer?: CatalogueObserver,
    clock?: { now(): number },
  ) {
    this.entries = new LRUCache<string, Entry>({ max: 500, ttl: TTL_MS, ...(clock && { perf: clock }) });
  }

  /**
   * The provider with cached `regions` and `plans`; `account` is the token or another stable id.
   * With `reuseVerified`, `verify` answers from a success of the last minute (jobs); without it
   * (an operator checking a token) it always asks the provider, and a success is kept.
   */
  wrap(provider: Provider, account: string, { reuseVerified = false } = {}): Provider {
    const scope = `${provider.name}:${createHash('sha256').update(account).digest('hex').slice(0, 32)}`;
    const cached = <T extends Entry>(kind: CatalogueLookup['kind'], key: string, load: () => Promise<T>, ttl = TTL_MS) =>
      this.get(`${scope}:${key}`, load, ttl, (hit) => this.observer?.({ provider: provider.name, kind, hit })) as Promise<T>;
    const verified = async (options?: CallOptions): Promise<true> => {
      await provider.verify(options);
      return true;
    };
    return {
      name: provider.name,
      verify: async (options) => {
        if (reuseVerified) await cached('verify', 'verified', () => verified(options), VERIFIED_TTL_MS);
        else await this.recheck(`${scope}:verified`, () => verified(options));
      },
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

  /** An operator's check: its success is kept for the jobs, its failure ends a kept success. */
  private async recheck(key: string, check: () => Promise<true>): Promise<void> {
    try {
      this.entries.set(key, await check(), { ttl: VERIFIED_TTL_MS });
    } catch (err) {
      this.entries.delete(key);
      throw err;
    }
  }

  private async get(key: string, load: () => Promise<Entry>, ttl: number, seen: (hit: boolean) => void): Promise<Entry> {
    const hit = this.entries.get(key);
    seen(hit !== undefined);
    if (hit) return hit;
    let running = this.pending.get(key);
    if (!running) {
      running = load().finally(() => this.pending.delete(key));
      this.pending.set(key, running);
    }
    const value = await running;
    this.entries.set(key, value, { ttl });
    return value;
  }
}
