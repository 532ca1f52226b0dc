import { open, seal, fingerprintOf, type Keyring, type SecretOwner } from '../security/vault.js';
import type { Db } from './connect.js';

export interface StoredCredential {
  provider: string;
  fingerprint: string;
  updated_at: string;
}

/** Seals and stores (or replaces) a tenant's token for a provider. */
export async function storeCredential(db: Db, keyring: Keyring, owner: SecretOwner, token: string): Promise<StoredCredential> {
  const now = new Date().toISOString();
  const sealed = seal(keyring, owner, token);
  const fingerprint = fingerprintOf(token);
  await db
    .insertInto('provider_credentials')
    .values({ tenant_id: owner.tenantId, provider: owner.provider, ...sealed, fingerprint, created_at: now, updated_at: now })
    .onConflict((oc) => oc.columns(['tenant_id', 'provider']).doUpdateSet({ ...sealed, fingerprint, updated_at: now }))
    .execute();
  return { provider: owner.provider, fingerprint, updated_at: now };
}

/** The tenant's token for the provider, in clear, or undefined when none is stored. */
export async function loadCredential(db: Db, keyring: Keyring, owner: SecretOwner): Promise<string | undefined> {
  const row = await db
    .selectFrom('provider_credentials')
    .select(['key_id', 'iv', 'ciphertext', 'auth_tag'])
    .where('tenant_id', '=', owner.tenantId)
    .where('provider', '=', owner.provider)
    .executeTakeFirst();
  return row && open(keyring, owner, row);
}

export async function listCredentials(db: Db, tenantId: string): Promise<StoredCredential[]> {
  return db.selectFrom('provider_credentials').select(['provider', 'fingerprint', 'updated_at']).where('tenant_id', '=', tenantId).execute();
}

/** Every (tenant, provider) that has a stored token: what the orphan sweep looks at. */
export async function credentialOwners(db: Db): Promise<SecretOwner[]> {
  const rows = await db.selectFrom('provider_credentials').select(['tenant_id', 'provider']).execute();
  return rows.map((r) => ({ tenantId: r.tenant_id, provider: r.provider }));
}

export async function forgetCredential(db: Db, owner: SecretOwner): Promise<boolean> {
  const result = await db.deleteFrom('provider_credentials').where('tenant_id', '=', owner.tenantId).where('provider', '=', owner.provider).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Re-seals every record not under the current master key; each in its own short update. */
export async function rotateCredentials(db: Db, keyring: Keyring): Promise<{ rotated: number; total: number }> {
  const rows = await db.selectFrom('provider_credentials').selectAll().execute();
  let rotated = 0;
  for (const row of rows) {
    if (row.key_id === keyring.current.id) continue;
    const owner = { tenantId: row.tenant_id, provider: row.provider };
    const sealed = seal(keyring, owner, open(keyring, owner, row));
    // Only if nobody replaced the token meanwhile.
    const result = await db
      .updateTable('provider_credentials')
      .set(sealed)
      .where('tenant_id', '=', row.tenant_id)
      .where('provider', '=', row.provider)
      .where('ciphertext', '=', row.ciphertext)
      .executeTakeFirst();
    rotated += Number(result.numUpdatedRows) > 0 ? 1 : 0;
  }
  return { rotated, total: rows.length };
}
