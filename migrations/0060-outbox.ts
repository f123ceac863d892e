// The outbox: one row per outbound message (acknowledgement, progress edit, review request, info, final message),
// written in the transaction of the event that causes it and marked delivered with the platform's message ref.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('outbox')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('task_id', 'text', (c) => c.notNull().references('tasks.id').onDelete('cascade'))
    // The event that caused the message (an event yields at most one); null for a progress edit a worker's
    // transient report made due.
    .addColumn('event_id', 'bigint')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('message_ref', 'jsonb')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .execute();
  await db.schema.createIndex('outbox_event').on('outbox').column('event_id').unique().execute();
  await db.schema.createIndex('outbox_task').on('outbox').column('task_id').execute();
  // At most one pending progress edit per task: later progress events coalesce into it.
  await db.schema
    .createIndex('outbox_progress_pending')
    .on('outbox')
    .column('task_id')
    .unique()
    .where(sql.ref('kind'), '=', 'progress')
    .where(sql.ref('delivered_at'), 'is', null)
    .execute();
  // The sweep: undelivered rows, oldest first.
  await db.schema
    .createIndex('outbox_undelivered')
    .on('outbox')
    .column('created_at')
    .where(sql.ref('delivered_at'), 'is', null)
    .execute();
  // Final messages the old reconciler had yet to confirm (recently finished, not silent) become outbox rows.
  await sql`insert into outbox (task_id, kind)
    select id, 'final' from tasks
    where status in ('COMPLETED', 'FAILED', 'CANCELLED', 'REJECTED') and not final_notified
      and notify_policy <> 'silent' and finished_at > now() - interval '1 day'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('outbox').execute();
}
