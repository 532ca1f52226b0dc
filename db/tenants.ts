import { newSecretToken, randomId, sha256Hex } from '../security/tokens.js';
import type { Db } from './connect.js';
import type { TenantRow } from './schema.js';
import type { Tier } from './tiers.js';

export const DEFAULT_TENANT_ID = 'default';
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

const now = () => new Date().toISOString();

export async function ensureTenant(db: Db, tenantId: string, name: string, tier: Tier): Promise<void> {
  await db
    .insertInto('tenants')
    .values({ tenant_id: tenantId, name, tier, created_at: now() })
    .onConflict((oc) => oc.column('tenant_id').doNothing())
    .execute();
}

/** Creates a tenant; false when the id is taken. */
export async function createTenant(db: Db, tenantId: string, name: string, tier: Tier): Promise<boolean> {
  const result = await db
    .insertInto('tenants')
    .values({ tenant_id: tenantId, name, tier, created_at: now() })
    .onConflict((oc) => oc.column('tenant_id').doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
}

export async function getTenant(db: Db, tenantId: string): Promise<TenantRow | undefined> {
  return db.selectFrom('tenants').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
}

export async function listTenants(db: Db): Promise<TenantRow[]> {
  return db.selectFrom('tenants').selectAll().orderBy('tenant_id').execute();
}

/** Registers an API key for a tenant by its hash; registering the same key twice is a no-op. */
export async function ensureApiKey(db: Db, tenantId: string, token: string, label: string): Promise<void> {
  await db
    .insertInto('api_keys')
    .values({ key_id: `key_${randomId(12)}`, tenant_id: tenantId, key_hash: sha256Hex(token), label, created_at: now(), revoked_at: null })
    .onConflict((oc) => oc.column('key_hash').doNothing())
    .execute();
}

/** A new admin key; the key itself is returned once and only its hash is kept. */
export async function createApiKey(db: Db, tenantId: string, label: string): Promise<{ keyId: string; key: string }> {
  const key = newSecretToken('berth');
  const keyId = `key_${randomId(12)}`;
  await db
    .insertInto('api_keys')
    .values({ key_id: keyId, tenant_id: tenantId, key_hash: sha256Hex(key), label, created_at: now(), revoked_at: null })
    .execute();
  return { keyId, key };
}

export async function listApiKeys(db: Db, tenantId: string) {
  return db.selectFrom('api_keys').select(['key_id', 'label', 'created_at', 'revoked_at']).where('tenant_id', '=', tenantId).orderBy('created_at').orderBy('key_id').execute();
}

/** Revokes a key (of that tenant, when given); false when there is no such live key. */
export async function revokeApiKey(db: Db, keyId: string, tenantId?: string): Promise<boolean> {
  let update = db.updateTable('api_keys').set({ revoked_at: now() }).where('key_id', '=', keyId).where('revoked_at', 'is', null);
  if (tenantId !== undefined) update = update.where('tenant_id', '=', tenantId);
  const result = await update.executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** The tenant a bearer token belongs to, or undefined for an unknown or revoked key. */
export async function tenantForApiKey(db: Db, token: string): Promise<string | undefined> {
  const row = await db.selectFrom('api_keys').select('tenant_id').where('key_hash', '=', sha256Hex(token)).where('revoked_at', 'is', null).executeTakeFirst();
  return row?.tenant_id;
}

export async function setBudget(db: Db, tenantId: string, monthlyCents: number | null): Promise<void> {
  await db.updateTable('tenants').set({ monthly_budget_cents: monthlyCents }).where('tenant_id', '=', tenantId).execute();
}
