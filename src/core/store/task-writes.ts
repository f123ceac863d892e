// Task writes that would take several round trips, done in one statement each (data-modifying CTEs).
// Every round trip to Postgres costs a write, a wake-up of the backend and a context switch; the submit and
// result paths run once per task, so these keep them to two or three statements inside their transaction.
// Rows that come back through to_jsonb are revived to what pg returns: `*_at` columns become Dates again.
import { sql, type Insertable, type RawBuilder, type Transaction } from 'kysely';
import { admissionLock, admissionUpdate } from '../tasks/admission.ts';
import { toHubEvent, type HubEvent, type NewTaskEvent } from '../events.ts';
import type { Database, SubtaskRow, SubtasksTable, TaskEventRow, TaskRow, TasksTable } from './schema.ts';
import { json } from './task-store.ts';
import { revive, rows } from './jsonb-rows.ts';
import { outboxCte, outboxInsert } from './outbox-rules.ts';
import { PREPARED } from './prepared.ts';
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
 * Locks the rows of the given tasks in id order, then their owners' admission locks in user order, in one statement
 * (rows first, as everywhere else; a fixed order, so two batches never deadlock). Tasks that do not exist are
 * missing from the map. The statement's own snapshot is never used for decisions: later statements see what
 * committed meanwhile.
 */
export async function lockTasksAndAdmission(trx: Trx, taskIds: string[]): Promise<Map<string, TaskRow>> {
  // The scalar subquery reads all of `t` (locking every row) before it takes the first advisory lock.
  const { rows: found } = await sql<TaskRow & { locked: unknown }>`${PREPARED}
    with t as (select * from tasks where id = any(${[...new Set(taskIds)]}::text[]) order by id for update)
    select t.*, (select count(${admissionLock(sql.ref('x.u'))})
      from (select distinct user_id as u from t order by 1) x) as locked from t`.execute(trx);
  return new Map(found.map(({ locked: _, ...task }) => [task.id, task]));
}

/** A step's success as the conductor stores it. */
export interface StepSuccess {
  taskId: string;
  subtaskId: string;
  generation: number;
  /** The statuses the step may succeed from (the transitions' guard). */
  from: readonly SubtaskRow['status'][];
  /** The output, as a JSON string (or null). */
  output: string | null;
  /** BullMQ's attempt number: a finished attempt counts once, one more than the runs recorded, at least this. */
  attempt: number;
  workerId: string;
  /** When the worker started it, for a step whose start was not recorded. */
  startedAt: Date | null;
}

/**
 * Marks a step SUCCEEDED (guarded: this generation, in one of `from`) and reads all the task's subtasks after it,
 * in one statement; null when the guard matched nothing (a duplicate or stale result). Siblings are in plan order.
 */
export async function succeedStep(
  trx: Trx,
  s: StepSuccess,
): Promise<{ sub: SubtaskRow; siblings: SubtaskRow[] } | null> {
  const { rows: all } = await sql<SubtaskRow & { updated: boolean }>`${PREPARED}
    with upd as (update subtasks set status = 'SUCCEEDED', output = ${s.output}::jsonb,
        attempts = greatest(attempts + 1, ${s.attempt}::int), error = null, worker_id = ${s.workerId},
        finished_at = now(), updated_at = now(), started_at = coalesce(started_at, ${s.startedAt}::timestamptz)
      where id = ${s.subtaskId} and generation = ${s.generation}::int and status in (${sql.join(s.from)})
      returning *)
    select upd.*, true as updated from upd
    union all
    select s.*, false as updated from subtasks s where s.task_id = ${s.taskId} and s.id <> ${s.subtaskId}
    order by created_at, key`.execute(trx);
  const siblings = all.map(({ updated: _, ...row }) => row as SubtaskRow);
  const i = all.findIndex((r) => r.updated);
  return i < 0 ? null : { sub: siblings[i]!, siblings };
}

/**
 * The end of one or more steps (a batch of results): complete tasks, admit users' waiting work, and record events
 * (with the outbox rows they cause).
 */
export interface StepEnd {
  /** Complete these tasks with their results (each from its `from` statuses), marking them started if they were not. */
  complete?: { taskId: string; result: unknown; from: readonly TaskStatus[] }[];
  /** Admit the waiting work of these users (each under its own admission lock, which the caller holds). */
  admit?: { userIds: string[]; cap: number };
  events: NewTaskEvent[];
}

/**
 * Runs the steps' last writes in one statement: the tasks' completions, admission (which must start after the
 * admission locks are held, i.e. in a later statement than the locks) and the audit events in their order.
 * The caller holds the task row locks, so it knows the completions' guards hold and passes their events along.
 */
export async function endStep(
  trx: Trx,
  end: StepEnd,
): Promise<{ tasks: TaskRow[]; admitted: SubtaskRow[]; events: HubEvent[] }> {
  const ctes: RawBuilder<unknown>[] = [];
  const done = end.complete ?? [];
  const from = [...new Set(done.flatMap((c) => c.from))];
  if (done.some((c) => c.from.length !== from.length)) throw new Error('endStep: completions with different guards');
  if (done.length) {
    const ids = done.map((c) => c.taskId);
    const results = done.map((c) => json(c.result));
    ctes.push(sql`fin as (update tasks t set status = 'COMPLETED', result = c.result, progress = null,
      started_at = coalesce(t.started_at, now()), finished_at = now(), updated_at = now()
      from unnest(${ids}::text[], ${results}::jsonb[]) as c(id, result)
      where t.id = c.id and t.status in (${sql.join(from)}) returning t.*)`);
  }
  const users = [...new Set(end.admit?.userIds ?? [])].sort();
  users.forEach((u, i) => ctes.push(sql`${sql.ref(`adm${i}`)} as (${admissionUpdate(u, end.admit!.cap)})`));
  if (end.events.length) {
    const e = eventValues(end.events);
    ctes.push(
      sql`ev as (insert into task_events (task_id, subtask_id, type, actor, data)
        select * from unnest(${e.map((x) => x.task_id)}::text[], ${e.map((x) => x.subtask_id ?? null)}::text[],
          ${e.map((x) => x.type)}::text[], ${e.map((x) => x.actor)}::text[], ${e.map((x) => x.data)}::jsonb[])
        returning *)`,
      sql`ob as (${outboxInsert('ev', 'tasks')})`,
    );
  }
  if (ctes.length === 0) return { tasks: [], admitted: [], events: [] };
  const admitted = users.map((_, i) => sql`select * from ${sql.ref(`adm${i}`)}`);
  const {
    rows: [out],
  } = await sql<{ tasks: unknown; admitted: unknown; events: unknown }>`${PREPARED}
    with ${sql.join(ctes)}
    select ${done.length ? sql`(select jsonb_agg(fin) from fin)` : sql`null`} as tasks,
      ${users.length ? sql`(select jsonb_agg(a) from (${sql.join(admitted, sql` union all `)}) a)` : sql`null`} as admitted,
      ${end.events.length ? sql`(select jsonb_agg(ev order by ev.id) from ev)` : sql`null`} as events`.execute(trx);
  return {
    tasks: rows<TaskRow>(out?.tasks),
    admitted: rows<SubtaskRow>(out?.admitted),
    events: rows<TaskEventRow>(out?.events).map(toHubEvent),
  };
}
