import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CatalogueCache, VERIFIED_TTL_MS, type CatalogueLookup } from '../../providers/catalogue-cache.js';
import { ProviderError, type Provider } from '../../providers/types.js';

/** A provider whose token check is counted and can be made to fail or to wait. */
function countingProvider() {
  const state = { verifies: 0, failing: false, gate: undefined as Promise<void> | undefined };
  const provider = {
    name: 'hetzner',
    async verify() {
      state.verifies++;
      await state.gate;
      if (state.failing) throw new ProviderError('the token is not valid', 'unauthorized', false);
    },
  } as unknown as Provider;
  return { provider, state };
}

describe('the token check in the catalogue cache', () => {
  it("answers a job's check from a success of the last minute, then asks again", async () => {
    const clock = { ms: 1_000_000, now: () => clock.ms }; // lru-cache takes a start time of 0 for "no TTL"
    const lookups: CatalogueLookup[] = [];
    const cache = new CatalogueCache((l) => lookups.push(l), clock);
    const { provider, state } = countingProvider();
    await cache.wrap(provider, 'token-a', { reuseVerified: true }).verify();
    await cache.wrap(provider, 'token-a', { reuseVerified: true }).verify();
    expect(state.verifies).toBe(1);
    expect(lookups.map((l) => `${l.kind}:${l.hit}`)).toEqual(['verify:false', 'verify:true']);
    // Another token of the same provider is another account.
    await cache.wrap(provider, 'token-b', { reuseVerified: true }).verify();
    expect(state.verifies).toBe(2);
    clock.ms += VERIFIED_TTL_MS - 1_000;
    await cache.wrap(provider, 'token-a', { reuseVerified: true }).verify();
    expect(state.verifies).toBe(2);
    clock.ms += 2_000;
    await sleep(5); // lru-cache reads its clock at most once per millisecond of real time
    await cache.wrap(provider, 'token-a', { reuseVerified: true }).verify();
    expect(state.verifies).toBe(3);
  });

  it('shares one call among concurrent checks and keeps no failure', async () => {
    const cache = new CatalogueCache();
    const { provider, state } = countingProvider();
    let open!: () => void;
    state.gate = new Promise((r) => (open = r));
    state.failing = true;
    const checks = Array.from({ length: 20 }, () => cache.wrap(provider, 'token-a', { reuseVerified: true }).verify());
    open();
    const results = await Promise.allSettled(checks);
    expect(state.verifies).toBe(1);
    expect(results.every((r) => r.status === 'rejected' && (r.reason as ProviderError).code === 'unauthorized')).toBe(true);
    // The failure was not kept: the next check asks the provider.
    state.gate = undefined;
    state.failing = false;
    await cache.wrap(provider, 'token-a', { reuseVerified: true }).verify();
    expect(state.verifies).toBe(2);
  });

  it("always asks the provider for an operator's check, and lets jobs reuse its success", async () => {
    const cache = new CatalogueCache();
    const { provider, state } = countingProvider();
    await cache.wrap(provider, 'token-a').verify();
    await cache.wrap(provider, 'token-a').verify();
    expect(state.verifies).toBe(2);
    await cache.wrap(provider, 'token-a', { reuseVerified: true }).verify();
    expect(state.verifies).toBe(2);
    // A failed operator check (the token was revoked) ends the kept success: the jobs ask again.
    state.failing = true;
    await expect(cache.wrap(provider, 'token-a').verify()).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(cache.wrap(provider, 'token-a', { reuseVerified: true }).verify()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(state.verifies).toBe(4);
  });
});
