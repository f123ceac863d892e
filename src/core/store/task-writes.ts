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

/** A task to insert with its subtasks (in plan order) and first events. */
export interface TaskGraph {
  task: Insertable<TasksTable>;
  subtasks: Insertable<SubtasksTable>[];
  events: NewTaskEvent[];
}

/** A stored task graph, as the database returned it. */
export interface StoredGraph {
  task: TaskRow;
  subtasks: SubtaskRow[];
  events: HubEvent[];
}

/**
 * Inserts tasks, their subtasks, their first events and the outbox rows they cause in one statement (a batch of
 * submissions commits as one), and takes the owners' admission locks in the same statement, the distinct users
 * in a fixed order (by lock key, so two batches never wait for each other crosswise). Admission, in the next
 * statement, sees the new subtasks under the locks. Graphs come back in the order given, subtasks in plan order.
 */
export async function insertTaskGraphs(trx: Trx, graphs: TaskGraph[]): Promise<StoredGraph[]> {
  const users = [...new Set(graphs.map((g) => g.task.user_id))];
  const out = await trx
    .with('t', (db) =>
      db
        .insertInto('tasks')
        .values(graphs.map((g) => g.task))
        .returningAll(),
    )
    .with('s', (db) =>
      db
        .insertInto('subtasks')
        .values(graphs.flatMap((g) => g.subtasks))
        .returningAll(),
    )
    .with('e', (db) =>
      db
        .insertInto('task_events')
        .values(eventValues(graphs.flatMap((g) => g.events)))
        .returningAll(),
    )
    .with('ob', outboxCte('e', 't'))
    .selectNoFrom([
      sql<unknown>`(select jsonb_agg(t) from t)`.as('tasks'),
      sql<unknown>`(select jsonb_agg(s) from s)`.as('subtasks'),
      sql<unknown>`(select jsonb_agg(e order by e.id) from e)`.as('events'),
      // offset 0 keeps the ordered subquery from being flattened: the locks are taken in its order.
      sql<unknown>`(select count(*) from (select ${admissionLock(sql.ref('u.id'))} from (select id
        from unnest(${users}::text[]) as x (id) order by hashtext('sb-admit:' || id), id offset 0) u) l)`.as('locked'),
    ])
    .executeTakeFirstOrThrow();
  const tasks = new Map(rows<TaskRow>(out.tasks).map((t) => [t.id, t]));
  const subtasks = rows<SubtaskRow>(out.subtasks);
  const events = rows<TaskEventRow>(out.events).map(toHubEvent);
  return graphs.map((g) => {
    const id = g.task.id as string;
    const order = new Map(g.subtasks.map((s, i) => [s.id, i]));
    return {
      task: tasks.get(id)!,
      subtasks: subtasks.filter((s) => s.task_id === id).sort((a, b) => order.get(a.id)! - order.get(b.id)!),
      events: events.filter((e) => e.taskId === id),
    };
  });
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
