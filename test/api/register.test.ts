// The VM callback's failure paths: the node is bound with the token's claim, a delivery that cannot
// reach the workflow hands the token back, a claim of an API that died lapses, a job that is ending
// binds nothing, and an address that keeps guessing tokens is slowed down.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate, openDatabase, type Db } from '../../db/connect.js';
import { registerNode } from '../../db/registration.js';
import { completeRegistrationToken, consumeRegistrationToken } from '../../db/registration-tokens.js';
import { createTenant } from '../../db/tenants.js';
import { sha256Hex } from '../../security/tokens.js';
import { offlineApp, unreachableTemporal } from '../support/offline-app.js';
import { waitingJob as waitingJobRow } from '../support/rows.js';

let dataDir: string;
let db: Db;
let client: Client;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-delivery-'));
  db = openDatabase({ dataDir });
  await migrate(db);
  await createTenant(db, 'default', 'default', 'team');
  // A Temporal that is not there: nothing listens on this port.
  client = await unreachableTemporal();
});
afterAll(async () => {
  await db?.destroy();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const appWith = (deliveryTimeoutMs: number) => offlineApp(db, dataDir, client, { deliveryTimeoutMs });

const registerWith = (app: ReturnType<typeof appWith>, token: string) =>
  app.request('/cp/api/v1/cluster/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, hostname: 'vm-1', arch: 'x86_64' }),
  });

/** A job waiting for its VM (or in `phase`), with its registration token. */
const waitingJob = (phase = 'bootstrapping') => waitingJobRow(db, { tenantId: 'default', phase, vmId: 'vm-7', pool: 'p1' });

const codeOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

it("binds the node in the token's transaction, then answers 503 and gives the token back when Temporal cannot be reached", async () => {
  const { jobId, token } = await waitingJob();
  const res = await registerWith(appWith(1_000), token);
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBe('5');
  expect(await codeOf(res)).toBe('registration_not_delivered');
  // The node is bound as the job row knows it, with a credential, and the job is registering.
  const node = await db.selectFrom('nodes').selectAll().where('job_id', '=', jobId).executeTakeFirstOrThrow();
  expect(node).toMatchObject({ node_id: `node-${jobId}`, tenant_id: 'default', provider: 'local', vm_id: 'vm-7', pool: 'p1', hostname: 'vm-1', status: 'ready' });
  expect(JSON.parse(node.facts)).toEqual({ hostname: 'vm-1', arch: 'x86_64' });
  expect(node.agent_token_hash).toMatch(/^[0-9a-f]{64}$/);
  expect((await db.selectFrom('jobs').select('phase').where('job_id', '=', jobId).executeTakeFirstOrThrow()).phase).toBe('registering');
  // The token was released: the VM's next attempt can still use it, once.
  expect(await consumeRegistrationToken(db, token)).toMatchObject({ jobId });
  expect(await consumeRegistrationToken(db, token)).toBeUndefined();
});

it('binds no node for a job that is ending, and answers 409', async () => {
  const { jobId, token } = await waitingJob('decommissioning');
  const res = await registerWith(appWith(1_000), token);
  expect(res.status).toBe(409);
  expect(await codeOf(res)).toBe('job_not_waiting');
  expect(await db.selectFrom('nodes').selectAll().where('job_id', '=', jobId).execute()).toEqual([]);
});

it('answers 503 with the time left while another registration holds the token, and takes it once that lapses', async () => {
  const { jobId, token } = await waitingJob();
  // An API that claimed the token and died: its claim is never completed nor released.
  const died = await registerNode(db, { token, facts: { hostname: 'vm-1' }, credentialHash: sha256Hex('lost'), leaseMs: 2_000 });
  expect(died.outcome).toBe('bound');
  const app = appWith(1_000); // its claims last 2 s
  const held = await registerWith(app, token);
  expect(held.status).toBe(503);
  expect(Number(held.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(Number(held.headers.get('retry-after'))).toBeLessThanOrEqual(2);
  await new Promise((r) => setTimeout(r, 2_100));
  // Taken again: the same node row, a new credential (still 503: no Temporal here to deliver to).
  expect((await registerWith(app, token)).status).toBe(503);
  const nodes = await db.selectFrom('nodes').selectAll().where('job_id', '=', jobId).execute();
  expect(nodes).toHaveLength(1);
  expect(nodes[0]!.agent_token_hash).not.toBe(sha256Hex('lost'));
});

it("answers a repeat after the token was spent only for the VM's own credential, while its node is ready", async () => {
  const { jobId, token } = await waitingJob();
  const nodeId = `node-${jobId}`;
  const digest = sha256Hex('bnt_made_on_the_vm');
  const bound = await registerNode(db, { token, facts: { hostname: 'vm-1' }, credentialHash: digest, vmCredential: true });
  if (bound.outcome !== 'bound') throw new Error(`not bound: ${bound.outcome}`);
  // The job took the node and the answer went out (and was lost): the job records it, the token is spent.
  await db.updateTable('jobs').set({ phase: 'ready', node_id: nodeId }).where('job_id', '=', jobId).execute();
  await completeRegistrationToken(db, bound.claim);

  const app = appWith(1_000);
  const repeat = (extra: Record<string, string>) =>
    app.request('/cp/api/v1/cluster/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, hostname: 'vm-1', ...extra }) });
  const again = await repeat({ credential_sha256: digest });
  expect(again.status).toBe(200);
  expect(await again.json()).toEqual({ node_id: nodeId, job_id: jobId, credential_sha256: digest });
  // Anyone else holding the token gets nothing: another digest, or a credential made by the API.
  expect((await repeat({ credential_sha256: sha256Hex('bnt_someone_else') })).status).toBe(401);
  expect((await repeat({})).status).toBe(401);
  const node = await db.selectFrom('nodes').select(['agent_token_hash', 'facts']).where('node_id', '=', nodeId).executeTakeFirstOrThrow();
  expect(node.agent_token_hash).toBe(digest);
  expect(node.facts).not.toContain('credential_sha256');
  // A node no longer ready is not answered for.
  await db.updateTable('nodes').set({ status: 'decommissioned' }).where('node_id', '=', nodeId).execute();
  expect((await repeat({ credential_sha256: digest })).status).toBe(401);
});

it('refuses a malformed credential digest, naming the field, and binds nothing', async () => {
  const { jobId, token } = await waitingJob();
  const res = await appWith(1_000).request('/cp/api/v1/cluster/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, credential_sha256: 'ABC' }),
  });
  expect(res.status).toBe(400);
  expect(JSON.stringify(await res.json())).toContain('credential_sha256');
  expect(await db.selectFrom('nodes').selectAll().where('job_id', '=', jobId).execute()).toEqual([]);
});

it('answers 429 with Retry-After once an address has used up its failed attempts', async () => {
  const app = offlineApp(db, dataDir, client, { registrationFailureLimit: { max: 3, windowMs: 60_000 } });
  const attempt = () =>
    app.request('/cp/api/v1/cluster/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: `brt_guess_${'A'.repeat(43)}` }),
    });
  for (let i = 0; i < 3; i++) expect((await attempt()).status).toBe(401);
  const blocked = await attempt();
  expect(blocked.status).toBe(429);
  expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(((await blocked.json()) as { error: { code: string } }).error.code).toBe('too_many_attempts');
});
