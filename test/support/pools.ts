// Helpers for the pool suites: create a pool, read it, wait for it to reach a state.
import { expect } from 'vitest';
import type { Stack } from './stack.js';

export const POOLS = '/cp/api/v1/cluster/pools';

/** A pool with short windows so a test sees its decisions within seconds. */
export function poolBody(name: string, over: Record<string, unknown> = {}) {
  return {
    name,
    template: { provider: 'local', region: 'local', plan: 'local-1' },
    min: 1,
    max: 5,
    evaluation_interval: '1s',
    health: { unhealthy_after: '6s' },
    ...over,
  };
}

export function poolHelpers(stack: Stack, authorization?: string) {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  const request = (method: string, route: string, body?: unknown) => stack.request(method, route, body, headers);

  async function create(body: Record<string, unknown>) {
    const res = await request('POST', POOLS, body);
    if (res.status !== 201) throw new Error(`pool create failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  const get = async (name: string) => (await request('GET', `${POOLS}/${name}`)).body;

  /** Polls the pool until `check` passes; a failure shows the pool as it last was and its decisions. */
  async function waitFor(name: string, check: (pool: any) => boolean, timeout = 60_000) {
    const deadline = Date.now() + timeout;
    let last: any;
    while (Date.now() < deadline) {
      last = await get(name);
      if (check(last)) return last;
      await new Promise((r) => setTimeout(r, 250));
    }
    const decisions = (await events(name)).map((e) => `${e.kind}: ${e.reason}`);
    throw new Error(`pool ${name} did not get there in ${timeout}ms; last: ${JSON.stringify(last)}\ndecisions:\n${decisions.join('\n')}`);
  }

  /** The pool's nodes as the node list shows them. */
  async function nodes(name: string, status = 'ready') {
    const all = (await request('GET', `/cp/api/v1/cluster/nodes?status=${status}`)).body.nodes as Array<Record<string, string>>;
    return all.filter((n) => n.pool === name);
  }

  /** Every decision recorded for the pool so far. */
  async function events(name: string): Promise<Array<{ seq: number; at: string; kind: string; reason: string }>> {
    const rows = await stack.db.selectFrom('pool_events').select(['seq', 'at', 'kind', 'reason']).where('pool', '=', name).orderBy('seq').execute();
    return rows;
  }

  async function remove(name: string, timeout = 60_000) {
    expect((await request('DELETE', `${POOLS}/${name}`)).status).toBe(202);
    await expect.poll(async () => (await request('GET', `${POOLS}/${name}`)).status, { timeout, interval: 250 }).toBe(404);
  }

  return { request, create, get, waitFor, nodes, events, remove };
}
