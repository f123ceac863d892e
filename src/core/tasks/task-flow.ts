// Moves shared by the conductor and the review decisions: release dependents, complete or stop for review.
import type { Transaction } from 'kysely';
import type { NewTaskEvent } from '../events.ts';
import type { Database, SubtaskRow, TaskRow } from '../store/schema.ts';
import { now } from '../store/task-store.ts';
import { complete, STEP, toReview } from './transitions.ts';

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
    .where('status', 'in', STEP.release)
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
  const moved = task.requires_review
    ? await toReview(trx, task, { result }, result)
    : await complete(trx, task.id, result);
  if (!moved) return task;
  events.push(moved.event);
  return moved.task;
}
