// The node agent's heartbeat: the node credential is the only way in, every bad credential gets one
// answer, a refused or malformed report records nothing, and guessing is slowed down per address.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppDeps } from '../../api/deps.js';
import { ensureDefaultAdmin } from '../../db/bootstrap.js';
import { migrate, openDatabase, type Db } from '../../db/connect.js';
import { checkNodeCredential, revokeNodeCredential, setNodeCredential } from '../../db/node-agent.js';
import { newSecretToken, randomId, sha256Hex } from '../../security/tokens.js';
import { offlineApp, unreachableTemporal } from '../support/offline-app.js';
import { agentNode } from '../support/rows.js';

const ADMIN_KEY = 'berth_test_admin_token_0123456789';

let dataDir: string;
let db: Db;
let client: Client;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-heartbeat-'));
  db = openDatabase({ dataDir });
  await migrate(db);
  await ensureDefaultAdmin(db, dataDir, ADMIN_KEY);
  // The heartbeat never talks to Temporal: nothing listens on this port.
  client = await unreachableTemporal();
});
afterAll(async () => {
  await db?.destroy();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const newApp = (extra: Partial<AppDeps> = {}) => offlineApp(db, dataDir, client, extra);

/** A ready node of the default tenant with a fresh credential. */
async function node(options: { pool?: string; status?: string } = {}): Promise<{ nodeId: string; credential: string }> {
  const made = await agentNode(db, { tenantId: 'default', pool: options.pool ?? null });
  if (options.status) await db.updateTable('nodes').set({ status: options.status }).where('node_id', '=', made.nodeId).execute();
  return made;
}

function beat(app: ReturnType<typeof newApp>, nodeId: string, authorization: string | undefined, body: unknown = { cpu: 0.5, memory: 0.25, workloads: 3 }) {
  return app.request(`/cp/api/v1/cluster/nodes/${nodeId}/heartbeat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization !== undefined && { authorization }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const nodeRow = (nodeId: string) => db.selectFrom('nodes').selectAll().where('node_id', '=', nodeId).executeTakeFirstOrThrow();
const samplesOf = (nodeId: string) => db.selectFrom('node_samples').selectAll().where('node_id', '=', nodeId).orderBy('at').execute();
/** Everything a heartbeat could write, to show that a refused one wrote nothing. */
const everything = async () => ({
  nodes: await db.selectFrom('nodes').selectAll().orderBy('node_id').execute(),
  samples: await db.selectFrom('node_samples').selectAll().orderBy('node_id').orderBy('at').execute(),
});
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('a good credential', () => {
  it('records the latest values, a sample for a pool node, and busy_at only while there are workloads', async () => {
    const app = newApp();
    const pooled = await node({ pool: 'web' });

    const first = await beat(app, pooled.nodeId, `Bearer ${pooled.credential}`);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ state: 'active' });
    const after1 = await nodeRow(pooled.nodeId);
    expect(after1).toMatchObject({ cpu: 0.5, memory: 0.25, workloads: 3, drained_at: null });
    expect(after1.last_heartbeat_at).not.toBeNull();
    expect(after1.busy_at).toBe(after1.last_heartbeat_at);
    expect(await samplesOf(pooled.nodeId)).toEqual([{ node_id: pooled.nodeId, at: after1.last_heartbeat_at, cpu: 0.5 }]);

    await tick();
    const idle = await beat(app, pooled.nodeId, `Bearer ${pooled.credential}`, { cpu: 0.1, memory: 0.2, workloads: 0 });
    expect(idle.status).toBe(200);
    const after2 = await nodeRow(pooled.nodeId);
    expect(after2).toMatchObject({ cpu: 0.1, memory: 0.2, workloads: 0, busy_at: after1.busy_at });
    expect(after2.last_heartbeat_at! > after1.last_heartbeat_at!).toBe(true);
    expect((await samplesOf(pooled.nodeId)).map((s) => s.cpu)).toEqual([0.5, 0.1]);

    const loose = await node();
    expect((await beat(app, loose.nodeId, `Bearer ${loose.credential}`)).status).toBe(200);
    expect(await nodeRow(loose.nodeId)).toMatchObject({ cpu: 0.5, workloads: 3 });
    expect(await samplesOf(loose.nodeId)).toEqual([]);
  });

  it('answers drain once a drain was requested, and takes drained only after that, once', async () => {
    const app = newApp();
    const { nodeId, credential } = await node({ pool: 'web' });
    const auth = `Bearer ${credential}`;

    const early = await beat(app, nodeId, auth, { cpu: 0, memory: 0, workloads: 0, drained: true });
    expect(await early.json()).toEqual({ state: 'active' });
    expect((await nodeRow(nodeId)).drained_at).toBeNull();

    const requested = new Date().toISOString();
    await db.updateTable('nodes').set({ drain_requested_at: requested }).where('node_id', '=', nodeId).execute();
    expect(await (await beat(app, nodeId, auth, { cpu: 0.2, memory: 0.1, workloads: 1 })).json()).toEqual({ state: 'drain' });
    expect((await nodeRow(nodeId)).drained_at).toBeNull();

    expect(await (await beat(app, nodeId, auth, { cpu: 0, memory: 0, workloads: 0, drained: true })).json()).toEqual({ state: 'drain' });
    const drainedAt = (await nodeRow(nodeId)).drained_at;
    expect(drainedAt).not.toBeNull();
    expect(drainedAt! >= requested).toBe(true);

    await tick();
    await beat(app, nodeId, auth, { cpu: 0, memory: 0, workloads: 0, drained: true });
    expect((await nodeRow(nodeId)).drained_at).toBe(drainedAt);
  });

  it('works only on the heartbeat: the node credential is no admin key', async () => {
    const app = newApp();
    const { credential } = await node();
    const res = await app.request('/cp/api/v1/cluster/nodes', { headers: { authorization: `Bearer ${credential}` } });
    expect(res.status).toBe(401);
  });
});

describe('a bad credential', () => {
  it('gets one answer, whatever is wrong, and records nothing', async () => {
    const app = newApp();
    const a = await node({ pool: 'web' });
    const b = await node({ pool: 'web' });
    const gone = await node({ pool: 'web', status: 'decommissioned' });
    const leaving = await node({ pool: 'web', status: 'decommissioning' });
    const revoked = await node();
    await revokeNodeCredential(db, revoked.nodeId);
    // The admin key is a good key: it works on an admin route, and still not here.
    expect((await app.request('/cp/api/v1/cluster/nodes', { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(200);

    const before = await everything();
    const cases: Array<[string, string, string | undefined]> = [
      ['no Authorization', a.nodeId, undefined],
      ['a malformed Authorization', a.nodeId, `Basic ${a.credential}`],
      ['an empty bearer', a.nodeId, 'Bearer '],
      ['an unknown node id', `node-${randomId(12)}`, `Bearer ${a.credential}`],
      ['a wrong credential', a.nodeId, `Bearer ${newSecretToken('bnt')}`],
      ["node A's credential on node B", b.nodeId, `Bearer ${a.credential}`],
      ['a decommissioned node', gone.nodeId, `Bearer ${gone.credential}`],
      ['a decommissioning node', leaving.nodeId, `Bearer ${leaving.credential}`],
      ['a revoked credential', revoked.nodeId, `Bearer ${revoked.credential}`],
      ['an admin key', a.nodeId, `Bearer ${ADMIN_KEY}`],
    ];
    const answers = [];
    for (const [what, nodeId, authorization] of cases) {
      const res = await beat(app, nodeId, authorization);
      answers.push({ what, status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() });
    }
    for (const answer of answers) {
      expect({ ...answer, what: '' }).toEqual({ ...answers[0]!, what: '' });
    }
    expect(answers[0]).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Bearer' } });
    expect(JSON.parse(answers[0]!.body)).toEqual({ error: { code: 'invalid_credentials', message: 'the node credential is not valid' } });
    expect(await everything()).toEqual(before);
  });

  it('is refused before the body is looked at, even an oversized one', async () => {
    const app = newApp();
    const { nodeId } = await node();
    const res = await beat(app, nodeId, `Bearer ${newSecretToken('bnt')}`, JSON.stringify({ cpu: 0.5, memory: 0.5, workloads: 1, pad: 'x'.repeat(5 * 1024) }));
    expect(res.status).toBe(401);
  });
});

describe('a bad body from a good credential', () => {
  it('answers 413 over 4 KiB and 400 naming the field, and records nothing', async () => {
    const app = newApp();
    const { nodeId, credential } = await node({ pool: 'web' });
    const auth = `Bearer ${credential}`;
    const before = await everything();

    const big = await beat(app, nodeId, auth, JSON.stringify({ cpu: 0.5, memory: 0.5, workloads: 1, pad: 'x'.repeat(5 * 1024) }));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');

    const malformed = await beat(app, nodeId, auth, '{"cpu": 0.5,');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe('invalid_json');

    const wrong: Array<[unknown, string]> = [
      [{ cpu: 1.5, memory: 0.5, workloads: 1 }, 'cpu'],
      [{ cpu: -0.1, memory: 0.5, workloads: 1 }, 'cpu'],
      [{ cpu: 0.5, memory: '0.5', workloads: 1 }, 'memory'],
      [{ cpu: 0.5, memory: 0.5, workloads: 1.5 }, 'workloads'],
      [{ cpu: 0.5, memory: 0.5, workloads: 100_001 }, 'workloads'],
      [{ cpu: 0.5, memory: 0.5 }, 'workloads'],
      [{ cpu: 0.5, memory: 0.5, workloads: 1, drained: 'yes' }, 'drained'],
      [{ cpu: 0.5, memory: 0.5, workloads: 1, pods: 3 }, 'pods'],
    ];
    for (const [body, field] of wrong) {
      const res = await beat(app, nodeId, auth, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { field?: string } }).error.field).toBe(field);
    }
    expect(await everything()).toEqual(before);
  });
});

describe('the failure limiter', () => {
  it('answers 429 with Retry-After after N failures, even to a good credential', async () => {
    const app = newApp({ heartbeatFailureLimit: { max: 3, windowMs: 60_000 } });
    const { nodeId, credential } = await node();
    for (let i = 0; i < 3; i++) expect((await beat(app, nodeId, `Bearer ${newSecretToken('bnt')}`)).status).toBe(401);

    for (const authorization of [`Bearer ${newSecretToken('bnt')}`, `Bearer ${credential}`]) {
      const blocked = await beat(app, nodeId, authorization);
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await blocked.json()) as { error: { code: string } }).error.code).toBe('too_many_attempts');
    }
    expect((await nodeRow(nodeId)).last_heartbeat_at).toBeNull();

    // Its own limiter: registrations from the same address are not blocked by it.
    const register = await app.request('/cp/api/v1/cluster/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: `brt_guess_${'A'.repeat(43)}` }),
    });
    expect(register.status).toBe(401);
  });
});

describe('node credentials in the database', () => {
  it('are checked per node, replaced by a new one, and revoked', async () => {
    const { nodeId, credential } = await node({ pool: 'web' });
    expect(await checkNodeCredential(db, nodeId, credential)).toEqual({ node_id: nodeId, tenant_id: 'default', pool: 'web' });

    // A repeated registration replaces the credential: the old one stops working.
    const replacement = newSecretToken('bnt');
    expect(await setNodeCredential(db, { nodeId, tenantId: 'default', hash: sha256Hex(replacement) })).toBe(true);
    expect(await checkNodeCredential(db, nodeId, credential)).toBeUndefined();
    expect(await checkNodeCredential(db, nodeId, replacement)).toMatchObject({ node_id: nodeId });

    // Only the node's own tenant, and only while it is ready.
    expect(await setNodeCredential(db, { nodeId, tenantId: 'other', hash: sha256Hex(newSecretToken('bnt')) })).toBe(false);
    const gone = await node({ status: 'decommissioned' });
    expect(await setNodeCredential(db, { nodeId: gone.nodeId, tenantId: 'default', hash: sha256Hex(newSecretToken('bnt')) })).toBe(false);

    await revokeNodeCredential(db, nodeId);
    expect(await checkNodeCredential(db, nodeId, replacement)).toBeUndefined();
    expect((await nodeRow(nodeId)).agent_token_hash).toBeNull();
  });
});
