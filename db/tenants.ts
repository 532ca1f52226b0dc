import { randomId, sha256Hex } from '../security/tokens.js';
import type { Db } from './connect.js';

export const DEFAULT_TENANT_ID = 'default';

const now = () => new Date().toISOString();

export async function ensureTenant(db: Db, tenantId: string, name: string, tier: string): Promise<void> {
  await db
    .insertInto('tenants')
    .values({ tenant_id: tenantId, name, tier, created_at: now() })
    .onConflict((oc) => oc.column('tenant_id').doNothing())
    .execute();
}

/** Registers an API key for a tenant by its hash; registering the same key twice is a no-op. */
export async function ensureApiKey(db: Db, tenantId: string, token: string, label: string): Promise<void> {
  await db
    .insertInto('api_keys')
    .values({ key_id: `key_${randomId(12)}`, tenant_id: tenantId, key_hash: sha256Hex(token), label, created_at: now(), revoked_at: null })
    .onConflict((oc) => oc.column('key_hash').doNothing())
    .execute();
}

/** The tenant a bearer token belongs to, or undefined for an unknown or revoked key. */
export async function tenantForApiKey(db: Db, token: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select('tenant_id')
    .where('key_hash', '=', sha256Hex(token))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row?.tenant_id;
}
