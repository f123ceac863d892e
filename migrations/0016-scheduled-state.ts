// Schedules' tasks wait in their own SCHEDULED state instead of IN_PROGRESS (tasks.status is free text: no DDL).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db
    .updateTable('tasks')
    .set({ status: 'SCHEDULED', started_at: null })
    .where('status', '=', 'IN_PROGRESS')
    .where('id', 'in', db.selectFrom('schedules').select('parent_task_id').where('status', 'in', ['active', 'paused']))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db
    .updateTable('tasks')
    .set({ status: 'IN_PROGRESS', started_at: db.fn('now') as never })
    .where('status', '=', 'SCHEDULED')
    .execute();
}
