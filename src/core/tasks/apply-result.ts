// How worker results change Postgres: a batch of results in one transaction (task rows, then admission locks; each
// result's own moves per outcome — a step succeeded, will be retried, or is dead; then one statement for every
// completion, admission and event of the batch), and what settle acts on per task. A duplicate or stale result's
// guard matches nothing: it changes nothing and says so.
import { sql, type Transaction, type UpdateObject } from 'kysely';
import { insertArtifacts } from '../artifacts/artifact-store.ts';
import { splitOutputFiles } from '../artifacts/artifact-transport.ts';
import type { Config } from '../config.ts';
import { NotFoundError } from '../errors.ts';
import { taskEvent, type HubEvent, type NewTaskEvent } from '../events.ts';
import { PREPARED } from '../store/prepared.ts';
import type { Database, SubtaskRow, TaskRow } from '../store/schema.ts';
import { json, now } from '../store/task-store.ts';
import {
  endStep,
  lockTasksAndAdmission,
  succeedSteps,
  type StepSuccess,
  type SucceededStep,
} from '../store/task-writes.ts';
import { recordLlm, splitLlmOutput } from '../traces/llm-accounting.ts';
import type { JobResult, TaskStatus } from '../types.ts';
import { WORKING_TASK } from './lifecycle.ts';
import type { Outcome } from './settle.ts';
import { finishOrReview, releaseDependents, resultOf } from './task-flow.ts';
import { completeInStep, fail, start, STEP, stopSteps, toReview } from './transitions.ts';

type Trx = Transaction<Database>;
type Succeeded = Extract<JobResult, { kind: 'succeeded' }>;
type Failed = Extract<JobResult, { kind: 'failed' }>;

/**
 * What one result did inside the batch's transaction, before the batch's last statement: the task as it stands, the
 * events to record, the completion to make (the row lock makes its guard certain) and whether its owner's waiting
 * work is admitted.
 */
export interface StepDraft {
  task: TaskRow;
  events: NewTaskEvent[];
  complete?: { taskId: string; result: unknown; from: readonly TaskStatus[] } | undefined;
  admit: boolean;
  withdraw?: SubtaskRow[] | undefined;
  siblings?: SubtaskRow[] | undefined;
}

/**
 * Applies results in the caller's transaction: locks their tasks and owners, applies each result in order (a later
 * result of the same task sees the earlier one's writes), then completes, admits and records events for all of
 * them in one statement. Returns, per result, whether it changed anything, and one outcome per touched task (plus
 * one for work admitted for tasks outside the batch). A result whose task does not exist throws.
 */
export async function applyResults(
  trx: Trx,
  config: Config,
  results: JobResult[],
): Promise<{ applied: boolean[]; outcomes: Outcome[] }> {
  const tasks = await lockTasksAndAdmission(
    trx,
    results.map((r) => r.taskId),
  );
  for (const r of results) if (!tasks.has(r.taskId)) throw new NotFoundError(`Task ${r.taskId} does not exist.`);
  const { stored, grouped } = await storeSuccesses(trx, config, results, tasks);
  const drafts: StepDraft[] = [];
  const applied: (boolean | undefined)[] = [];
  for (const [i, result] of results.entries()) {
    if (applied[i] !== undefined) continue; // applied with its task's other results
    const task = tasks.get(result.taskId)!;
    const group = grouped.get(task.id);
    let draft: StepDraft | null;
    if (group) {
      draft = await applyGroup(trx, config, task, group, stored);
      for (const g of group) applied[g.index] = stored.get(g.index)!.settled !== null;
    } else {
      draft =
        result.kind === 'succeeded'
          ? await applySucceeded(trx, config, task, result, stored.get(i))
          : result.final
            ? await applyDead(trx, task, result)
            : await applyRetrying(trx, task, result);
      applied[i] = draft !== null;
    }
    if (!draft) continue;
    tasks.set(task.id, draft.task);
    drafts.push(draft);
  }
  const end = await endStep(trx, {
    complete: drafts.flatMap((d) => (d.complete ? [d.complete] : [])),
    admit: { userIds: drafts.filter((d) => d.admit).map((d) => d.task.user_id), cap: config.MAX_INFLIGHT_PER_USER },
    events: drafts.flatMap((d) => d.events),
  });
  return { applied: applied.map(Boolean), outcomes: outcomesByTask(drafts, end) };
}

/** A success's output split from the usage and files that travel with it, and its guarded update. */
interface PreparedSuccess {
  step: StepSuccess;
  output: unknown;
  llm: ReturnType<typeof splitLlmOutput>['llm'];
  files: ReturnType<typeof splitOutputFiles>['files'];
}

function prepareSuccess(config: Config, task: Pick<TaskRow, 'id'>, result: Succeeded): PreparedSuccess {
  // Usage and traces travel under a reserved key, files as bytes: both are stored apart from the output.
  const { output: reported, llm } = splitLlmOutput(result.output);
  const { output, files } = splitOutputFiles(reported, config.MAX_ARTIFACT_BYTES);
  const step: StepSuccess = {
    taskId: task.id,
    subtaskId: result.subtaskId,
    generation: result.generation,
    output: json(output),
    attempt: result.attempt,
    workerId: result.workerId,
    startedAt: result.startedAt ? new Date(result.startedAt) : null,
  };
  return { step, output, llm, files };
}

/** A stored success, prepared: its update already made (null: its guard matched nothing). */
type StoredSuccess = PreparedSuccess & { settled: SucceededStep | null };

/**
 * Stores the batch's successes in one statement where that gives what applying them one by one would: a task with
 * only that one result in the batch, and a task whose several results all succeeded while it runs without review
 * (`grouped`: they are decided together by applyGroup). A task with a failure among its results, or review on the
 * task or on one of the steps, applies its results one by one, so each sees the one before.
 */
async function storeSuccesses(
  trx: Trx,
  config: Config,
  results: JobResult[],
  tasks: Map<string, TaskRow>,
): Promise<{ stored: Map<number, StoredSuccess>; grouped: Map<string, Indexed[]> }> {
  const byTask = new Map<string, Indexed<JobResult>[]>();
  for (const [index, result] of results.entries())
    byTask.set(result.taskId, [...(byTask.get(result.taskId) ?? []), { index, result }]);
  const several = [...byTask].filter(([id, rs]) => {
    const task = tasks.get(id)!;
    return (
      rs.length > 1 &&
      rs.every((r) => r.result.kind === 'succeeded') &&
      !task.requires_review &&
      WORKING_TASK.includes(task.status)
    );
  }) as [string, Indexed[]][];
  const reviewed = several.length
    ? await stepsWithReview(
        trx,
        several.flatMap(([, rs]) => rs.map((r) => r.result.subtaskId)),
      )
    : new Set<string>();
  const grouped = new Map(several.filter(([, rs]) => !rs.some((r) => reviewed.has(r.result.subtaskId))));
  const batched = [...byTask.values()].flatMap((rs) =>
    rs.length === 1 || grouped.has(rs[0]!.result.taskId)
      ? (rs.filter((r) => r.result.kind === 'succeeded') as Indexed[])
      : [],
  );
  const prepared = batched.map(({ result }) => prepareSuccess(config, { id: result.taskId }, result));
  const settled = await succeedSteps(
    trx,
    prepared.map((p) => p.step),
    STEP.succeed,
  );
  return { stored: new Map(batched.map((r, i) => [r.index, { ...prepared[i]!, settled: settled[i]! }])), grouped };
}

/** A result and its place in the batch. */
interface Indexed<R extends JobResult = Succeeded> {
  index: number;
  result: R;
}

/** Which of these steps stop for review when they succeed. */
async function stepsWithReview(trx: Trx, subtaskIds: string[]): Promise<Set<string>> {
  const { rows: found } = await sql<{ id: string }>`${PREPARED}
    select id from subtasks where id = any(${subtaskIds}::text[]) and requires_review`.execute(trx);
  return new Set(found.map((r) => r.id));
}

/**
 * Several successes of one task (stored together, none with review): each records its events in order, then the
 * task is decided once, from all its steps after them — complete it when every step succeeded, else release what
 * they unblocked — which is what applying them one after another would decide. Null when none changed anything.
 */
async function applyGroup(
  trx: Trx,
  config: Config,
  task: TaskRow,
  group: Indexed[],
  stored: Map<number, StoredSuccess>,
): Promise<StepDraft | null> {
  const events: NewTaskEvent[] = [];
  let siblings: SubtaskRow[] | undefined;
  let startedHere = false;
  for (const { index, result } of group) {
    const s = stored.get(index)!;
    if (!s.settled) continue;
    siblings = s.settled.siblings;
    const sub = await recordSuccessExtras(trx, config, task, s);
    const startHere = result.startSignalled === false;
    const step = { key: sub.key, attempt: result.attempt };
    if (startHere) events.push(taskEvent('subtask.started', task.id, result.workerId, step, sub.id));
    events.push(taskEvent('subtask.succeeded', task.id, result.workerId, step, sub.id));
    startedHere ||= startHere;
  }
  if (!siblings) return null;
  if (siblings.every((s) => s.status === 'SUCCEEDED')) {
    const fused = completeInStep(task, resultOf(siblings), startedHere);
    if (fused.started) events.splice(1, 0, fused.started);
    events.push(fused.completed);
    return { task, events, complete: fused.complete, admit: true, siblings };
  }
  let current = startedHere ? await markInProgress(trx, task, events, 1) : task;
  await releaseDependents(trx, siblings);
  current = await markInProgress(trx, current, events);
  return { task: current, events, admit: true, siblings };
}

/** A stored success's usage and files, stored apart from its output; returns its subtask. */
async function recordSuccessExtras(trx: Trx, config: Config, task: TaskRow, s: StoredSuccess): Promise<SubtaskRow> {
  const { sub } = s.settled!;
  if (s.llm)
    await recordLlm(trx, { taskId: task.id, subtaskId: sub.id, userId: task.user_id, purpose: sub.capability }, s.llm);
  await insertArtifacts(trx, config, task.id, s.files, sub.id);
  return sub;
}

/** One outcome per task of the batch (its last row, its events in order), and one for admitted work of other tasks. */
function outcomesByTask(
  drafts: StepDraft[],
  end: { tasks: TaskRow[]; admitted: SubtaskRow[]; events: HubEvent[] },
): Outcome[] {
  const byTask = new Map<string, Outcome>();
  for (const d of drafts) {
    const o = byTask.get(d.task.id) ?? { withdraw: [] };
    byTask.set(d.task.id, {
      task: d.task,
      withdraw: [...o.withdraw!, ...(d.withdraw ?? [])],
      siblings: d.siblings ?? o.siblings,
    });
  }
  for (const t of end.tasks) byTask.get(t.id)!.task = t;
  for (const [id, o] of byTask) {
    o.events = end.events.filter((e) => e.taskId === id);
    o.admitted = end.admitted.filter((s) => s.task_id === id);
  }
  const others = end.admitted.filter((s) => !byTask.has(s.task_id));
  return [...byTask.values(), ...(others.length ? [{ admitted: others }] : [])];
}

/** A finished attempt counts once: one more than the runs recorded (a redelivered run counted one), at least BullMQ's. */
const countAttempt = (attempt: number) => sql<number>`greatest(attempts + 1, ${attempt})`;

/**
 * Stores a step's output (unless the batch already did: `stored`); releases dependents, stops for review, or
 * completes the task (fused when it can).
 */
export async function applySucceeded(
  trx: Trx,
  config: Config,
  task: TaskRow,
  result: Succeeded,
  stored?: StoredSuccess,
): Promise<StepDraft | null> {
  const prepared = stored ?? prepareSuccess(config, task, result);
  const settled = stored ? stored.settled : (await succeedSteps(trx, [prepared.step], STEP.succeed))[0]!;
  if (!settled) return null;
  const { siblings } = settled;
  const { output } = prepared;
  const sub = await recordSuccessExtras(trx, config, task, { ...prepared, settled });
  const step = { key: sub.key, attempt: result.attempt };
  // A job that finished before its start was signalled: its start is recorded here, in the same order.
  const startHere = result.startSignalled === false;
  const events: NewTaskEvent[] = startHere
    ? [taskEvent('subtask.started', task.id, result.workerId, step, sub.id)]
    : [];
  events.push(taskEvent('subtask.succeeded', task.id, result.workerId, step, sub.id));
  const allDone = siblings.every((s) => s.status === 'SUCCEEDED');
  if (WORKING_TASK.includes(task.status) && !task.requires_review && allDone) {
    // The last step of a task without review: complete it, admit and record in one statement. The row lock makes
    // the completion's guard certain, so its events are known beforehand.
    const fused = completeInStep(task, resultOf(siblings), startHere);
    if (fused.started) events.splice(1, 0, fused.started);
    events.push(fused.completed);
    return { task, events, complete: fused.complete, admit: true, siblings };
  }
  let current = startHere ? await markInProgress(trx, task, events, 1) : task;
  if (current.status === 'REVIEW') {
    // Waiting for a decision: keep the output; approve releases what depends on it.
  } else if (allDone) {
    current = await finishOrReview(trx, current, siblings, events);
  } else if (sub.requires_review) {
    const moved = await toReview(trx, current, { key: sub.key, output });
    if (moved) events.push(moved.event);
    current = moved?.task ?? current;
  } else {
    await releaseDependents(trx, siblings);
    current = await markInProgress(trx, current, events);
  }
  return { task: current, events, admit: true, siblings };
}

/** A failed attempt with attempts left: back to READY (BullMQ retries the job after its backoff). */
export async function applyRetrying(trx: Trx, task: TaskRow, result: Failed): Promise<StepDraft | null> {
  const sub = await stepUpdate(trx, result, STEP.retry, {
    status: 'READY',
    attempts: countAttempt(result.attempt),
    error: result.error,
    updated_at: now,
  });
  if (!sub) return null;
  const data = { key: sub.key, attempt: result.attempt, of: sub.max_attempts, error: result.error };
  const event = taskEvent(
    'subtask.retrying',
    task.id,
    result.workerId,
    { ...data, retryInMs: result.retryInMs },
    sub.id,
  );
  return { task, events: [event], admit: false };
}

/** The last attempt failed: dead-letter the step, stop what is left of the task and fail it with the reason. */
export async function applyDead(trx: Trx, task: TaskRow, result: Failed): Promise<StepDraft | null> {
  const sub = await stepUpdate(trx, result, STEP.dead, {
    status: 'DEAD',
    attempts: countAttempt(result.attempt),
    error: result.error,
    worker_id: result.workerId,
    finished_at: now,
    updated_at: now,
  });
  if (!sub) return null;
  await trx
    .insertInto('dead_letters')
    .values({
      subtask_id: sub.id,
      task_id: task.id,
      capability: sub.capability,
      generation: sub.generation,
      attempts: result.attempt,
      error: result.error,
      resolved_at: null,
      resolved_by: null,
      resolution: null,
    })
    .execute();
  const attempts = `${result.attempt} attempt${result.attempt === 1 ? '' : 's'}`;
  const reason = `Step "${sub.key}" (${sub.capability}) failed after ${attempts}: ${result.error}`;
  const events: NewTaskEvent[] = [
    taskEvent(
      'subtask.dead',
      task.id,
      result.workerId,
      { key: sub.key, attempt: result.attempt, error: result.error },
      sub.id,
    ),
  ];
  const stopped = await stopSteps(trx, task.id, 'SKIPPED');
  const failed = await fail(trx, task.id, reason);
  if (failed) events.push(failed.event);
  return {
    task: failed?.task ?? task,
    events,
    admit: true,
    withdraw: stopped.filter((s) => s.status === 'CANCELLED'),
  };
}

/** ASSIGNED -> IN_PROGRESS with its `started` event, inserted at `at` (default: after the events so far). */
export async function markInProgress(trx: Trx, task: TaskRow, events: NewTaskEvent[], at = events.length) {
  if (task.status !== 'ASSIGNED') return task;
  const moved = await start(trx, task);
  if (!moved) return task;
  events.splice(at, 0, moved.event);
  return moved.task;
}

/** The guarded update of the result's subtask (this generation, in one of `from`). */
function stepUpdate(
  trx: Trx,
  result: JobResult,
  from: readonly SubtaskRow['status'][],
  set: UpdateObject<Database, 'subtasks'>,
): Promise<SubtaskRow | undefined> {
  return trx
    .updateTable('subtasks')
    .set(set)
    .where('id', '=', result.subtaskId)
    .where('generation', '=', result.generation)
    .where('status', 'in', from)
    .returningAll()
    .executeTakeFirst();
}
