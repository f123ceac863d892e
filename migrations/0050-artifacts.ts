// Files that belong to a task: uploads and chat attachments (producer 'upload') and files capabilities return.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('artifacts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('task_id', 'text', (c) => c.notNull().references('tasks.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('media_type', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('bytes', 'bytea', (c) => c.notNull())
    .addColumn('producer', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('artifacts_task_name', ['task_id', 'name'])
    .execute();
  // Dispatch reads a task's files only when it has uploads (or a dependency returned files), and the final message
  // only when steps returned files: no query for the tasks without files.
  await db.schema
    .alterTable('tasks')
    .addColumn('has_uploads', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('has_outputs', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('tasks').dropColumn('has_uploads').dropColumn('has_outputs').execute();
  await db.schema.dropTable('artifacts').execute();
}
