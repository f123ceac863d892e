// Schedules ("do this at X" / "every X"), their fired runs, and per-user settings (the time zone).
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('schedules')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('origin', 'jsonb', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('when_text', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('at', 'every')`))
    .addColumn('cron', 'text')
    .addColumn('every_ms', 'bigint')
    .addColumn('run_at', 'timestamptz')
    .addColumn('timezone', 'text', (c) => c.notNull().defaultTo('UTC'))
    .addColumn('parent_task_id', 'text', (c) => c.notNull().unique().references('tasks.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('active', 'paused', 'deleted', 'done')`))
    .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('paused_reason', 'text')
    .addColumn('last_run_at', 'timestamptz')
    .addColumn('next_run_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint(
      'schedules_when',
      sql`(kind = 'at' and run_at is not null) or (kind = 'every' and (cron is not null) <> (every_ms is not null))`,
    )
    .execute();
  await db.schema.createIndex('schedules_user_created').on('schedules').columns(['user_id', 'created_at']).execute();
  await db.schema.createIndex('schedules_status').on('schedules').column('status').execute();

  await db.schema
    .createTable('schedule_runs')
    .addColumn('schedule_id', 'text', (c) => c.notNull().references('schedules.id').onDelete('cascade'))
    .addColumn('fire_time', 'timestamptz', (c) => c.notNull())
    .addColumn('task_id', 'text', (c) => c.references('tasks.id').onDelete('set null'))
    .addColumn('outcome', 'text', (c) => c.check(sql`outcome in ('succeeded', 'failed')`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('schedule_runs_pk', ['schedule_id', 'fire_time'])
    .execute();
  await db.schema.createIndex('schedule_runs_task').on('schedule_runs').column('task_id').execute();

  await db.schema
    .createTable('user_settings')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    .addColumn('timezone', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Runs are found by their parent task (failure counting, the duplicate-run check); 0001 has no index on it.
  await db.schema.createIndex('tasks_parent_task').ifNotExists().on('tasks').column('parent_task_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('tasks_parent_task').ifExists().execute();
  await db.schema.dropTable('user_settings').execute();
  await db.schema.dropTable('schedule_runs').execute();
  await db.schema.dropTable('schedules').execute();
}
