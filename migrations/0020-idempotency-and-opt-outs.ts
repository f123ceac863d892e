// Idempotency keys of API submissions (one task per user and key) and SMS opt-outs kept in Postgres.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('tasks').addColumn('idempotency_key', 'text').execute();
  await db.schema
    .createIndex('tasks_user_idempotency_key')
    .unique()
    .on('tasks')
    .columns(['user_id', 'idempotency_key'])
    .where('idempotency_key', 'is not', null)
    .execute();
  await db.schema
    .createTable('sms_opt_outs')
    .addColumn('number', 'text', (c) => c.primaryKey())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('sms_opt_outs').execute();
  await db.schema.dropIndex('tasks_user_idempotency_key').execute();
  await db.schema.alterTable('tasks').dropColumn('idempotency_key').execute();
}
