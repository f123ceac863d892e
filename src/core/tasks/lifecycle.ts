// The table of allowed status changes, for tasks and subtasks. transitions.ts turns it into guarded statements.
import { ConflictError } from '../errors.ts';
import type { SubtaskStatus, TaskStatus } from '../types.ts';

/**
 * Allowed task moves. SUBMITTED and QUEUED are never stored: a task is inserted in its first stored status
 * (ASSIGNED with a plan, REVIEW with a planner's question, SCHEDULED for a schedule), they stay here to describe
 * the request's way in. A synchronous planner goes QUEUED -> ASSIGNED in one step.
 */
export const TASK_TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  SUBMITTED: ['SCHEDULED', 'QUEUED', 'FAILED', 'CANCELLED'],
  // A schedule's task waits here while the schedule lives (each run is a child task); it completes when a one-shot
  // schedule has run, and is cancelled with the schedule.
  SCHEDULED: ['QUEUED', 'COMPLETED', 'FAILED', 'CANCELLED'],
  QUEUED: ['PLANNING', 'ASSIGNED', 'FAILED', 'CANCELLED'],
  PLANNING: ['ASSIGNED', 'FAILED', 'CANCELLED'],
  ASSIGNED: ['IN_PROGRESS', 'REVIEW', 'COMPLETED', 'FAILED', 'CANCELLED'],
  IN_PROGRESS: ['ASSIGNED', 'REVIEW', 'COMPLETED', 'FAILED', 'CANCELLED'],
  // Approving a step-level review resumes the remaining work; `revise` sends the task back to planning.
  REVIEW: ['IN_PROGRESS', 'COMPLETED', 'REJECTED', 'PLANNING', 'FAILED', 'CANCELLED'],
  // A failed task can be replayed from the point of failure (retry / admin reprocess).
  FAILED: ['ASSIGNED'],
  COMPLETED: [],
  CANCELLED: [],
  REJECTED: [],
};

/** Allowed subtask moves. DEAD/FAILED/SKIPPED/CANCELLED can be replayed as a new generation. */
export const SUBTASK_TRANSITIONS: Record<SubtaskStatus, readonly SubtaskStatus[]> = {
  PENDING: ['READY', 'SKIPPED', 'CANCELLED'],
  // READY -> READY: an attempt failed before its start was signalled; it waits for its next attempt.
  READY: ['READY', 'RUNNING', 'SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED'],
  // RUNNING -> RUNNING: the job runs again after its worker stopped mid-run (redelivered), one more attempt.
  RUNNING: ['READY', 'RUNNING', 'SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED'],
  SUCCEEDED: [],
  FAILED: ['READY', 'PENDING'],
  DEAD: ['READY', 'PENDING'],
  CANCELLED: ['READY', 'PENDING'],
  SKIPPED: ['READY', 'PENDING'],
};

/** The finished task statuses: nothing but a replay (FAILED only) moves them on. Written out here only. */
export const TERMINAL_TASK: readonly TaskStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'REJECTED'];

/** Task statuses whose subtasks are on the queues (the reconciler re-enqueues only these). */
export const WORKING_TASK: readonly TaskStatus[] = ['ASSIGNED', 'IN_PROGRESS'];

/** Subtask statuses that may still run: their job is queued or running. */
export const LIVE_SUBTASK: readonly SubtaskStatus[] = ['READY', 'RUNNING'];

/** Subtask statuses that have not finished (waiting for dependencies, queued or running). */
export const UNFINISHED_SUBTASK: readonly SubtaskStatus[] = ['PENDING', ...LIVE_SUBTASK];

/** True when a task in this status can still change without a replay. */
export function isActiveTask(status: TaskStatus): boolean {
  return !TERMINAL_TASK.includes(status);
}

/** True when the task has finished, one way or another. */
export function isTerminalTask(status: TaskStatus): boolean {
  return !isActiveTask(status);
}

/** True when a subtask has finished and will not run again without a replay. */
export function isTerminalSubtask(status: SubtaskStatus): boolean {
  return !UNFINISHED_SUBTASK.includes(status);
}

/** Whether a task may move from one status to another. */
export function canMoveTask(from: TaskStatus, to: TaskStatus): boolean {
  return TASK_TRANSITIONS[from].includes(to);
}

/** Whether a subtask may move from one status to another. */
export function canMoveSubtask(from: SubtaskStatus, to: SubtaskStatus): boolean {
  return SUBTASK_TRANSITIONS[from].includes(to);
}

/** The statuses a task may be in for a move to `to` to be legal (used in guarded UPDATEs). */
export function taskSourcesFor(to: TaskStatus): TaskStatus[] {
  return (Object.keys(TASK_TRANSITIONS) as TaskStatus[]).filter((from) => TASK_TRANSITIONS[from].includes(to));
}

/** The statuses a subtask may be in for a move to `to` to be legal. */
export function subtaskSourcesFor(to: SubtaskStatus): SubtaskStatus[] {
  return (Object.keys(SUBTASK_TRANSITIONS) as SubtaskStatus[]).filter((from) => SUBTASK_TRANSITIONS[from].includes(to));
}

/** Throws a ConflictError naming both states when a task move is illegal. */
export function assertTaskMove(from: TaskStatus, to: TaskStatus): void {
  if (!canMoveTask(from, to)) throw new ConflictError(`A task that is ${from} cannot become ${to}.`);
}
