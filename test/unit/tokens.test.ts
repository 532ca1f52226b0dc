import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { migrate, openDatabase, type Db } from '../../db/connect.js';
import {
  claimHeldForS,
  completeRegistrationToken,
  consumeRegistrationToken,
  releaseRegistrationToken,
  revokeRegistrationToken,
  storeRegistrationToken,
} from '../../db/registration-tokens.js';
import { deriveRegistrationToken, randomId, registrationTokenJobId, sha256Hex } from '../../security/tokens.js';

const KEY = randomBytes(32);
const TENANT = 'tenant-a';
const TTL = 60_000;

let dataDir: string;
let db: Db;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-unit-'));
  db = openDatabase({ dataDir });
  await migrate(db);
});

afterAll(async () => {
  await db?.destroy();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

/** Stores the derived token of a fresh job and returns both. */
async function issue(options: { ttlMs?: number; now?: Date } = {}): Promise<{ jobId: string; token: string }> {
  const jobId = randomId(12);
  const token = deriveRegistrationToken(KEY, TENANT, jobId);
  await storeRegistrationToken(db, { jobId, tenantId: TENANT, token, ttlMs: options.ttlMs ?? TTL, now: options.now });
  return { jobId, token };
}

/** The same token with its last MAC character changed. */
function tamper(token: string): string {
  const last = token.at(-1) === 'A' ? 'B' : 'A';
  return token.slice(0, -1) + last;
}

describe('registration token format', () => {
  it('is brt_<job>_<43-char base64url MAC> and deterministic per key, tenant and job', () => {
    const token = deriveRegistrationToken(KEY, TENANT, 'job123');
    expect(token).toMatch(/^brt_job123_[A-Za-z0-9_-]{43}$/);
    expect(deriveRegistrationToken(KEY, TENANT, 'job123')).toBe(token);
    expect(deriveRegistrationToken(KEY, 'tenant-b', 'job123')).not.toBe(token);
    expect(deriveRegistrationToken(randomBytes(32), TENANT, 'job123')).not.toBe(token);
    expect(registrationTokenJobId(token)).toBe('job123');
  });

  it.each([
    '',
    'brt_job123',
    'brt_job123_short',
    'xyz_job123_' + 'a'.repeat(43),
    'brt_JOB123_' + 'a'.repeat(43),
    'brt__' + 'a'.repeat(43),
    'brt_job123_' + 'a'.repeat(44),
    'brt_job123_' + 'a'.repeat(42) + '=',
    ' brt_job123_' + 'a'.repeat(43),
  ])('registrationTokenJobId(%j) is undefined', (token) => {
    expect(registrationTokenJobId(token)).toBeUndefined();
  });
});

describe('consumeRegistrationToken', () => {
  it('succeeds once and rejects a replay', async () => {
    const { jobId, token } = await issue();
    const claim = await consumeRegistrationToken(db, token);
    expect(claim).toMatchObject({ jobId, tenantId: TENANT });
    expect(Number.isNaN(Date.parse(claim!.claimedAt))).toBe(false);
    expect(await consumeRegistrationToken(db, token)).toBeUndefined();
  });

  it('lets exactly one of 20 concurrent consumers win', async () => {
    const { jobId, token } = await issue();
    const results = await Promise.all(Array.from({ length: 20 }, () => consumeRegistrationToken(db, token)));
    const winners = results.filter((r) => r !== undefined);
    expect(winners).toHaveLength(1);
    expect(winners[0]!.jobId).toBe(jobId);
  });

  it('rejects a wrong MAC, an unknown job and malformed strings', async () => {
    const { token } = await issue();
    expect(await consumeRegistrationToken(db, tamper(token))).toBeUndefined();
    expect(await consumeRegistrationToken(db, deriveRegistrationToken(KEY, TENANT, 'nosuchjob'))).toBeUndefined();
    expect(await consumeRegistrationToken(db, 'not-a-token')).toBeUndefined();
    expect(await consumeRegistrationToken(db, `${token}x`)).toBeUndefined();
    // None of the bad attempts used it up.
    expect(await consumeRegistrationToken(db, token)).toBeDefined();
  });

  it('rejects a token of another tenant for the same job id', async () => {
    const { jobId } = await issue();
    expect(await consumeRegistrationToken(db, deriveRegistrationToken(KEY, 'tenant-b', jobId))).toBeUndefined();
  });

  it('rejects an expired token', async () => {
    const issuedAt = new Date('2030-01-01T00:00:00.000Z');
    const { token } = await issue({ ttlMs: 1000, now: issuedAt });
    expect(await consumeRegistrationToken(db, token, new Date(issuedAt.getTime() + 2000))).toBeUndefined();
    // Still valid just before expiry: the rejection above was about time.
    expect(await consumeRegistrationToken(db, token, new Date(issuedAt.getTime() + 999))).toBeDefined();
  });

  it('rejects a revoked token', async () => {
    const { jobId, token } = await issue();
    await revokeRegistrationToken(db, jobId);
    expect(await consumeRegistrationToken(db, token)).toBeUndefined();
  });
});

describe('storeRegistrationToken', () => {
  it('keeps the first expiry when stored again', async () => {
    const issuedAt = new Date('2030-01-01T00:00:00.000Z');
    const { jobId, token } = await issue({ ttlMs: 1000, now: issuedAt });
    await storeRegistrationToken(db, { jobId, tenantId: TENANT, token, ttlMs: 3_600_000, now: issuedAt });
    expect(await consumeRegistrationToken(db, token, new Date(issuedAt.getTime() + 2000))).toBeUndefined();
  });

  it('stores only a hash of the token', async () => {
    const { jobId, token } = await issue();
    const rows = await db.selectFrom('registration_tokens').selectAll().execute();
    const row = rows.find((r) => r.job_id === jobId);
    expect(row?.token_hash).toBe(sha256Hex(token));
    for (const r of rows) {
      for (const value of Object.values(r)) {
        expect(String(value)).not.toContain(token.slice(-43)); // the MAC
      }
    }
  });
});

describe('a claim is a lease', () => {
  it('lapses after the lease, so a registration cut short by a crash can be taken again', async () => {
    const { jobId, token } = await issue();
    const claimedAt = new Date();
    expect(await consumeRegistrationToken(db, token, claimedAt, 1_000)).toMatchObject({ jobId });
    expect(await consumeRegistrationToken(db, token, new Date(claimedAt.getTime() + 999), 1_000)).toBeUndefined();
    expect(await claimHeldForS(db, jobId, new Date(claimedAt.getTime() + 100), 1_000)).toBe(1);
    const again = await consumeRegistrationToken(db, token, new Date(claimedAt.getTime() + 1_000), 1_000);
    expect(again).toMatchObject({ jobId });
    // Only one of the two claims can complete: the newer one.
    await completeRegistrationToken(db, { jobId, tenantId: TENANT, claimedAt: claimedAt.toISOString() });
    expect(await consumeRegistrationToken(db, token, new Date(claimedAt.getTime() + 5_000), 1_000)).toBeDefined();
  });

  it('lets a claim made before the expiry be taken once more after it, and no later claim', async () => {
    const issuedAt = new Date('2030-01-01T00:00:00.000Z');
    const at = (ms: number) => new Date(issuedAt.getTime() + ms);
    const { jobId, token } = await issue({ ttlMs: 10_000, now: issuedAt });
    expect(await consumeRegistrationToken(db, token, at(9_000), 5_000)).toBeDefined();
    // Past the expiry the claim still holds (503 with the time left, not a refusal) ...
    expect(await consumeRegistrationToken(db, token, at(11_000), 5_000)).toBeUndefined();
    expect(await claimHeldForS(db, jobId, at(11_000), 5_000)).toBe(3);
    // ... and once it lapses the cut delivery may be taken again, once.
    expect(await consumeRegistrationToken(db, token, at(14_000), 5_000)).toMatchObject({ jobId, claimedAt: at(14_000).toISOString() });
    expect(await consumeRegistrationToken(db, token, at(19_000), 5_000)).toBeUndefined();
    expect(await claimHeldForS(db, jobId, at(19_000), 5_000)).toBeUndefined();
  });

  it('takes no first claim after the expiry', async () => {
    const issuedAt = new Date('2030-01-01T00:00:00.000Z');
    const { jobId, token } = await issue({ ttlMs: 10_000, now: issuedAt });
    expect(await consumeRegistrationToken(db, token, new Date(issuedAt.getTime() + 10_000), 5_000)).toBeUndefined();
    expect(await claimHeldForS(db, jobId, new Date(issuedAt.getTime() + 10_000), 5_000)).toBeUndefined();
  });

  it('never lapses once completed', async () => {
    const { jobId, token } = await issue();
    const claimedAt = new Date();
    const claim = await consumeRegistrationToken(db, token, claimedAt, 1_000);
    await completeRegistrationToken(db, claim!);
    expect(await consumeRegistrationToken(db, token, new Date(claimedAt.getTime() + 60_000), 1_000)).toBeUndefined();
    expect(await claimHeldForS(db, jobId, new Date(claimedAt.getTime() + 100), 1_000)).toBeUndefined();
  });
});

describe('releaseRegistrationToken', () => {
  it('makes a claimed token consumable again', async () => {
    const { token } = await issue();
    const claim = await consumeRegistrationToken(db, token);
    expect(claim).toBeDefined();
    await releaseRegistrationToken(db, claim!);
    const again = await consumeRegistrationToken(db, token);
    expect(again).toBeDefined();
    expect(await consumeRegistrationToken(db, token)).toBeUndefined();
  });

  it('does not revive a revoked token', async () => {
    const { jobId, token } = await issue();
    const claim = await consumeRegistrationToken(db, token);
    expect(claim).toBeDefined();
    await revokeRegistrationToken(db, jobId);
    await releaseRegistrationToken(db, claim!);
    expect(await consumeRegistrationToken(db, token)).toBeUndefined();
  });

  it('ignores a stale claim whose usedAt no longer matches', async () => {
    const { token } = await issue();
    const first = await consumeRegistrationToken(db, token, new Date(Date.now() - 1000));
    await releaseRegistrationToken(db, first!);
    const second = await consumeRegistrationToken(db, token);
    expect(second).toBeDefined();
    // Releasing the old claim must not undo the newer one.
    await releaseRegistrationToken(db, first!);
    expect(await consumeRegistrationToken(db, token)).toBeUndefined();
  });
});
