// Task writes that would take several round trips, done in one statement each (data-modifying CTEs).
// Every round trip to Postgres costs a write, a wake-up of the backend and a context switch; the submit and
// result paths run once per task, so these keep them to two or three statements inside their transaction.
// Rows that come back through to_jsonb are revived to what pg returns: `*_at` columns become Dates again.
import { sql, type Insertable, type RawBuilder, type Transaction, type UpdateObject } from 'kysely';
import { admissionLock, admissionUpdate } from '../tasks/admission.ts';
import { NotFoundError } from '../errors.ts';
import { toHubEvent, type HubEvent, type NewTaskEvent } from '../events.ts';
import type { Database, SubtaskRow, SubtasksTable, TaskEventRow, TaskRow, TasksTable } from './schema.ts';
import { json } from './task-store.ts';
import { revive, rows } from './jsonb-rows.ts';
import { outboxCte, outboxInsert } from './outbox-rules.ts';
import type { TaskStatus } from '../types.ts';

type Trx = Transaction<Database>;

/** Event rows as `insertInto('task_events')` takes them (jsonb data as a JSON string). */
const eventValues = (events: NewTaskEvent[]) =>
  events.map((e) => ({ ...e, data: e.data == null ? null : JSON.stringify(e.data) }));

/**
 * Inserts a task, its subtasks, its first events and the outbox rows they cause in one statement, and takes the
 * owner's admission lock in the same statement (so admission, in the next statement, sees the new subtasks under the lock).
 * Subtasks come back in the order given.
 */
export async function insertTaskGraph(
  trx: Trx,
  task: Insertable<TasksTable>,
  subtasks: Insertable<SubtasksTable>[],
  events: NewTaskEvent[],
): Promise<{ task: TaskRow; subtasks: SubtaskRow[]; events: HubEvent[] }> {
  const out = await trx
    .with('t', (db) => db.insertInto('tasks').values(task).returningAll())
    .with('s', (db) => db.insertInto('subtasks').values(subtasks).returningAll())
    .with('e', (db) => db.insertInto('task_events').values(eventValues(events)).returningAll())
    .with('ob', outboxCte('e', 't'))
    .selectNoFrom([
      sql<unknown>`(select to_jsonb(t) from t)`.as('task'),
      sql<unknown>`(select jsonb_agg(s) from s)`.as('subtasks'),
      sql<unknown>`(select jsonb_agg(e order by e.id) from e)`.as('events'),
      sql<unknown>`${admissionLock(task.user_id)}`.as('locked'),
    ])
    .executeTakeFirstOrThrow();
  const order = new Map(subtasks.map((s, i) => [s.id, i]));
  return {
    task: revive<TaskRow>(out.task),
    subtasks: rows<SubtaskRow>(out.subtasks).sort((a, b) => order.get(a.id)! - order.get(b.id)!),
    events: rows<TaskEventRow>(out.events).map(toHubEvent),
  };
}

/**
 * Locks a task's row, then its owner's admission lock, in one statement (the row first, as everywhere else).
 * The lock statement's own snapshot is never used for decisions: later statements see what committed meanwhile.
 */
export async function lockTaskAndAdmission(trx: Trx, taskId: string): Promise<TaskRow> {
  const { rows: found } = await sql<TaskRow & { locked: unknown }>`
    with t as (select * from tasks where id = ${taskId} for update)
    select t.*, ${admissionLock(sql.ref('t.user_id'))} as locked from t`.execute(trx);
  const row = found[0];
  if (!row) throw new NotFoundError(`Task ${taskId} does not exist.`);
  const { locked: _, ...task } = row;
  return task;
}

/**
 * Applies a guarded subtask update (`where status in from`) and reads all the task's subtasks after it, in one
 * statement; null when the guard matched nothing (a duplicate or stale result). Siblings are in plan order.
 */
export async function updateSubtaskWithSiblings(
  trx: Trx,
  taskId: string,
  subtaskId: string,
  generation: number,
  from: SubtaskRow['status'][],
  set: UpdateObject<Database, 'subtasks'>,
): Promise<{ sub: SubtaskRow; siblings: SubtaskRow[] } | null> {
  const all = await trx
    .with('upd', (db) =>
      db
        .updateTable('subtasks')
        .set(set)
        .where('id', '=', subtaskId)
        .where('generation', '=', generation)
        .where('status', 'in', from)
        .returningAll(),
    )
    .selectFrom('upd')
    .selectAll()
    .select(sql<boolean>`true`.as('updated'))
    .unionAll((eb) =>
      eb
        .selectFrom('subtasks')
        .selectAll()
        .select(sql<boolean>`false`.as('updated'))
        .where('task_id', '=', taskId)
        .where('id', '!=', subtaskId),
    )
    .orderBy('created_at')
    .orderBy('key')
    .execute();
  const siblings = all.map(({ updated: _, ...s }) => s as SubtaskRow);
  const i = all.findIndex((r) => r.updated);
  return i < 0 ? null : { sub: siblings[i]!, siblings };
}

/**
 * The end of a step: optionally complete the task, optionally admit the user's waiting work, and record events
 * (with the outbox rows they cause).
 */
export interface StepEnd {
  /** Complete the task with this result (from `from` statuses), marking it started if it was not. */
  complete?: { taskId: string; result: unknown; from: TaskStatus[] };
  admit?: { userId: string; cap: number };
  events: NewTaskEvent[];
}

/**
 * Runs a step's last writes in one statement: the task's completion, admission (which must start after the
 * admission lock is held, i.e. in a later statement than the lock) and the audit events.
 * The caller holds the task row lock, so it knows the completion's guard holds and passes its events along.
 */
export async function endStep(
  trx: Trx,
  end: StepEnd,
): Promise<{ task: TaskRow | null; admitted: SubtaskRow[]; events: HubEvent[] }> {
  const ctes: RawBuilder<unknown>[] = [];
  const c = end.complete;
  if (c) {
    ctes.push(sql`fin as (update tasks set status = 'COMPLETED', result = ${json(c.result)}, progress = null,
      started_at = coalesce(started_at, now()), finished_at = now(), updated_at = now()
      where id = ${c.taskId} and status in (${sql.join(c.from)}) returning *)`);
  }
  if (end.admit) ctes.push(sql`adm as (${admissionUpdate(end.admit.userId, end.admit.cap)})`);
  if (end.events.length) {
    const values = eventValues(end.events).map(
      (e) => sql`(${e.task_id}, ${e.subtask_id ?? null}, ${e.type}, ${e.actor}, ${e.data})`,
    );
    ctes.push(
      sql`ev as (insert into task_events (task_id, subtask_id, type, actor, data) values ${sql.join(values)} returning *)`,
      sql`ob as (${outboxInsert('ev', 'tasks')})`,
    );
  }
  if (ctes.length === 0) return { task: null, admitted: [], events: [] };
  const {
    rows: [out],
  } = await sql<{ task: unknown; admitted: unknown; events: unknown }>`
    with ${sql.join(ctes)}
    select ${c ? sql`(select to_jsonb(fin) from fin)` : sql`null`} as task,
      ${end.admit ? sql`(select jsonb_agg(adm) from adm)` : sql`null`} as admitted,
      ${end.events.length ? sql`(select jsonb_agg(ev order by ev.id) from ev)` : sql`null`} as events`.execute(trx);
  return {
    task: out?.task ? revive<TaskRow>(out.task) : null,
    admitted: rows<SubtaskRow>(out?.admitted),
    events: rows<TaskEventRow>(out?.events).map(toHubEvent),
  };
}
