// The task state machine as named moves. Each move is one guarded statement
// (`update tasks set status = <to>, … where id = ? and status in (<sources>) returning *`) whose sources come from
// the lifecycle table, and each yields the audit event it causes: a caller cannot move a task and forget to say so.
// Subtask guards come from the same table (STEP), including the ones the fused statements in task-writes.ts use.
import type { Insertable, Kysely, Transaction, UpdateObject } from 'kysely';
import { taskEvent, type NewTaskEvent, type TaskEventData } from '../events.ts';
import type { Database, SubtaskRow, TaskRow, TasksTable } from '../store/schema.ts';
import { json, now } from '../store/task-store.ts';
import type { SubtaskStatus, TaskStatus } from '../types.ts';
import { subtaskSourcesFor, taskSourcesFor } from './lifecycle.ts';

type Db = Kysely<Database> | Transaction<Database>;
type TaskSet = UpdateObject<Database, 'tasks'>;

/** A move that happened: the row after it and the event to record. */
export interface Moved {
  task: TaskRow;
  event: NewTaskEvent;
}

/** The legal sources of a move to `to`, narrowed to `within`; a narrowing the table does not allow fails at load. */
function narrow<S extends string>(to: S, sources: readonly S[], within: readonly S[]): readonly S[] {
  const out = sources.filter((s) => within.includes(s));
  if (out.length !== within.length) throw new Error(`lifecycle table does not allow ${within.join('/')} -> ${to}`);
  return out;
}
const taskNarrow = (to: TaskStatus, within: TaskStatus[]) => narrow(to, taskSourcesFor(to), within);
const stepNarrow = (to: SubtaskStatus, within: SubtaskStatus[]) => narrow(to, subtaskSourcesFor(to), within);

/** Each named task move: its target and the statuses it may start from. */
export const MOVES = {
  plan: { to: 'ASSIGNED', from: taskNarrow('ASSIGNED', ['PLANNING']) },
  start: { to: 'IN_PROGRESS', from: taskNarrow('IN_PROGRESS', ['ASSIGNED']) },
  complete: { to: 'COMPLETED', from: taskSourcesFor('COMPLETED') },
  fail: { to: 'FAILED', from: taskSourcesFor('FAILED') },
  toReview: { to: 'REVIEW', from: taskSourcesFor('REVIEW') },
  resume: { to: 'IN_PROGRESS', from: taskNarrow('IN_PROGRESS', ['REVIEW']) },
  revise: { to: 'PLANNING', from: taskNarrow('PLANNING', ['REVIEW']) },
  cancel: { to: 'CANCELLED', from: taskSourcesFor('CANCELLED') },
  reject: { to: 'REJECTED', from: taskSourcesFor('REJECTED') },
  replay: { to: 'ASSIGNED', from: taskNarrow('ASSIGNED', ['FAILED']) },
} as const satisfies Record<string, { to: TaskStatus; from: readonly TaskStatus[] }>;

/** A task move's name. */
export type MoveName = keyof typeof MOVES;

/** Whether a task in `status` may make the move (for a refusal that names the status before trying). */
export function canMove(name: MoveName, status: TaskStatus): boolean {
  return (MOVES[name].from as readonly TaskStatus[]).includes(status);
}

/** Subtask guards: the statuses each subtask move starts from. */
export const STEP = {
  /** READY -> RUNNING when a worker signals the start. */
  start: stepNarrow('RUNNING', ['READY']),
  /** A stalled job's new run: RUNNING stays RUNNING with one more attempt. */
  redeliver: stepNarrow('RUNNING', ['RUNNING']),
  succeed: subtaskSourcesFor('SUCCEEDED'),
  /** A failed attempt with attempts left goes back to READY (its job is retried by BullMQ). */
  retry: stepNarrow('READY', ['READY', 'RUNNING']),
  dead: subtaskSourcesFor('DEAD'),
  /** PENDING -> READY once every dependency succeeded. */
  release: stepNarrow('READY', ['PENDING']),
  /** What stops with its task: PENDING is skipped, READY/RUNNING cancelled. */
  stop: subtaskSourcesFor('CANCELLED'),
  skip: subtaskSourcesFor('SKIPPED'),
  /** A replay's new generation: every unfinished or stopped step (a PENDING one keeps waiting, renumbered). */
  replay: [...subtaskSourcesFor('PENDING'), 'PENDING'],
} as const satisfies Record<string, readonly SubtaskStatus[]>;

/** The one guarded UPDATE every task move is. */
async function move(
  db: Db,
  taskId: string,
  name: MoveName,
  set: TaskSet,
  event: NewTaskEvent,
): Promise<Moved | undefined> {
  const { to, from } = MOVES[name];
  const task = await db
    .updateTable('tasks')
    .set({ ...set, status: to, updated_at: now })
    .where('id', '=', taskId)
    .where('status', 'in', from)
    .returningAll()
    .executeTakeFirst();
  return task && { task, event };
}

/** The first statuses a task is stored in (SUBMITTED and QUEUED are never stored). */
export type FirstStatus = 'ASSIGNED' | 'REVIEW' | 'SCHEDULED';

/** A request taken in: the row to insert in its first stored status, and the `accepted` event. */
export function accept(
  values: Insertable<TasksTable>,
  status: FirstStatus,
  data: TaskEventData['accepted'] = {},
): { values: Insertable<TasksTable>; event: NewTaskEvent } {
  return { values: { ...values, status }, event: taskEvent('accepted', values.id, values.user_id, data) };
}

/** PLANNING -> ASSIGNED with a new plan (a revision's); the old result is dropped. */
export function plan(db: Db, taskId: string, data: Omit<TaskEventData['planned'], 'status'>, set: TaskSet = {}) {
  return move(
    db,
    taskId,
    'plan',
    { ...set, result: null },
    taskEvent('planned', taskId, 'planner', { status: 'ASSIGNED', ...data }),
  );
}

/** ASSIGNED -> IN_PROGRESS when the first step starts. */
export function start(db: Db, task: TaskRow) {
  return move(
    db,
    task.id,
    'start',
    { started_at: task.started_at ?? now },
    taskEvent('started', task.id, 'hub', { status: 'IN_PROGRESS' }),
  );
}

/** -> COMPLETED with the task's result. */
export function complete(db: Db, taskId: string, result: unknown, set: TaskSet = {}) {
  return move(
    db,
    taskId,
    'complete',
    { result: json(result), progress: null, finished_at: now, ...set },
    taskEvent('completed', taskId, 'hub', { status: 'COMPLETED' }),
  );
}

/** -> FAILED with a readable reason. */
export function fail(db: Db, taskId: string, reason: string) {
  return move(
    db,
    taskId,
    'fail',
    { error: reason, finished_at: now },
    taskEvent('failed', taskId, 'hub', { status: 'FAILED', reason }),
  );
}

/** -> REVIEW, saying what waits for a decision (a step's output, or the result with `result`). */
export function toReview(
  db: Db,
  task: TaskRow,
  what: Omit<TaskEventData['review.requested'], 'status'>,
  result?: unknown,
) {
  return move(
    db,
    task.id,
    'toReview',
    { started_at: task.started_at ?? now, ...(result === undefined ? {} : { result: json(result) }) },
    taskEvent('review.requested', task.id, 'hub', { status: 'REVIEW', ...what }),
  );
}

/** REVIEW -> IN_PROGRESS: an approved step-level review lets the remaining work go on. */
export function resume(db: Db, taskId: string, actor: string) {
  return move(db, taskId, 'resume', {}, taskEvent('resumed', taskId, actor, { status: 'IN_PROGRESS' }));
}

/** REVIEW -> PLANNING with the reviewer's feedback (the answer, when the planner had asked a question). */
export function revise(db: Db, taskId: string, actor: string, feedback: string, question?: string) {
  return move(
    db,
    taskId,
    'revise',
    { feedback, question: null },
    taskEvent('revised', taskId, actor, { status: 'PLANNING', feedback, ...(question ? { question } : {}) }),
  );
}

/** Any active status -> CANCELLED. */
export function cancel(db: Db, taskId: string, actor: string, note: string, set: TaskSet = {}) {
  return move(
    db,
    taskId,
    'cancel',
    { error: note, finished_at: now, ...set },
    taskEvent('cancelled', taskId, actor, { status: 'CANCELLED' }),
  );
}

/** REVIEW -> REJECTED, with the reviewer's reason. */
export function reject(db: Db, taskId: string, actor: string, reason?: string) {
  return move(
    db,
    taskId,
    'reject',
    { error: `Rejected by ${actor}${reason ? `: ${reason}` : '.'}`, finished_at: now },
    taskEvent('rejected', taskId, actor, { status: 'REJECTED', ...(reason ? { reason } : {}) }),
  );
}

/** FAILED -> ASSIGNED: a retry or an admin reprocess reopens the task (its final message is due again). */
export function replay(
  db: Db,
  taskId: string,
  actor: string,
  type: 'retried' | 'admin.reprocess',
  subtasks: Pick<SubtaskRow, 'key' | 'generation'>[],
) {
  return move(
    db,
    taskId,
    'replay',
    { error: null, finished_at: null, final_notified: false },
    taskEvent(type, taskId, actor, {
      status: 'ASSIGNED',
      subtasks: subtasks.map((s) => ({ key: s.key, generation: s.generation })),
    }),
  );
}

/**
 * The completion inside a step's fused last statement (endStep in task-writes.ts): the same guard and events as
 * `complete` (and `start`, for an ASSIGNED task whose only start is recorded in the same step), for a caller that
 * holds the row lock and so knows the guard holds. The fused statement sets started_at when it is missing.
 */
export function completeInStep(task: TaskRow, result: unknown, startedHere: boolean) {
  return {
    complete: { taskId: task.id, result, from: [...MOVES.complete.from] },
    started:
      startedHere && canMove('start', task.status)
        ? taskEvent('started', task.id, 'hub', { status: 'IN_PROGRESS' })
        : undefined,
    completed: taskEvent('completed', task.id, 'hub', { status: 'COMPLETED' }),
  };
}

/** Stops a task's unfinished subtasks (returned): READY/RUNNING ones are cancelled, PENDING ones become `pending`. */
export function stopSteps(db: Db, taskId: string, pending: 'SKIPPED' | 'CANCELLED'): Promise<SubtaskRow[]> {
  return db
    .updateTable('subtasks')
    .set((eb) => ({
      status: eb
        .case()
        .when('status', 'in', STEP.skip)
        .then(eb.val<SubtaskStatus>(pending))
        .else(eb.val<SubtaskStatus>('CANCELLED'))
        .end(),
      finished_at: now,
      updated_at: now,
    }))
    .where('task_id', '=', taskId)
    .where('status', 'in', STEP.stop)
    .returningAll()
    .execute();
}
