// What happens after a commit, for every path that changed tasks (submit, cancel, review decisions, replay,
// conductor results and signals, reconciler, schedules, admin): one function, one order.
import { context, type Context } from '@opentelemetry/api';
import type { HubEvent } from '../events.ts';
import type { HubContext } from '../hub-context.ts';
import type { SubtaskRow, TaskRow } from '../store/schema.ts';
import { enqueueAdmitted } from './admission.ts';
import { withdrawSubtasks } from './dispatcher.ts';
import { isTerminalTask } from './lifecycle.ts';

/** What a committed transaction changed, for settle to act on. */
export interface Outcome {
  /** The task the events belong to, as committed (absent when only admission ran). */
  task?: TaskRow | undefined;
  /** Committed (and transient) events of `task`. */
  events?: HubEvent[] | undefined;
  /** Subtasks that stopped: their waiting jobs are removed and running ones aborted. */
  withdraw?: SubtaskRow[] | undefined;
  /** Subtasks admission let onto the queues (of this task or of the owner's other tasks). */
  admitted?: SubtaskRow[] | undefined;
  /** All of `task`'s subtasks when the caller has them (saves a read when enqueueing, for dependency outputs). */
  siblings?: SubtaskRow[] | undefined;
  /** The trace context of the work that caused it (a batch settles many tasks; each keeps its own trace). */
  trace?: Context | undefined;
}

/**
 * Acts on a committed outcome, in this order:
 * 1. withdraw what stopped — the sooner workers stop, the less they waste; nothing below depends on it;
 * 2. announce the events (sinks: notifier, SSE, metrics; then the events channel) — before anything is enqueued,
 *    so listeners see the event that caused work before any event the work causes: a submission's `accepted`
 *    (and its acknowledgement) reaches them before a worker can report the first step started, a replay's
 *    `retried` before the new attempt starts, a step's `subtask.succeeded` before its dependents start;
 * 3. enqueue what admission let in;
 * 4. when tasks ended, tell workers (they drop the tasks' sessions), after their last jobs were withdrawn; the
 *    notice gathers the tasks that end within a fifth of a second (HubContext.announceEnded).
 * Several outcomes (a batch of results, one per task) run steps 1-3 side by side.
 */
export async function settle(ctx: HubContext, outcomes: Outcome | Outcome[]): Promise<void> {
  const all = Array.isArray(outcomes) ? outcomes : [outcomes];
  await Promise.all(all.map((o) => (o.trace ? context.with(o.trace, () => act(ctx, o)) : act(ctx, o))));
  const ended = all.flatMap(({ task, events }) => (task && endedHere(task, events) ? [task.id] : []));
  if (ended.length) ctx.announceEnded(ended);
}

/** Steps 1-3 for one outcome. */
async function act(ctx: HubContext, o: Outcome): Promise<void> {
  const { task } = o;
  if (task && o.withdraw?.length) await withdrawSubtasks(ctx, task.id, o.withdraw);
  if (task && o.events?.length) await ctx.emit(o.events, task, o.siblings);
  if (o.admitted?.length)
    await enqueueAdmitted(ctx, o.admitted, task && o.siblings ? [{ task, siblings: o.siblings }] : []);
}

/** Whether this outcome finished the task: it is final now and one of the events announces that status. */
function endedHere(task: TaskRow, events: HubEvent[] = []): boolean {
  return isTerminalTask(task.status) && events.some((e) => e.data?.status === task.status);
}
