import type { Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
// Node pools: a pool's spec and template versions, the decisions its reconciler recorded, and what
// each node's agent reports (latest values on the node row, CPU samples for the pool's window).

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('pools')
    .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.tenant_id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('spec', 'text', (c) => c.notNull())
    .addColumn('desired', 'integer', (c) => c.notNull())
    .addColumn('template_version', 'integer', (c) => c.notNull())
    .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('deleting_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('pools_pk', ['tenant_id', 'name'])
    .execute();

  await db.schema
    .createTable('pool_templates')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('pool', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('template', 'text', (c) => c.notNull())
    .addColumn('plan', 'text', (c) => c.notNull())
    .addColumn('user_data', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('pool_templates_pk', ['tenant_id', 'pool', 'version'])
    .execute();

  await db.schema
    .createTable('pool_events')
    .addColumn('tenant_id', 'text', (c) => c.notNull())
    .addColumn('pool', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('data', 'text')
    .addPrimaryKeyConstraint('pool_events_pk', ['tenant_id', 'pool', 'seq'])
    .execute();

  await db.schema.alterTable('jobs').addColumn('pool', 'text').execute();
  await db.schema.alterTable('jobs').addColumn('template_version', 'integer').execute();
  await db.schema.createIndex('jobs_tenant_pool').on('jobs').columns(['tenant_id', 'pool']).execute();

  for (const [column, type] of [
    ['pool', 'text'],
    ['agent_token_hash', 'text'],
    ['last_heartbeat_at', 'text'],
    ['cpu', 'real'],
    ['memory', 'real'],
    ['workloads', 'integer'],
    ['busy_at', 'text'],
    ['drain_requested_at', 'text'],
    ['drained_at', 'text'],
  ] as const) {
    await db.schema.alterTable('nodes').addColumn(column, type).execute();
  }
  await db.schema.createIndex('nodes_tenant_pool').on('nodes').columns(['tenant_id', 'pool']).execute();

  await db.schema
    .createTable('node_samples')
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('cpu', 'real', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('node_samples_node_at').on('node_samples').columns(['node_id', 'at']).execute();
  await db.schema.createIndex('node_samples_at').on('node_samples').column('at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('node_samples').execute();
  await db.schema.dropIndex('nodes_tenant_pool').execute();
  for (const column of ['drained_at', 'drain_requested_at', 'busy_at', 'workloads', 'memory', 'cpu', 'last_heartbeat_at', 'agent_token_hash', 'pool']) {
    await db.schema.alterTable('nodes').dropColumn(column).execute();
  }
  await db.schema.dropIndex('jobs_tenant_pool').execute();
  await db.schema.alterTable('jobs').dropColumn('template_version').execute();
  await db.schema.alterTable('jobs').dropColumn('pool').execute();
  for (const table of ['pool_events', 'pool_templates', 'pools']) await db.schema.dropTable(table).execute();
}
