import type { Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
// A tenant's provider tokens, AES-256-GCM sealed; key_id names the master key that sealed each.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('provider_credentials')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.tenant_id'))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('iv', 'text', (c) => c.notNull())
    .addColumn('ciphertext', 'text', (c) => c.notNull())
    .addColumn('auth_tag', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('provider_credentials_pk', ['tenant_id', 'provider'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('provider_credentials').execute();
}
