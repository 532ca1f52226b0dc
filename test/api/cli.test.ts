// `npm run berth`: tenants and keys made by the CLI work at once against the running API.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/stack.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ worker: false });
});
afterAll(async () => {
  await stack?.stop();
});

async function berth(...args: string[]) {
  const run = promisify(execFile);
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/berth.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, BERTH_DATA_DIR: stack.dataDir },
    });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

it('creates a tenant and a key that the running API accepts, and revokes it', async () => {
  expect((await berth('tenant', 'create', 'acme', '--tier', 'team')).code).toBe(0);
  const created = await berth('key', 'create', 'acme');
  expect(created.code).toBe(0);
  const lines = created.stdout.trim().split('\n');
  const key = lines.at(-1)!;
  expect(key).toMatch(/^berth_[A-Za-z0-9_-]{43}$/);
  const asAcme = () => stack.request('GET', '/cp/api/v1/cluster/budget', undefined, { authorization: `Bearer ${key}` });
  expect((await asAcme()).status).toBe(200);

  const keyId = /created key (key_[a-z0-9]+)/.exec(lines[0]!)?.[1];
  expect(keyId).toBeDefined();
  expect((await berth('key', 'revoke', keyId!)).code).toBe(0);
  expect((await asAcme()).status).toBe(401);
});

it('refuses bad input with a usage message and a non-zero exit', async () => {
  const badTier = await berth('tenant', 'create', 'acme2', '--tier', 'gold');
  expect(badTier.code).toBe(2);
  expect(badTier.stderr).toMatch(/--tier must be one of free, pro, team, enterprise/);
  const duplicate = await berth('tenant', 'create', 'acme', '--tier', 'team');
  expect(duplicate.code).toBe(1);
  expect(duplicate.stderr).toMatch(/exists already/);
  expect((await berth('key', 'create', 'nobody')).stderr).toMatch(/no tenant nobody/);
  expect((await berth('frobnicate')).code).toBe(2);
});

it('rotates the master key: stored tokens are re-sealed and the running API still opens them', async () => {
  await stack.providers.storeToken(stack.tenantId, 'hetzner', 'hcloud-token-for-rotation-0001');
  const before = await stack.db.selectFrom('provider_credentials').select('key_id').executeTakeFirstOrThrow();
  const rotated = await berth('vault', 'rotate', '--new-key');
  expect(rotated.code).toBe(0);
  expect(rotated.stdout).toMatch(/re-sealed 1 of 1 provider token/);
  const after = await stack.db.selectFrom('provider_credentials').select('key_id').executeTakeFirstOrThrow();
  expect(after.key_id).not.toBe(before.key_id);
  // The stack's keyring was loaded before the rotation; it follows the key files.
  const listed = await stack.request('GET', '/cp/api/v1/cluster/providers');
  expect(listed.body.providers).toContainEqual({ name: 'hetzner', configured: true, fingerprint: '…0001' });
  await expect(stack.providers.forTenant(stack.tenantId, 'hetzner')).resolves.toMatchObject({ name: 'hetzner' });
  expect((await berth('vault', 'rotate')).stdout).toMatch(/re-sealed 0 of 1/);
});
