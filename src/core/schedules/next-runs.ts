// When a schedule's task (SCHEDULED) runs next, for task views.
import type { Kysely } from 'kysely';
import type { Database, TaskRow } from '../store/schema.ts';

/** A task row; a schedule's task (SCHEDULED) also says when it runs next (null while its schedule is paused). */
export type TaskWithNextRun = TaskRow & { next_run_at?: Date | null };

/** Adds `next_run_at` to the SCHEDULED tasks among `tasks` (one query), in the same order. */
export async function withNextRuns<T extends TaskRow>(
  db: Kysely<Database>,
  tasks: T[],
): Promise<Array<T & { next_run_at?: Date | null }>> {
  const waiting = tasks.filter((t) => t.status === 'SCHEDULED').map((t) => t.id);
  if (!waiting.length) return tasks;
  const rows = await db
    .selectFrom('schedules')
    .select(['parent_task_id', 'next_run_at'])
    .where('parent_task_id', 'in', waiting)
    .execute();
  const next = new Map(rows.map((r) => [r.parent_task_id, r.next_run_at]));
  return tasks.map((t) => (t.status === 'SCHEDULED' ? { ...t, next_run_at: next.get(t.id) ?? null } : t));
}
