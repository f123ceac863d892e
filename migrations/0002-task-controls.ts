// Task controls: per-user admission (subtasks.user_id), review at task and step level, revision feedback.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('subtasks').addColumn('user_id', 'text').execute();
  await sql`UPDATE subtasks s SET user_id = t.user_id FROM tasks t WHERE t.id = s.task_id`.execute(db);
  await db.schema
    .alterTable('subtasks')
    .alterColumn('user_id', (c) => c.setNotNull())
    .execute();
  await db.schema
    .alterTable('subtasks')
    .addColumn('requires_review', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  await db.schema
    .createIndex('subtasks_user_inflight')
    .on('subtasks')
    .columns(['user_id', 'status', 'queued_at'])
    .execute();
  await db.schema
    .alterTable('tasks')
    .addColumn('requires_review', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  await db.schema.alterTable('tasks').addColumn('feedback', 'text').execute();
  await db.schema.createIndex('tasks_finished').on('tasks').columns(['finished_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('tasks_finished').execute();
  await db.schema.alterTable('tasks').dropColumn('feedback').execute();
  await db.schema.alterTable('tasks').dropColumn('requires_review').execute();
  await db.schema.dropIndex('subtasks_user_inflight').execute();
  await db.schema.alterTable('subtasks').dropColumn('requires_review').execute();
  await db.schema.alterTable('subtasks').dropColumn('user_id').execute();
}
