import type { Kysely } from 'kysely';

// Frozen: never edit a migration that has shipped; add a new one.
// A registration claims its token for a while (claimed_at) and uses it up (used_at) only once the
// job answered, so a claim cut short by a crash of the API can be taken again by the VM's retry.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('registration_tokens').addColumn('claimed_at', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('registration_tokens').dropColumn('claimed_at').execute();
}
