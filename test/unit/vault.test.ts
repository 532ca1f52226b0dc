import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listCredentials, loadCredential, rotateCredentials, storeCredential } from '../../db/credentials.js';
import { migrate, openDatabase, type Db } from '../../db/connect.js';
import { createTenant } from '../../db/tenants.js';
import { loadKeyring, masterKeyFiles, replaceMasterKeyFile } from '../../security/key-files.js';
import { Keyring, VaultError, newMasterKeyText, open, parseMasterKey, seal } from '../../security/vault.js';

const TOKEN = 'hcloud-secret-token-0123456789abcdef';
const acme = { tenantId: 'acme', provider: 'hetzner' };
const keyring = () => new Keyring(parseMasterKey(newMasterKeyText(), 'test key'));

describe('sealing a provider token', () => {
  it('opens for its owner and is not readable at rest', () => {
    const ring = keyring();
    const sealed = seal(ring, acme, TOKEN);
    expect(open(ring, acme, sealed)).toBe(TOKEN);
    expect(JSON.stringify(sealed)).not.toContain(TOKEN);
    expect(Buffer.from(sealed.iv, 'base64')).toHaveLength(12);
    expect(sealed.key_id).toBe(ring.current.id);
  });

  it('uses a fresh IV each time', () => {
    const ring = keyring();
    expect(seal(ring, acme, TOKEN).ciphertext).not.toBe(seal(ring, acme, TOKEN).ciphertext);
  });

  it("cannot be opened with another tenant's or provider's associated data", () => {
    const ring = keyring();
    const sealed = seal(ring, acme, TOKEN);
    expect(() => open(ring, { tenantId: 'globex', provider: 'hetzner' }, sealed)).toThrow(VaultError);
    expect(() => open(ring, { tenantId: 'acme', provider: 'digitalocean' }, sealed)).toThrow(VaultError);
  });

  it('detects tampering and names a missing key without revealing anything', () => {
    const ring = keyring();
    const sealed = seal(ring, acme, TOKEN);
    const bytes = Buffer.from(sealed.ciphertext, 'base64');
    bytes[0] = bytes[0]! ^ 1;
    expect(() => open(ring, acme, { ...sealed, ciphertext: bytes.toString('base64') })).toThrow('could not be decrypted');
    expect(() => open(keyring(), acme, sealed)).toThrow(`master key ${sealed.key_id}`);
  });

  it('accepts master keys as hex or base64 of 32 bytes only', () => {
    const hex = newMasterKeyText();
    expect(parseMasterKey(hex, 'k').key).toEqual(parseMasterKey(Buffer.from(hex, 'hex').toString('base64'), 'k').key);
    expect(() => parseMasterKey('abc', 'BERTH_MASTER_KEY')).toThrow('BERTH_MASTER_KEY must be 32 bytes');
    expect(() => parseMasterKey('00'.repeat(31), 'k')).toThrow(VaultError);
  });
});

describe('stored credentials', () => {
  let dataDir: string;
  let db: Db;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vault-'));
    db = openDatabase({ dataDir });
    await migrate(db);
    await createTenant(db, 'acme', 'Acme', 'team');
    await createTenant(db, 'globex', 'Globex', 'team');
  });
  afterAll(async () => {
    await db.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps only the sealed token and its last four characters', async () => {
    const ring = loadKeyring({ dataDir });
    const stored = await storeCredential(db, ring, acme, TOKEN);
    expect(stored.fingerprint).toBe('…cdef');
    const row = await db.selectFrom('provider_credentials').selectAll().where('tenant_id', '=', 'acme').executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(TOKEN);
    expect(await loadCredential(db, ring, acme)).toBe(TOKEN);
    expect(await loadCredential(db, ring, { tenantId: 'globex', provider: 'hetzner' })).toBeUndefined();
    expect(await listCredentials(db, 'acme')).toEqual([expect.objectContaining({ provider: 'hetzner', fingerprint: '…cdef' })]);
  });

  it("a record copied to another tenant's row does not open", async () => {
    const ring = loadKeyring({ dataDir });
    const row = await db.selectFrom('provider_credentials').selectAll().where('tenant_id', '=', 'acme').executeTakeFirstOrThrow();
    await db
      .insertInto('provider_credentials')
      .values({ ...row, tenant_id: 'globex' })
      .execute();
    await expect(loadCredential(db, ring, { tenantId: 'globex', provider: 'hetzner' })).rejects.toThrow(VaultError);
    await db.deleteFrom('provider_credentials').where('tenant_id', '=', 'globex').execute();
  });

  it('rotates to a new key file: old records re-sealed, a running keyring follows the files', async () => {
    const before = loadKeyring({ dataDir });
    await storeCredential(db, before, { tenantId: 'acme', provider: 'digitalocean' }, 'dop_v1_another_token_9876');
    replaceMasterKeyFile(dataDir);
    expect(fs.readFileSync(masterKeyFiles(dataDir).previous, 'utf8').trim().split('\n')).toHaveLength(1);
    const after = loadKeyring({ dataDir });
    expect(after.current.id).not.toBe(before.current.id);

    expect(await rotateCredentials(db, after)).toEqual({ rotated: 2, total: 2 });
    const ids = await db.selectFrom('provider_credentials').select('key_id').execute();
    expect(ids.every((r) => r.key_id === after.current.id)).toBe(true);
    expect(await rotateCredentials(db, after)).toEqual({ rotated: 0, total: 2 });
    // The keyring loaded before the rotation re-reads the key files when it meets the new key id.
    expect(await loadCredential(db, before, acme)).toBe(TOKEN);
    // Without the old key, records sealed by it would not open: the rotation made them independent of it.
    fs.rmSync(masterKeyFiles(dataDir).previous);
    expect(await loadCredential(db, loadKeyring({ dataDir }), acme)).toBe(TOKEN);
  });

  it('takes keys from BERTH_MASTER_KEY and _PREVIOUS when set', async () => {
    const oldKey = newMasterKeyText();
    const newKey = newMasterKeyText();
    const old = loadKeyring({ dataDir, masterKey: oldKey });
    const owner = { tenantId: 'globex', provider: 'hetzner' };
    await storeCredential(db, old, owner, 'globex-token-abcdefgh');
    const ring = loadKeyring({ dataDir, masterKey: newKey, previousKeys: oldKey });
    expect(await loadCredential(db, ring, owner)).toBe('globex-token-abcdefgh');
    await expect(loadCredential(db, loadKeyring({ dataDir, masterKey: newKey }), owner)).rejects.toThrow(/master key .* is not configured/);
  });
});
