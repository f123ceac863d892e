// Events and outbox rows without a foreign key to their task. A single-step task writes six events and two outbox
// rows, and each row's key check is a trigger that runs a lookup of the task's row under FOR KEY SHARE: about 8 % of
// the Postgres CPU of a bench run (a profile of the backends). Every writer of these rows writes them in the
// statement or transaction that reads or locks the task, so the check found nothing the code had not already
// ensured; what the cascade did, retention now does in the statement that deletes the tasks.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('task_events').dropConstraint('task_events_task_id_fkey').execute();
  await db.schema.alterTable('outbox').dropConstraint('outbox_task_id_fkey').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['task_events', 'outbox']) {
    await db.schema
      .alterTable(table)
      .addForeignKeyConstraint(`${table}_task_id_fkey`, ['task_id'], 'tasks', ['id'], (c) => c.onDelete('cascade'))
      .execute();
  }
}
