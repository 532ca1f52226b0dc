import type { Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
// Admission counters live on the tenant row, so one conditional UPDATE admits or refuses a job
// atomically on every dialect; each job remembers whether it still holds its slot.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('tenants').addColumn('monthly_budget_cents', 'integer').execute();
  await db.schema
    .alterTable('tenants')
    .addColumn('reserved_nodes', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('tenants')
    .addColumn('committed_cents', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('jobs')
    .addColumn('price_cents', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('jobs')
    .addColumn('holds_slot', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('api_keys_tenant').on('api_keys').column('tenant_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('api_keys_tenant').execute();
  await db.schema.alterTable('jobs').dropColumn('holds_slot').execute();
  await db.schema.alterTable('jobs').dropColumn('price_cents').execute();
  await db.schema.alterTable('tenants').dropColumn('committed_cents').execute();
  await db.schema.alterTable('tenants').dropColumn('reserved_nodes').execute();
  await db.schema.alterTable('tenants').dropColumn('monthly_budget_cents').execute();
}
