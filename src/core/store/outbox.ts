// Outbox queries: the notifier loads a row with what it renders from, marks it delivered (with the platform's
// message ref), records failed attempts, and finds rows left undelivered. Rows are written where events are
// (see outbox-rules.ts).
import { sql, type Kysely } from 'kysely';
import type { MessageRef } from '../types.ts';
import { revive, rows } from './jsonb-rows.ts';
import type { OutboxRow } from './outbox-rows.ts';
import type { Database, SubtaskRow, TaskRow } from './schema.ts';
import { PREPARED } from './prepared.ts';
import { statementTemplate } from './statement-template.ts';
import { json } from './task-store.ts';

type Db = Kysely<Database>;

/** An outbox row with the task (and, for an acknowledgement or progress edit, the subtasks) it renders from. */
export interface OutboxDelivery {
  row: OutboxRow;
  task: TaskRow;
  subtasks: SubtaskRow[];
}

/** Which row a delivery job is for: the one its event caused, or one by id. */
export type OutboxKey = { eventId: string } | { id: string };

/** The row with its task (and the subtasks, for the kinds that show steps), in one statement; null when gone. */
export async function loadOutboxRow(db: Db, key: OutboxKey): Promise<OutboxDelivery | null> {
  const where = 'eventId' in key ? sql`o.event_id = ${key.eventId}` : sql`o.id = ${key.id}`;
  const { rows: found } = await sql<TaskRow & { outbox_row: unknown; subtasks_json: unknown }>`${PREPARED}
    select t.*, row_to_json(o) as outbox_row, ${subtasksOf(sql`o.kind in ('ack', 'progress')`)} as subtasks_json
    from outbox o join tasks t on t.id = o.task_id where ${where}`.execute(db);
  return delivery(found[0]);
}

/**
 * A progress edit's state: takes the task's pending progress row if there is one (marks it delivered before
 * rendering, so a progress event committed after this point makes a new row rather than folding into one whose
 * text is already rendered) and reads the task and its subtasks, in one statement; the row is null when none
 * was pending (a worker's transient report made the edit due). Null when the task is gone.
 */
export async function claimProgress(
  db: Db,
  taskId: string,
): Promise<(Omit<OutboxDelivery, 'row'> & { row: OutboxRow | null }) | null> {
  const { rows: found } = await sql<TaskRow & { outbox_row: unknown; subtasks_json: unknown }>`${PREPARED}
    with c as (update outbox set delivered_at = now(), attempts = attempts + 1
      where task_id = ${taskId} and kind = 'progress' and delivered_at is null returning *)
    select t.*, (select row_to_json(c) from c limit 1) as outbox_row, ${subtasksOf(sql`true`)} as subtasks_json
    from tasks t where t.id = ${taskId}`.execute(db);
  const row = found[0];
  if (!row) return null;
  if (row.outbox_row === null) {
    const { outbox_row: _, subtasks_json, ...task } = row;
    return { row: null, task, subtasks: rows<SubtaskRow>(subtasks_json) };
  }
  return delivery(row);
}

/** A sent (or settled: `ref` null) message to mark; an acknowledgement's ref may become the progress message. */
export interface DeliveryMark {
  row: OutboxKeyed;
  ref: MessageRef | null;
  progressMessage?: boolean;
}

/**
 * Marks rows delivered in one statement of one text whatever their number (a batch of deliveries commits as one):
 * each row with its platform ref; an acknowledgement's ref also becomes the task's progress message (when asked and
 * none is set), and a final message sets `final_notified`. At most one mark per task.
 */
export async function markDelivered(db: Db, marks: DeliveryMark[]): Promise<void> {
  if (marks.length === 0) return;
  const values: MarkValues = {
    ids: marks.map((m) => m.row.id || null),
    events: marks.map((m) => (m.row.id ? null : m.row.event_id)),
    tasks: marks.map((m) => m.row.task_id),
    kinds: marks.map((m) => m.row.kind),
    refs: marks.map((m) => json(m.ref)),
    progress: marks.map((m) => m.progressMessage === true),
  };
  await db.executeQuery(markTemplate(db, values));
}

interface MarkValues {
  ids: (string | null)[];
  events: (string | null)[];
  tasks: string[];
  kinds: string[];
  refs: (string | null)[];
  progress: boolean[];
}

const markTemplate = statementTemplate(
  (v: MarkValues) => sql`${PREPARED}
    with m as (select * from unnest(${v.ids}::bigint[], ${v.events}::bigint[], ${v.tasks}::text[], ${v.kinds}::text[],
        ${v.refs}::jsonb[], ${v.progress}::boolean[])
      as m (id, event_id, task_id, kind, ref, progress)),
    by_id as (update outbox x set delivered_at = coalesce(x.delivered_at, now()), message_ref = m.ref,
        attempts = x.attempts + 1, last_error = null
      from m where m.id is not null and x.id = m.id returning x.id),
    by_event as (update outbox x set delivered_at = coalesce(x.delivered_at, now()), message_ref = m.ref,
        attempts = x.attempts + 1, last_error = null
      from m where m.id is null and x.event_id = m.event_id returning x.id),
    pm as (update tasks t set progress_message = m.ref from m
      where t.id = m.task_id and m.progress and m.ref is not null and t.progress_message is null returning t.id),
    fin as (update tasks t set final_notified = true from m where t.id = m.task_id and m.kind = 'final' returning t.id)
    select (select count(*) from fin) as finals`,
);

/**
 * Records a failed attempt; `settle` gives the row up (a permanent error: it is not re-sent, and a final message
 * counts as notified). Returns the task after the update for a settled final message, else null.
 */
export async function recordFailure(db: Db, row: OutboxKeyed, error: string, settle: boolean): Promise<TaskRow | null> {
  const final = settle && row.kind === 'final';
  const { rows: found } = await sql<{ task: unknown }>`${PREPARED}
    with o as (update outbox set attempts = attempts + 1, last_error = ${error.slice(0, 2000)}
      ${settle ? sql`, delivered_at = now()` : sql``} where ${rowKey(row)} returning id)
    ${final ? sql`, t as (update tasks set final_notified = true where id = ${row.task_id} returning *)` : sql``}
    select ${final ? sql`(select row_to_json(t) from t)` : sql`null`} as task`.execute(db);
  const out = found[0]?.task;
  return out ? revive<TaskRow>(out) : null;
}

/** Rows undelivered for longer than `graceMs`, oldest first (what the notifier's sweep re-relays). */
export async function undeliveredRows(
  db: Db,
  graceMs: number,
  limit = 500,
): Promise<Array<Pick<OutboxRow, 'id' | 'task_id' | 'event_id' | 'kind'>>> {
  return db
    .selectFrom('outbox')
    .select(['id', 'task_id', 'event_id', 'kind'])
    .where('delivered_at', 'is', null)
    .where('created_at', '<', sql<Date>`now() - make_interval(secs => ${graceMs / 1000})`)
    .orderBy('created_at')
    .limit(limit)
    .execute();
}

/** A row to mark: by its id, or (a row its delivery did not read back: id '') by its causing event. */
type OutboxKeyed = Pick<OutboxRow, 'id' | 'task_id' | 'kind' | 'event_id'>;

const rowKey = (row: OutboxKeyed) => (row.id ? sql`id = ${row.id}` : sql`event_id = ${row.event_id}`);

/** The task's subtasks in plan order as jsonb, when `when` holds (else null). */
function subtasksOf(when: ReturnType<typeof sql>) {
  return sql`case when ${when} then (select json_agg(s order by s.created_at, s.key) from subtasks s
    where s.task_id = t.id) end`;
}

function delivery(
  found: (TaskRow & { outbox_row: unknown; subtasks_json: unknown }) | undefined,
): OutboxDelivery | null {
  if (!found) return null;
  const { outbox_row, subtasks_json, ...task } = found;
  const row = revive<OutboxRow>(outbox_row);
  return {
    row: { ...row, id: String(row.id), event_id: row.event_id === null ? null : String(row.event_id) },
    task,
    subtasks: rows<SubtaskRow>(subtasks_json),
  };
}
