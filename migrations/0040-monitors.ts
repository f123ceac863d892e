// Web monitors: a recurring schedule whose runs check a page, and the snapshot each run took.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('monitors')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('schedule_id', 'text', (c) => c.notNull().unique().references('schedules.id').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('selector', 'text')
    .addColumn('ignore', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('checks', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('changes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_checked_at', 'timestamptz')
    .addColumn('last_changed_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('monitors_user').on('monitors').columns(['user_id', 'created_at']).execute();

  await db.schema
    .createTable('monitor_snapshots')
    // Random and unguessable: it is also the key of the diff link sent to the owner.
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('monitor_id', 'text', (c) => c.notNull().references('monitors.id').onDelete('cascade'))
    // The run that took it; unique, so a redelivered completion stores it once.
    .addColumn('task_id', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('baseline', 'unchanged', 'changed')`))
    .addColumn('hash', 'text', (c) => c.notNull())
    // The compared text: kept for the baseline and each change (an unchanged run's text equals the last one kept).
    .addColumn('text', 'text')
    .addColumn('diff', 'text')
    .addColumn('added', 'integer')
    .addColumn('removed', 'integer')
    .addColumn('summary', 'text')
    .addColumn('etag', 'text')
    .addColumn('last_modified', 'text')
    .addColumn('checked_at', 'timestamptz', (c) => c.notNull())
    .addColumn('notified_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('monitor_snapshots_monitor')
    .on('monitor_snapshots')
    .columns(['monitor_id', 'created_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('monitor_snapshots').execute();
  await db.schema.dropTable('monitors').execute();
}
