// Tenants, tiers, caps and budgets through the API, with jobs running on the real server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, createTenant, getTenant } from '../../db/tenants.js';
import type { Tier } from '../../db/tiers.js';
import { dialects } from '../support/databases.js';
import { startStack, type Stack } from '../support/stack.js';

// The whole file runs once per dialect: the same API on SQLite and on PostgreSQL.
describe.each(dialects())('%s', (_dialect, database) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ registrationTtlMs: 120_000, database });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const NEVER_REGISTER = { provider: 'local', region: 'local', plan: 'local-1', labels: { 'berth.dev/simulate': 'never-register' } };

  async function tenant(id: string, tier: Tier) {
    await createTenant(stack.db, id, id, tier);
    const { key } = await createApiKey(stack.db, id, 'test');
    const as = (method: string, route: string, body?: unknown) => stack.request(method, `/cp/api/v1${route}`, body, { authorization: `Bearer ${key}` });
    return { key, as };
  }

  async function cancelAll({ as, key }: Awaited<ReturnType<typeof tenant>>, jobIds: string[]) {
    await Promise.all(jobIds.map((id) => as('POST', `/cluster/jobs/${id}/cancel`)));
    await Promise.all(jobIds.map((id) => stack.waitForPhase(id, ['cancelled', 'failed'], 30_000, key)));
  }

  describe('license tiers', () => {
    it.each(['free', 'pro'] as const)('%s cannot provision: 403 plan_required with an upgrade hint, nothing made', async (tier) => {
      const { as } = await tenant(`t-${tier}`, tier);
      const res = await as('POST', '/cluster/nodes', NEVER_REGISTER);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('plan_required');
      expect(res.body.error.message).toMatch(/upgrade to team/);
      expect((await as('GET', '/cluster/jobs')).body.jobs).toEqual([]);
      expect((await getTenant(stack.db, `t-${tier}`))?.reserved_nodes).toBe(0);
    });

    it('team: 50 concurrent requests admit exactly 5; hand-registered nodes do not count; a cancelled job frees its slot', async () => {
      const team = await tenant('t-team', 'team');
      const { as } = team;
      const now = new Date().toISOString();
      for (const n of [1, 2]) {
        await stack.db
          .insertInto('nodes')
          .values({
            node_id: `hand-${n}`,
            tenant_id: 't-team',
            job_id: null,
            provider: 'local',
            vm_id: null,
            hostname: `hand-${n}`,
            status: 'ready',
            provisioned: 0,
            facts: '{}',
            created_at: now,
            updated_at: now,
          })
          .execute();
      }
      const answers = await Promise.all(Array.from({ length: 50 }, () => as('POST', '/cluster/nodes', NEVER_REGISTER)));
      const admitted = answers.filter((a) => a.status === 202).map((a) => a.body.job_id as string);
      const refused = answers.filter((a) => a.status === 409);
      expect(admitted).toHaveLength(5);
      expect(refused).toHaveLength(45);
      expect(refused[0]!.body.error.code).toBe('node_cap_reached');
      expect((await as('GET', '/cluster/jobs')).body.jobs).toHaveLength(5);

      await cancelAll(team, admitted.slice(0, 1));
      expect((await getTenant(stack.db, 't-team'))?.reserved_nodes).toBe(4);
      const again = await as('POST', '/cluster/nodes', NEVER_REGISTER);
      expect(again.status).toBe(202);
      expect((await as('POST', '/cluster/nodes', NEVER_REGISTER)).status).toBe(409);
      await cancelAll(team, [...admitted.slice(1), again.body.job_id]);
      expect((await getTenant(stack.db, 't-team'))?.reserved_nodes).toBe(0);
    });

    it('enterprise has no cap', async () => {
      const ent = await tenant('t-ent', 'enterprise');
      const { as } = ent;
      const answers = await Promise.all(Array.from({ length: 7 }, () => as('POST', '/cluster/nodes', NEVER_REGISTER)));
      expect(answers.map((a) => a.status)).toEqual(Array(7).fill(202));
      await cancelAll(
        ent,
        answers.map((a) => a.body.job_id),
      );
    });
  });

  describe('monthly budget', () => {
    it('allows a node exactly at the budget and refuses one cent over with 402', async () => {
      const owner = await tenant('t-budget', 'enterprise');
      const { as } = owner;
      expect((await as('GET', '/cluster/budget')).body).toEqual({
        monthly_cents: null,
        committed_cents: 0,
        remaining_cents: null,
        nodes_counted: 0,
        tier: 'enterprise',
        node_cap: null,
      });
      // local-1 costs 100 cents a month: 299 is one cent short of the third node.
      expect((await as('PUT', '/cluster/budget', { monthly_cents: 299 })).status).toBe(200);
      const first = await Promise.all([1, 2].map(() => as('POST', '/cluster/nodes', NEVER_REGISTER)));
      expect(first.map((a) => a.status)).toEqual([202, 202]);
      const over = await as('POST', '/cluster/nodes', NEVER_REGISTER);
      expect(over.status).toBe(402);
      expect(over.body.error.code).toBe('budget_exceeded');
      expect(over.body.error.message).toMatch(/1\.00 a month.*2\.00 already committed.*2\.99.*0\.99 left/);

      await as('PUT', '/cluster/budget', { monthly_cents: 300 });
      const exact = await as('POST', '/cluster/nodes', NEVER_REGISTER);
      expect(exact.status).toBe(202);
      expect((await as('GET', '/cluster/budget')).body).toEqual({
        monthly_cents: 300,
        committed_cents: 300,
        remaining_cents: 0,
        nodes_counted: 3,
        tier: 'enterprise',
        node_cap: null,
      });

      await as('PUT', '/cluster/budget', { monthly_cents: null });
      const unlimited = await as('POST', '/cluster/nodes', NEVER_REGISTER);
      expect(unlimited.status).toBe(202);
      await cancelAll(
        owner,
        [...first, exact, unlimited].map((a) => a.body.job_id),
      );
      expect((await as('GET', '/cluster/budget')).body.committed_cents).toBe(0);
    });

    it('validates the budget', async () => {
      const { as } = await tenant('t-budget-bad', 'enterprise');
      const res = await as('PUT', '/cluster/budget', { monthly_cents: -5 });
      expect(res.status).toBe(400);
      expect(res.body.error.field).toBe('monthly_cents');
    });
  });

  describe('tenant isolation and keys', () => {
    it("answers 404 for another tenant's job and node on every endpoint", async () => {
      const a = await tenant('t-iso-a', 'enterprise');
      const b = await tenant('t-iso-b', 'enterprise');
      const jobId = (await a.as('POST', '/cluster/nodes', { provider: 'local', region: 'local', plan: 'local-1' })).body.job_id;
      const job = await stack.waitForPhase(jobId, ['ready', 'failed'], 30_000, a.key);
      for (const [method, route] of [
        ['GET', `/cluster/jobs/${jobId}`],
        ['GET', `/cluster/jobs/${jobId}/events`],
        ['POST', `/cluster/jobs/${jobId}/cancel`],
        ['DELETE', `/cluster/nodes/${job.node_id}`],
      ] as const) {
        const res = await b.as(method, route);
        expect(res.status, `${method} ${route}`).toBe(404);
      }
      expect((await b.as('GET', '/cluster/jobs')).body.jobs).toEqual([]);
      expect((await b.as('GET', '/cluster/nodes')).body.nodes).toEqual([]);
      expect((await a.as('GET', '/cluster/nodes')).body.nodes).toHaveLength(1);
      expect((await a.as('DELETE', `/cluster/nodes/${job.node_id}`)).status).toBe(202);
    });

    it('creates a key shown once, lists keys without secrets, and a revoked key stops working', async () => {
      const a = await tenant('t-keys', 'team');
      const created = await a.as('POST', '/keys', { label: 'ci' });
      expect(created.status).toBe(201);
      const second = (method: string, route: string) => stack.request(method, `/cp/api/v1${route}`, undefined, { authorization: `Bearer ${created.body.key}` });
      expect((await second('GET', '/cluster/jobs')).status).toBe(200);
      const listed = (await a.as('GET', '/keys')).body.keys;
      expect(listed).toHaveLength(2);
      expect(JSON.stringify(listed)).not.toContain(created.body.key);
      expect((await a.as('DELETE', `/keys/${created.body.key_id}`)).status).toBe(204);
      expect((await second('GET', '/cluster/jobs')).status).toBe(401);
      // Another tenant cannot revoke it, or even see it.
      const b = await tenant('t-keys-b', 'team');
      const { keyId } = await createApiKey(stack.db, 't-keys', 'other');
      expect((await b.as('DELETE', `/keys/${keyId}`)).status).toBe(404);
    });

    it('lets only the operator create tenants', async () => {
      const outsider = await tenant('t-outsider', 'enterprise');
      expect((await outsider.as('POST', '/tenants', { tenant_id: 'x1', tier: 'team' })).status).toBe(403);
      const made = await stack.request('POST', '/cp/api/v1/tenants', { tenant_id: 'acme', tier: 'team' });
      expect(made.status).toBe(201);
      expect(made.body).toMatchObject({ tenant_id: 'acme', tier: 'team' });
      const acme = await stack.request('GET', '/cp/api/v1/cluster/budget', undefined, { authorization: `Bearer ${made.body.key}` });
      expect(acme.status).toBe(200);
      expect((await stack.request('POST', '/cp/api/v1/tenants', { tenant_id: 'acme', tier: 'team' })).status).toBe(409);
      const bad = await stack.request('POST', '/cp/api/v1/tenants', { tenant_id: 'acme', tier: 'gold' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.field).toBe('tier');
    });
  });
});
