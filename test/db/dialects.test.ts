// The database layer on every dialect: the same migrations, the same atomic admission and token
// claims, under real concurrency (a pool of connections on PostgreSQL, two processes on both).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { admitJob, releaseJobSlot, type Refusal } from '../../db/admission.js';
import type { Db } from '../../db/connect.js';
import { checkNodeCredential, recordHeartbeat } from '../../db/node-agent.js';
import { recordPhase } from '../../db/jobs.js';
import { unbindJobNode } from '../../db/nodes.js';
import { registerNode } from '../../db/registration.js';
import { consumeRegistrationToken, storeRegistrationToken } from '../../db/registration-tokens.js';
import { createApiKey, createTenant, getTenant, setBudget } from '../../db/tenants.js';
import type { Tier } from '../../db/tiers.js';
import { deriveRegistrationToken, randomId, sha256Hex } from '../../security/tokens.js';
import { freePort } from '../../temporal/dev-server.js';
import { dialects, type TestDatabase } from '../support/databases.js';
import { agentNode, waitingJob as waitingJobRow } from '../support/rows.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const opened: TestDatabase[] = [];
afterAll(async () => {
  for (const database of opened) await database.drop();
});

/** One admission attempt as the API makes it: admit, then record the job, in one transaction. */
async function tryAdmit(db: Db, tenantId: string, priceCents: number): Promise<string | Refusal> {
  const jobId = randomId(12);
  try {
    await db.transaction().execute(async (trx) => {
      const refusal = await admitJob(trx, tenantId, priceCents);
      if (refusal) throw refusal;
      const now = new Date().toISOString();
      await trx
        .insertInto('jobs')
        .values({
          job_id: jobId,
          tenant_id: tenantId,
          provider: 'local',
          region: 'local',
          plan: 'local-1',
          hostname: null,
          phase: 'queued',
          vm_id: null,
          node_id: null,
          error: null,
          idempotency_key: null,
          request_hash: 'x',
          created_at: now,
          updated_at: now,
          price_cents: priceCents,
          holds_slot: 1,
        })
        .execute();
    });
    return jobId;
  } catch (err) {
    if ((err as Refusal).code) return err as Refusal;
    throw err;
  }
}

describe.each(dialects())('%s', (_name, open) => {
  async function freshDb() {
    const database = await open();
    opened.push(database);
    return database;
  }
  async function tenantIn(db: Db, tier: Tier) {
    const id = `t-${randomId(6)}`;
    await createTenant(db, id, id, tier);
    return id;
  }

  it('admits exactly 5 of 50 concurrent jobs for a team tenant, and releases a slot once', async () => {
    const { db } = await freshDb();
    const tenantId = await tenantIn(db, 'team');
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => tryAdmit(db, tenantId, 100)));
    const admitted = outcomes.filter((o): o is string => typeof o === 'string');
    expect(admitted).toHaveLength(5);
    expect(new Set(outcomes.filter((o) => typeof o !== 'string').map((o) => (o as Refusal).code))).toEqual(new Set(['node_cap_reached']));
    expect(await getTenant(db, tenantId)).toMatchObject({ reserved_nodes: 5, committed_cents: 500 });

    await db.transaction().execute((trx) => releaseJobSlot(trx, admitted[0]!));
    await db.transaction().execute((trx) => releaseJobSlot(trx, admitted[0]!));
    expect(await getTenant(db, tenantId)).toMatchObject({ reserved_nodes: 4, committed_cents: 400 });
  });

  it('holds the budget under concurrency: at the budget is allowed, one cent over is refused', async () => {
    const { db } = await freshDb();
    const tenantId = await tenantIn(db, 'enterprise');
    await setBudget(db, tenantId, 1_000);
    const outcomes = await Promise.all(Array.from({ length: 30 }, () => tryAdmit(db, tenantId, 100)));
    expect(outcomes.filter((o) => typeof o === 'string')).toHaveLength(10);
    expect(outcomes.filter((o) => typeof o !== 'string').every((o) => (o as Refusal).code === 'budget_exceeded')).toBe(true);
    expect(await getTenant(db, tenantId)).toMatchObject({ committed_cents: 1_000 });
  });

  it('refuses free and pro tenants with plan_required', async () => {
    const { db } = await freshDb();
    for (const tier of ['free', 'pro'] as const) {
      const outcome = await tryAdmit(db, await tenantIn(db, tier), 0);
      expect(outcome).toMatchObject({ status: 403, code: 'plan_required' });
    }
  });

  it('lets exactly one of 20 concurrent callers consume a registration token', async () => {
    const { db } = await freshDb();
    const token = deriveRegistrationToken(Buffer.alloc(32, 1), 'default', 'jobrace1');
    await storeRegistrationToken(db, { jobId: 'jobrace1', tenantId: 'default', token, ttlMs: 60_000 });
    const claims = await Promise.all(Array.from({ length: 20 }, () => consumeRegistrationToken(db, token)));
    expect(claims.filter(Boolean)).toHaveLength(1);
  });

  describe('registration', () => {
    const waitingJob = (db: Db, tenantId: string) => waitingJobRow(db, { tenantId });

    it('never leaves a ready node for a job that is ending, whichever of the callback and the compensation goes first', async () => {
      const { db } = await freshDb();
      const tenantId = await tenantIn(db, 'team');
      const outcomes = new Set<string>();
      for (let round = 0; round < 30; round++) {
        const { jobId, token } = await waitingJob(db, tenantId);
        // Either side starts first, by up to 2 ms.
        const pause = (side: number) => new Promise((r) => setTimeout(r, round % 2 === side ? round % 3 : 0));
        const [registration] = await Promise.all([
          pause(0).then(() => registerNode(db, { token, facts: { hostname: 'h' }, credentialHash: sha256Hex('c') })),
          // The workflow's compensation: the ending is recorded first, then the job's node unbound.
          (async () => {
            await pause(1);
            await recordPhase(db, { jobId, phase: 'decommissioning', at: new Date().toISOString() });
            await unbindJobNode(db, jobId);
          })(),
        ]);
        outcomes.add(registration.outcome);
        const ready = await db.selectFrom('nodes').select('node_id').where('job_id', '=', jobId).where('status', '=', 'ready').execute();
        expect(ready).toEqual([]);
      }
      // Not a vacuous pass: both orders happened.
      expect([...outcomes].sort()).toEqual(['bound', 'not_waiting']);
    });

    it('keeps the phase the API recorded when the workflow records an earlier one, and gives the node its VM', async () => {
      const { db } = await freshDb();
      const tenantId = await tenantIn(db, 'team');
      const { jobId, token } = await waitingJob(db, tenantId);
      expect((await registerNode(db, { token, facts: {}, credentialHash: sha256Hex('c') })).outcome).toBe('bound');
      await recordPhase(db, { jobId, phase: 'bootstrapping', vmId: 'vm-9', at: new Date().toISOString() });
      expect(await db.selectFrom('jobs').select(['phase', 'vm_id']).where('job_id', '=', jobId).executeTakeFirst()).toEqual({ phase: 'registering', vm_id: 'vm-9' });
      expect(await db.selectFrom('nodes').select(['vm_id', 'hostname']).where('job_id', '=', jobId).executeTakeFirst()).toEqual({ vm_id: 'vm-9', hostname: `berth-${jobId}` });
    });

    it("adds no progress for a late activity's phase once the job is ending, and reopens nothing", async () => {
      const { db } = await freshDb();
      const tenantId = await tenantIn(db, 'team');
      const { jobId, token } = await waitingJob(db, tenantId);
      const at = () => new Date().toISOString();
      expect(await recordPhase(db, { jobId, phase: 'decommissioning', at: at() })).toBe(true);
      // A create that outlived the cancel records its phases when it starts and when it returns.
      expect(await recordPhase(db, { jobId, phase: 'provisioning', at: at() })).toBe(false);
      expect(await recordPhase(db, { jobId, phase: 'bootstrapping', vmId: 'vm-9', at: at() })).toBe(false);
      expect(await db.selectFrom('jobs').select('phase').where('job_id', '=', jobId).executeTakeFirst()).toEqual({ phase: 'decommissioning' });
      expect((await db.selectFrom('job_progress').select('phase').where('job_id', '=', jobId).execute()).map((r) => r.phase)).toEqual(['decommissioning']);
      expect((await registerNode(db, { token, facts: {}, credentialHash: sha256Hex('c') })).outcome).toBe('not_waiting');
      // A repeat of the phase the job is in is not entered twice.
      expect(await recordPhase(db, { jobId, phase: 'decommissioning', at: at() })).toBe(false);
    });
  });

  describe('node agent', () => {
    const nodeIn = (db: Db, tenantId: string, pool: string | null) => agentNode(db, { tenantId, pool });

    it('checks the credential and records heartbeats, samples and drains', async () => {
      const { db } = await freshDb();
      const tenantId = await tenantIn(db, 'enterprise');
      const { nodeId, credential } = await nodeIn(db, tenantId, 'web');
      const other = await nodeIn(db, tenantId, null);
      expect(await checkNodeCredential(db, nodeId, credential)).toEqual({ node_id: nodeId, tenant_id: tenantId, pool: 'web' });
      expect(await checkNodeCredential(db, nodeId, other.credential)).toBeUndefined();

      const t1 = new Date('2026-11-23T10:00:00.000Z');
      expect(await recordHeartbeat(db, { nodeId, at: t1, cpu: 0.75, memory: 0.5, workloads: 2 })).toEqual({ state: 'active' });
      await db.updateTable('nodes').set({ drain_requested_at: '2026-11-23T10:00:05.000Z' }).where('node_id', '=', nodeId).execute();
      const t2 = new Date('2026-11-23T10:00:15.000Z');
      expect(await recordHeartbeat(db, { nodeId, at: t2, cpu: 0.25, memory: 0.5, workloads: 0, drained: true })).toEqual({ state: 'drain' });
      await recordHeartbeat(db, { nodeId, at: new Date('2026-11-23T10:00:30.000Z'), cpu: 0, memory: 0.5, workloads: 0, drained: true });
      expect(await db.selectFrom('nodes').selectAll().where('node_id', '=', nodeId).executeTakeFirst()).toMatchObject({
        last_heartbeat_at: '2026-11-23T10:00:30.000Z',
        cpu: 0,
        workloads: 0,
        busy_at: t1.toISOString(),
        drained_at: t2.toISOString(),
      });
      expect(await db.selectFrom('node_samples').select(['at', 'cpu']).where('node_id', '=', nodeId).orderBy('at').execute()).toEqual([
        { at: t1.toISOString(), cpu: 0.75 },
        { at: t2.toISOString(), cpu: 0.25 },
        { at: '2026-11-23T10:00:30.000Z', cpu: 0 },
      ]);

      // A node without a pool keeps no samples; a node that is no longer ready records nothing.
      await recordHeartbeat(db, { nodeId: other.nodeId, at: t1, cpu: 0.5, memory: 0.5, workloads: 1 });
      await db.updateTable('nodes').set({ status: 'decommissioned' }).where('node_id', '=', other.nodeId).execute();
      expect(await checkNodeCredential(db, other.nodeId, other.credential)).toBeUndefined();
      expect(await recordHeartbeat(db, { nodeId: other.nodeId, at: t2, cpu: 0.9, memory: 0.9, workloads: 9 })).toBeUndefined();
      expect(await db.selectFrom('nodes').select(['last_heartbeat_at', 'cpu']).where('node_id', '=', other.nodeId).executeTakeFirst()).toEqual({
        last_heartbeat_at: t1.toISOString(),
        cpu: 0.5,
      });
      expect(await db.selectFrom('node_samples').selectAll().where('node_id', '=', other.nodeId).execute()).toEqual([]);
    });
  });

  it('admits exactly 5 of 50 requests spread over two API processes', { timeout: 120_000 }, async () => {
    const database = await freshDb();
    const tenantId = await tenantIn(database.db, 'team');
    const { key } = await createApiKey(database.db, tenantId, 'test');
    const apis: ChildProcess[] = [];
    try {
      const ports = [await freePort(), await freePort()];
      for (const port of ports) {
        apis.push(
          spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'api/main.ts')], {
            cwd: ROOT,
            stdio: ['ignore', 'ignore', 'inherit'],
            env: {
              PATH: process.env.PATH,
              ...database.env,
              BERTH_PORT: String(port),
              BERTH_ADMIN_TOKEN: 'berth_test_admin_token_0123456789',
              BERTH_LOG_LEVEL: 'error',
              TEMPORAL_ADDRESS: inject('temporalAddress'),
              // No worker polls this queue: the admitted jobs simply stay queued.
              BERTH_TASK_QUEUE: `admission-${randomId(8)}`,
            },
          }),
        );
      }
      for (const port of ports) await waitHealthy(port);
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          fetch(`http://127.0.0.1:${ports[i % 2]}/cp/api/v1/cluster/nodes`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ provider: 'local', region: 'local', plan: 'local-1' }),
          }).then((r) => r.status),
        ),
      );
      expect(answers.filter((s) => s === 202)).toHaveLength(5);
      expect(answers.filter((s) => s === 409)).toHaveLength(45);
      expect(await getTenant(database.db, tenantId)).toMatchObject({ reserved_nodes: 5 });
    } finally {
      for (const api of apis) api.kill('SIGKILL');
    }
  });
});

async function waitHealthy(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(150);
  }
  throw new Error(`the API on port ${port} did not become healthy`);
}
