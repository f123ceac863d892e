// Task writes that would take several round trips, done in one statement each (data-modifying CTEs).
// Every round trip to Postgres costs a write, a wake-up of the backend and a context switch; the submit and
// result paths run once per task, so these keep them to two or three statements inside their transaction.
// Rows that come back through row_to_json / json_agg are revived to what pg returns: `*_at` columns become Dates again.
import { sql, type CompiledQuery, type Insertable, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { admissionLocks, admissionUpdate, admitOrder, insertCapacity } from '../tasks/admission.ts';
import { toHubEvent, type HubEvent, type NewTaskEvent } from '../events.ts';
import type { Database, SubtaskRow, SubtasksTable, TaskEventRow, TaskRow, TasksTable } from './schema.ts';
import { json } from './task-store.ts';
import { revive, rows } from './jsonb-rows.ts';
import { outboxInsert } from './outbox-rules.ts';
import { PREPARED } from './prepared.ts';
import { statementTemplate } from './statement-template.ts';
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
 * Takes the admission locks of the graphs' owners, then inserts tasks, their subtasks, their first events and the
 * outbox rows they cause (a batch of submissions commits as one). New READY subtasks are admitted as they are
 * inserted, up to each owner's free capacity `cap`, unless the owner has work waiting already (the caller's next
 * statement, `admissionUpdate`, admits that in order). Graphs come back in the order given, subtasks in plan order.
 */
export async function insertTaskGraphs(trx: Trx, graphs: TaskGraph[], cap: number): Promise<StoredGraph[]> {
  await trx.executeQuery(ownersLock(trx, graphs));
  const { rows } = await trx.executeQuery(taskGraphsInsert(trx, graphs, cap));
  return storedGraphs(graphs, rows[0]!);
}

const ownersLockTemplate = statementTemplate(
  (v: { users: string[] }) =>
    sql`${PREPARED} select ${admissionLocks(sql`select id from unnest(${v.users}::text[]) as n (id)`)} as locked`,
);

/**
 * The admission locks of the graphs' owners, the distinct users in a fixed order (by lock key, so two batches never
 * wait for each other crosswise), in a statement of their own: the insert that counts their capacity must start
 * after they are held, to see what the locks' previous holders committed.
 */
export function ownersLock(db: Kysely<Database>, graphs: TaskGraph[]): CompiledQuery {
  return ownersLockTemplate(db, { users: [...new Set(graphs.map((g) => g.task.user_id))] });
}

interface GraphsInsertValues {
  tasks: string;
  subtasks: string;
  events: string;
  users: string[];
  cap: number;
}

// Shape: the tasks' columns and the subtasks' columns ("a,b|c,d").
const graphsInsertTemplate = statementTemplate((v: GraphsInsertValues, shape) => {
  const [taskColumns, subtaskColumns] = shape.split('|').map((c) => c.split(',')) as [string[], string[]];
  const cols = (names: readonly string[]) => sql.join(names.map((c) => sql.ref(c)));
  // A new subtask is admitted when it is READY and within its owner's free capacity, in admission's order.
  const waits = sql`n.status = 'READY' and n.queued_at is null`;
  const subtaskValues = sql.join(
    subtaskColumns.map((c) =>
      c === 'queued_at'
        ? sql`case when ${waits} and n.nth <= f.free then now() else n.queued_at end`
        : sql.ref(`n.${c}`),
    ),
  );
  return sql<{ tasks: unknown; subtasks: unknown; events: unknown }>`${PREPARED}
    with t as (insert into tasks (${cols(taskColumns)}) select ${cols(taskColumns)}
        from json_populate_recordset(null::tasks, ${v.tasks}::json) returning *),
      f as (${insertCapacity(v.users, v.cap)}),
      s as (insert into subtasks (${cols(subtaskColumns)}) select ${subtaskValues}
        from (select n.*, row_number() over (partition by n.user_id, ${waits} order by ${admitOrder('tk', 'n')}) as nth
          from json_populate_recordset(null::subtasks, ${v.subtasks}::json) n
          join t tk on tk.id = n.task_id) n
        left join f on f.user_id = n.user_id
        returning *),
      e as (insert into task_events (${cols(EVENT_COLUMNS)}) select ${cols(EVENT_COLUMNS)}
        from json_populate_recordset(null::task_events, ${v.events}::json) returning *),
      ob as (${outboxInsert('e', 't')})
    select (select json_agg(t) from t) as tasks, (select json_agg(s) from s) as subtasks,
      (select json_agg(e order by e.id) from e) as events`;
});

/**
 * The insert of `insertTaskGraphs` (to run it in a statement group after `ownersLock`); `storedGraphs` reads its one
 * row. Each table's rows travel as one JSON array that Postgres turns into rows (`json_populate_recordset`), so the
 * text is the same for any number of graphs and is prepared once per connection, not parsed and planned per batch.
 * Every task (and every subtask) of a batch must set the same columns: a column left out takes its default, which
 * one statement cannot do for some rows only.
 */
export function taskGraphsInsert(
  db: Kysely<Database>,
  graphs: TaskGraph[],
  cap: number,
): CompiledQuery<{ tasks: unknown; subtasks: unknown; events: unknown }> {
  const tasks = graphs.map((g) => g.task as Record<string, unknown>);
  const subtasks = graphs.flatMap((g) => g.subtasks as Record<string, unknown>[]);
  const taskColumns = columnsOf('tasks', tasks);
  const subtaskColumns = [...new Set([...columnsOf('subtasks', subtasks), 'queued_at'])];
  const values: GraphsInsertValues = {
    tasks: rowsJson('tasks', tasks, taskColumns),
    subtasks: rowsJson('subtasks', subtasks, subtaskColumns),
    events: rowsJson('task_events', eventValues(graphs.flatMap((g) => g.events)), EVENT_COLUMNS),
    users: [...new Set(graphs.map((g) => g.task.user_id))],
    cap,
  };
  return graphsInsertTemplate(db, values, `${taskColumns.join()}|${subtaskColumns.join()}`);
}

/**
 * The jsonb columns of the tables a graph inserts: their values are JSON text already (or objects), embedded in the
 * batch's JSON as values rather than as strings. test/task-graphs.test.ts checks this list against the schema.
 */
export const JSONB_COLUMNS: Readonly<Record<'tasks' | 'subtasks' | 'task_events', readonly string[]>> = {
  tasks: ['origin', 'progress', 'result', 'progress_message'],
  subtasks: ['input', 'output', 'progress'],
  task_events: ['data'],
};

const EVENT_COLUMNS = ['task_id', 'subtask_id', 'type', 'actor', 'data'] as const;

/** The columns the rows set (the first row's, in a fixed order); every row must set the same ones. */
function columnsOf(table: string, rows: Record<string, unknown>[]): string[] {
  const columns = Object.keys(rows[0] ?? {}).sort();
  const same = (r: Record<string, unknown>) => {
    const keys = Object.keys(r);
    return keys.length === columns.length && keys.every((k) => Object.hasOwn(rows[0]!, k));
  };
  if (!rows.every(same)) throw new Error(`${table} rows of one batch must set the same columns`);
  return columns;
}

/** Rows as one JSON array of objects with `columns`; jsonb columns' JSON text is embedded as the value itself. */
function rowsJson(
  table: keyof typeof JSONB_COLUMNS,
  rows: Record<string, unknown>[],
  columns: readonly string[],
): string {
  const jsonb = new Set(JSONB_COLUMNS[table]);
  const keys = columns.map((c, i) => `${i ? ',' : '{'}${JSON.stringify(c)}:`);
  let out = '[';
  for (const [n, r] of rows.entries()) {
    if (n) out += ',';
    for (const [i, c] of columns.entries()) {
      const v = r[c];
      out += keys[i] + (v == null ? 'null' : jsonb.has(c) && typeof v === 'string' ? v : JSON.stringify(v));
    }
    out += '}';
  }
  return `${out}]`;
}

/** The graphs as stored, from the row of `taskGraphsInsert`: in the order given, subtasks in plan order. */
export function storedGraphs(
  graphs: TaskGraph[],
  out: { tasks: unknown; subtasks: unknown; events: unknown },
): StoredGraph[] {
  const tasks = new Map(rows<TaskRow>(out.tasks).map((t) => [t.id, t]));
  const subtasks = new Map(rows<SubtaskRow>(out.subtasks).map((s) => [s.id, s]));
  const events = new Map<string, HubEvent[]>();
  for (const e of rows<TaskEventRow>(out.events).map(toHubEvent))
    events.set(e.taskId, [...(events.get(e.taskId) ?? []), e]);
  return graphs.map((g) => {
    const id = g.task.id as string;
    return {
      task: tasks.get(id)!,
      subtasks: g.subtasks.map((s) => subtasks.get(s.id as string)!),
      events: events.get(id) ?? [],
    };
  });
}

/**
 * Locks the rows of the given tasks in id order, then their owners' admission locks in lock-key order, in one statement
 * (rows first, as everywhere else; a fixed order, so two batches never deadlock). Tasks that do not exist are
 * missing from the map. The statement's own snapshot is never used for decisions: later statements see what
 * committed meanwhile.
 */
export async function lockTasksAndAdmission(trx: Trx, taskIds: string[]): Promise<Map<string, TaskRow>> {
  const { rows: found } = await trx.executeQuery(lockTemplate(trx, { ids: [...new Set(taskIds)] }));
  return new Map(found.map(({ locked: _, ...task }) => [task.id, task]));
}

// The scalar subquery reads all of `t` (locking every row) before it takes the first advisory lock.
const lockTemplate = statementTemplate(
  (v: { ids: string[] }) => sql<TaskRow & { locked: unknown }>`${PREPARED}
    with t as (select * from tasks where id = any(${v.ids}::text[]) order by id for no key update)
    select t.*, ${admissionLocks(sql`select distinct user_id as id from t`)} as locked from t`,
);

/** A step's success as the conductor stores it. */
export interface StepSuccess {
  taskId: string;
  subtaskId: string;
  generation: number;
  /** The output, as a JSON string (or null). */
  output: string | null;
  /** BullMQ's attempt number: a finished attempt counts once, one more than the runs recorded, at least this. */
  attempt: number;
  workerId: string;
  /** When the worker started it, for a step whose start was not recorded. */
  startedAt: Date | null;
}

/** A succeeded step and all its task's subtasks after it, in plan order. */
export interface SucceededStep {
  sub: SubtaskRow;
  siblings: SubtaskRow[];
}

/**
 * Marks steps SUCCEEDED (each guarded: its generation, in one of `from`) and reads all their tasks' subtasks after
 * it, in one statement of one text whatever their number. Per step, in the order given: null when the guard matched
 * nothing (a duplicate or stale result). A task's siblings show every step of the call (all its updates at once).
 */
export async function succeedSteps(
  trx: Trx,
  steps: StepSuccess[],
  from: readonly SubtaskRow['status'][],
): Promise<(SucceededStep | null)[]> {
  if (steps.length === 0) return [];
  const values: SucceedValues = {
    ids: steps.map((s) => s.subtaskId),
    generations: steps.map((s) => s.generation),
    outputs: steps.map((s) => s.output),
    attempts: steps.map((s) => s.attempt),
    workers: steps.map((s) => s.workerId),
    starts: steps.map((s) => s.startedAt?.toISOString() ?? null),
  };
  const { rows: all } = await trx.executeQuery(succeedTemplate(trx, values, from.join()));
  const byTask = new Map<string, SubtaskRow[]>();
  const updated = new Map<string, SubtaskRow>();
  for (const { updated: isNew, ...row } of all) {
    byTask.set(row.task_id, [...(byTask.get(row.task_id) ?? []), row as SubtaskRow]);
    if (isNew) updated.set(row.id, row as SubtaskRow);
  }
  // A step given twice (a duplicated result) was updated once: the first of its generation gets the row.
  const taken = new Set<string>();
  return steps.map((s) => {
    const sub = updated.get(s.subtaskId);
    if (!sub || sub.generation !== s.generation || taken.has(sub.id)) return null;
    taken.add(sub.id);
    return { sub, siblings: byTask.get(sub.task_id)! };
  });
}

interface SucceedValues {
  ids: string[];
  generations: number[];
  outputs: (string | null)[];
  attempts: number[];
  workers: string[];
  starts: (string | null)[];
}

// Shape: the statuses a step may succeed from ("RUNNING,READY").
const succeedTemplate = statementTemplate(
  (v: SucceedValues, from) => sql<SubtaskRow & { updated: boolean }>`${PREPARED}
    with r as (select * from unnest(${v.ids}::text[], ${v.generations}::int[], ${v.outputs}::jsonb[],
        ${v.attempts}::int[], ${v.workers}::text[], ${v.starts}::timestamptz[])
        as r (id, generation, output, attempt, worker_id, started_at)),
    upd as (update subtasks s set status = 'SUCCEEDED', output = r.output,
        attempts = greatest(s.attempts + 1, r.attempt),
        error = null, worker_id = r.worker_id, finished_at = now(), updated_at = now(),
        started_at = coalesce(s.started_at, r.started_at)
      from r where s.id = r.id and s.generation = r.generation and s.status in (${sql.join(from.split(','))})
      returning s.*)
    select upd.*, true as updated from upd
    union all
    select s.*, false as updated from subtasks s
    where s.task_id in (select task_id from upd) and s.id not in (select id from upd)
    order by task_id, created_at, key`,
);

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

interface EndValues {
  ids: string[];
  results: (string | null)[];
  users: string[];
  cap: number;
  eventTasks: string[];
  eventSubtasks: (string | null)[];
  eventTypes: string[];
  eventActors: string[];
  eventData: (string | null)[];
}

// Shape: which parts the statement has (c: completions, a: admission, e: events), then the completions' guard.
const endTemplate = statementTemplate((v: EndValues, shape) => {
  const [parts, from] = shape.split('|') as [string, string];
  const ctes: RawBuilder<unknown>[] = [];
  if (parts.includes('c'))
    ctes.push(sql`fin as (update tasks t set status = 'COMPLETED', result = c.result, progress = null,
      started_at = coalesce(t.started_at, now()), finished_at = now(), updated_at = now()
      from unnest(${v.ids}::text[], ${v.results}::jsonb[]) as c(id, result)
      where t.id = c.id and t.status in (${sql.join(from.split(','))}) returning t.*)`);
  if (parts.includes('a')) ctes.push(sql`adm as (${admissionUpdate(v.users, v.cap)})`);
  if (parts.includes('e'))
    ctes.push(
      sql`ev as (insert into task_events (task_id, subtask_id, type, actor, data)
        select * from unnest(${v.eventTasks}::text[], ${v.eventSubtasks}::text[], ${v.eventTypes}::text[],
          ${v.eventActors}::text[], ${v.eventData}::jsonb[])
        returning *)`,
      sql`ob as (${outboxInsert('ev', 'tasks')})`,
    );
  return sql<{ tasks: unknown; admitted: unknown; events: unknown }>`${PREPARED}
    with ${sql.join(ctes)}
    select ${parts.includes('c') ? sql`(select json_agg(fin) from fin)` : sql`null`} as tasks,
      ${parts.includes('a') ? sql`(select json_agg(adm) from adm)` : sql`null`} as admitted,
      ${parts.includes('e') ? sql`(select json_agg(ev order by ev.id) from ev)` : sql`null`} as events`;
});

/**
 * Runs the steps' last writes in one statement: the tasks' completions, admission (which must start after the
 * admission locks are held, i.e. in a later statement than the locks) and the audit events in their order.
 * The caller holds the task row locks, so it knows the completions' guards hold and passes their events along.
 */
export async function endStep(
  trx: Trx,
  end: StepEnd,
): Promise<{ tasks: TaskRow[]; admitted: SubtaskRow[]; events: HubEvent[] }> {
  const done = end.complete ?? [];
  const from = [...new Set(done.flatMap((c) => c.from))];
  if (done.some((c) => c.from.length !== from.length)) throw new Error('endStep: completions with different guards');
  const users = [...new Set(end.admit?.userIds ?? [])].sort();
  if (!done.length && !users.length && !end.events.length) return { tasks: [], admitted: [], events: [] };
  const e = eventValues(end.events);
  const values: EndValues = {
    ids: done.map((c) => c.taskId),
    results: done.map((c) => json(c.result)),
    users,
    cap: end.admit?.cap ?? 0,
    eventTasks: e.map((x) => x.task_id),
    eventSubtasks: e.map((x) => x.subtask_id ?? null),
    eventTypes: e.map((x) => x.type),
    eventActors: e.map((x) => x.actor),
    eventData: e.map((x) => x.data),
  };
  const parts = `${done.length ? 'c' : ''}${users.length ? 'a' : ''}${e.length ? 'e' : ''}`;
  const {
    rows: [out],
  } = await trx.executeQuery(endTemplate(trx, values, `${parts}|${from.join()}`));
  return {
    tasks: rows<TaskRow>(out?.tasks),
    admitted: rows<SubtaskRow>(out?.admitted),
    events: rows<TaskEventRow>(out?.events).map(toHubEvent),
  };
}
