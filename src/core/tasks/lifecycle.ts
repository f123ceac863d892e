// The one module that owns which status changes are allowed, for tasks and subtasks.
import { ConflictError } from '../errors.ts';
import type { SubtaskStatus, TaskStatus } from '../types.ts';

const ACTIVE_TASK: TaskStatus[] = ['SUBMITTED', 'SCHEDULED', 'QUEUED', 'PLANNING', 'ASSIGNED', 'IN_PROGRESS', 'REVIEW'];

/** Allowed task moves. A synchronous planner may go QUEUED -> ASSIGNED in one step. */
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
  READY: ['RUNNING', 'SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED'],
  RUNNING: ['READY', 'SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED'],
  SUCCEEDED: [],
  FAILED: ['READY', 'PENDING'],
  DEAD: ['READY', 'PENDING'],
  CANCELLED: ['READY', 'PENDING'],
  SKIPPED: ['READY', 'PENDING'],
};

/** True when a task in this status can still change without a replay. */
export function isActiveTask(status: TaskStatus): boolean {
  return ACTIVE_TASK.includes(status);
}

/** True when the task has finished, one way or another. */
export function isTerminalTask(status: TaskStatus): boolean {
  return !isActiveTask(status);
}

/** True when a subtask has finished and will not run again without a replay. */
export function isTerminalSubtask(status: SubtaskStatus): boolean {
  return !['PENDING', 'READY', 'RUNNING'].includes(status);
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
