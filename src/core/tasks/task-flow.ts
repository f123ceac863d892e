// Moves shared by the conductor and the review decisions: release dependents, complete or stop for review.
import type { Transaction } from 'kysely';
import type { Database, NewTaskEvent, SubtaskRow, TaskRow } from '../store/schema.ts';
import { json, now } from '../store/task-store.ts';

/** Marks PENDING subtasks whose every dependency succeeded as READY (admission enqueues them). */
export async function releaseDependents(trx: Transaction<Database>, siblings: SubtaskRow[]): Promise<SubtaskRow[]> {
  const done = new Set(siblings.filter((s) => s.status === 'SUCCEEDED').map((s) => s.key));
  const releasable = siblings.filter((s) => s.status === 'PENDING' && s.depends_on.every((d) => done.has(d)));
  if (releasable.length === 0) return [];
  return trx
    .updateTable('subtasks')
    .set({ status: 'READY', updated_at: now })
    .where(
      'id',
      'in',
      releasable.map((s) => s.id),
    )
    .where('status', '=', 'PENDING')
    .returningAll()
    .execute();
}

/** The task's result: the output of its final step, or of each final step by key. */
export function resultOf(siblings: SubtaskRow[]): unknown {
  const sinks = siblings.filter((s) => !siblings.some((o) => o.depends_on.includes(s.key)));
  return sinks.length === 1 ? sinks[0]!.output : Object.fromEntries(sinks.map((s) => [s.key, s.output]));
}

/** Every step succeeded: the task completes, or stops in REVIEW with its result when it requires approval. */
export async function finishOrReview(
  trx: Transaction<Database>,
  task: TaskRow,
  siblings: SubtaskRow[],
  events: NewTaskEvent[],
): Promise<TaskRow> {
  const result = resultOf(siblings);
  if (task.requires_review) return toReview(trx, task, events, { result }, result);
  const finished = await trx
    .updateTable('tasks')
    .set({ status: 'COMPLETED', result: json(result), progress: null, finished_at: now, updated_at: now })
    .where('id', '=', task.id)
    .where('status', 'in', ['ASSIGNED', 'IN_PROGRESS', 'REVIEW'])
    .returningAll()
    .executeTakeFirst();
  if (!finished) return task;
  events.push({ task_id: task.id, subtask_id: null, type: 'completed', actor: 'hub', data: { status: 'COMPLETED' } });
  return finished;
}

/** Stops the task in REVIEW, recording what is to be reviewed (and the result so far). */
export async function toReview(
  trx: Transaction<Database>,
  task: TaskRow,
  events: NewTaskEvent[],
  what: Record<string, unknown>,
  result?: unknown,
): Promise<TaskRow> {
  const moved = await trx
    .updateTable('tasks')
    .set({
      status: 'REVIEW',
      updated_at: now,
      started_at: task.started_at ?? now,
      ...(result === undefined ? {} : { result: json(result) }),
    })
    .where('id', '=', task.id)
    .where('status', 'in', ['ASSIGNED', 'IN_PROGRESS'])
    .returningAll()
    .executeTakeFirst();
  if (!moved) return task;
  events.push({
    task_id: task.id,
    subtask_id: null,
    type: 'review.requested',
    actor: 'hub',
    data: { status: 'REVIEW', ...what },
  });
  return moved;
}
