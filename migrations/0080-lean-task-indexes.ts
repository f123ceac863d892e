// Task indexes that hold only the rows asked for. Every change of a task's status rewrites the row outside the page
// (it touches indexed columns), and such an update adds an entry to every index whose predicate the row meets; a
// single-step task is inserted and updated three times, so each index that answers nothing for it costs four
// entries. A bench run showed about 77 WAL records per task.
// - tasks_status (status, updated_at) answered nothing: no query filters tasks by status without its user (whose
//   own index serves the listing) or its id; dropped.
// - tasks_finished serves retention (finished before a date) and tasks_parent_task the children of a schedule's or
//   monitor's parent task (and the SET NULL of a deleted parent): most tasks are unfinished or have no parent, so
//   both keep only rows with a value. A query's `= x` or `< x` on the column implies the predicate.
import { sql, type Kysely } from 'kysely';

/** The indexes made partial, and their column. */
const PARTIAL = { tasks_finished: 'finished_at', tasks_parent_task: 'parent_task_id' } as const;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('tasks_status').execute();
  for (const [name, column] of Object.entries(PARTIAL)) {
    await db.schema.dropIndex(name).execute();
    await db.schema.createIndex(name).on('tasks').column(column).where(sql.ref(column), 'is not', null).execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const [name, column] of Object.entries(PARTIAL)) {
    await db.schema.dropIndex(name).execute();
    await db.schema.createIndex(name).on('tasks').column(column).execute();
  }
  await db.schema.createIndex('tasks_status').on('tasks').columns(['status', 'updated_at']).execute();
}
