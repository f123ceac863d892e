// Small database helpers shared by the task service, conductor, reconciler and admin service.
import { sql, type Insertable, type Kysely, type Transaction } from 'kysely';
import { InvalidInputError, NotFoundError } from '../errors.ts';
import { rows } from './jsonb-rows.ts';
import { toHubEvent, type HubEvent, type NewTaskEvent } from '../events.ts';
import type { Database, SubtaskRow, TaskRow, TasksTable } from './schema.ts';
import { outboxCte } from './outbox-rules.ts';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Inserts audit events, and the outbox rows they cause (in the same statement), and returns the events in the
 * shape they travel in.
 */
export async function insertEvents(db: Db, events: NewTaskEvent[]): Promise<HubEvent[]> {
  if (events.length === 0) return [];
  const rows = await db
    .with('ev', (q) =>
      q
        .insertInto('task_events')
        .values(events.map((e) => ({ ...e, data: e.data == null ? null : JSON.stringify(e.data) })))
        .returningAll(),
    )
    .with('ob', outboxCte('ev', 'tasks'))
    .selectFrom('ev')
    .selectAll()
    .orderBy('id')
    .execute();
  return rows.map(toHubEvent);
}

/** Loads a task and locks its row for the rest of the transaction (serialises work on one task). */
export async function lockTask(trx: Transaction<Database>, taskId: string): Promise<TaskRow> {
  const task = await trx.selectFrom('tasks').selectAll().where('id', '=', taskId).forNoKeyUpdate().executeTakeFirst();
  if (!task) throw new NotFoundError(`Task ${taskId} does not exist.`);
  return task;
}

/** All subtasks of a task, in plan order. */
export async function loadSubtasks(db: Db, taskId: string): Promise<SubtaskRow[]> {
  return db
    .selectFrom('subtasks')
    .selectAll()
    .where('task_id', '=', taskId)
    .orderBy('created_at')
    .orderBy('key')
    .execute();
}

/** JSON value for a jsonb column (kysely passes strings through; objects must be stringified for pg). */
export function json(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

/** SQL `now()`. */
export const now = sql<Date>`now()`;

/** A task by full id or unique prefix (>= 4 characters) that the caller may see: their own, or any for admins. */
export async function findVisibleTask(
  db: Db,
  idOrPrefix: string,
  caller: { userId: string; isAdmin?: boolean | undefined },
): Promise<TaskRow> {
  const id = String(idOrPrefix ?? '')
    .trim()
    .toLowerCase();
  if (!/^[0-9a-f-]{4,36}$/.test(id)) throw new NotFoundError(`No task ${idOrPrefix}.`);
  let q = db.selectFrom('tasks').selectAll();
  q = id.length === 36 ? q.where('id', '=', id) : q.where('id', 'like', `${id}%`);
  if (!caller.isAdmin) q = q.where('user_id', '=', caller.userId);
  const rows = await q.limit(2).execute();
  if (rows.length === 0) throw new NotFoundError(`No task ${idOrPrefix}.`);
  if (rows.length > 1) throw new InvalidInputError(`${idOrPrefix} matches more than one task; give more characters.`);
  return rows[0]!;
}

/** A task and its subtasks (in plan order) in one statement, or null when there is no such task. */
export async function loadTaskWithSubtasks(
  db: Kysely<Database>,
  taskId: string,
): Promise<{ task: TaskRow; subtasks: SubtaskRow[] } | null> {
  const row = await db
    .selectFrom('tasks')
    .selectAll()
    .select(
      sql<unknown>`(select json_agg(s order by s.created_at, s.key) from subtasks s where s.task_id = tasks.id)`.as(
        'subtasks_json',
      ),
    )
    .where('id', '=', taskId)
    .executeTakeFirst();
  if (!row) return null;
  const { subtasks_json: subtasks, ...task } = row;
  return { task, subtasks: rows<SubtaskRow>(subtasks) };
}

/** The columns every new task names; the rest start empty. */
type NewTaskCore = Pick<
  Insertable<TasksTable>,
  'id' | 'user_id' | 'origin' | 'text' | 'status' | 'priority' | 'notify_policy'
>;

/** A new task row: what it is and who asked, with every column that starts empty set to null (or false). */
export function newTaskValues(core: NewTaskCore & Partial<Insertable<TasksTable>>): Insertable<TasksTable> {
  return {
    progress: null,
    result: null,
    error: null,
    progress_message: null,
    parent_task_id: null,
    started_at: null,
    finished_at: null,
    requires_review: false,
    feedback: null,
    ...core,
  };
}
