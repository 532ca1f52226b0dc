// The VM callback's failure paths: a delivery that cannot reach the workflow hands the token back,
// and an address that keeps guessing tokens is slowed down.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { migrate, openDatabase, type Db } from '../../db/connect.js';
import { consumeRegistrationToken, storeRegistrationToken } from '../../db/registration-tokens.js';
import { loadKeyring } from '../../security/key-files.js';
import { ProviderRegistry } from '../../providers/registry.js';
import { deriveRegistrationToken } from '../../security/tokens.js';
import { freePort } from '../../temporal/dev-server.js';

let dataDir: string;
let db: Db;
let client: Client;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-delivery-'));
  db = openDatabase({ dataDir });
  await migrate(db);
  // A Temporal that is not there: nothing listens on this port.
  client = new Client({ connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}` }) });
});
afterAll(async () => {
  await db?.destroy();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('answers 503 and gives the token back when Temporal cannot be reached', async () => {
  const app = createApp({ db, temporal: client, providers: new ProviderRegistry({ dataDir, db, keyring: loadKeyring({ dataDir }) }), taskQueue: 'none', registrationTtlMs: 60_000, logger: pino({ level: 'silent' }), deliveryTimeoutMs: 1_000 });
  const token = deriveRegistrationToken(Buffer.alloc(32, 7), 'default', 'jobdelivery1');
  await storeRegistrationToken(db, { jobId: 'jobdelivery1', tenantId: 'default', token, ttlMs: 60_000 });

  const res = await app.request('/cp/api/v1/cluster/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, hostname: 'vm-1' }),
  });
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBe('5');
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('registration_not_delivered');
  // The token was released: the VM's next attempt can still use it, once.
  expect(await consumeRegistrationToken(db, token)).toMatchObject({ jobId: 'jobdelivery1' });
  expect(await consumeRegistrationToken(db, token)).toBeUndefined();
});

it('answers 429 with Retry-After once an address has used up its failed attempts', async () => {
  const app = createApp({
    db,
    temporal: client,
    providers: new ProviderRegistry({ dataDir, db, keyring: loadKeyring({ dataDir }) }),
    taskQueue: 'none',
    registrationTtlMs: 60_000,
    logger: pino({ level: 'silent' }),
    registrationFailureLimit: { max: 3, windowMs: 60_000 },
  });
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
