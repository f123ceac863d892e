// The task event catalogue: every audit event type with the shape of its data. A misspelt type or wrong data is a
// type error where the event is written; readers narrow on `type`.
import type { TaskEventRow } from './store/schema.ts';
import type { ProgressReport } from './types.ts';

/** A plan's steps as the audit trail keeps them (see plannedEventData). */
export type PlanData = {
  plannedBy?: string;
  steps: { key: string; capability: string; dependsOn: string[]; title?: string }[];
  llm?: { model: string; calls: number; tokens: number; costUsd: number };
};
/** A subtask's event names its plan key and the attempt. */
type StepData = { key: string; attempt: number };
/** A schedule's event on its parent task. */
type ScheduleData = { scheduleId: string; from?: string; to?: string; [more: string]: unknown };
/** A monitor run's event on the monitor's task. */
type MonitorData = { monitorId: string; snapshotId: string; added: unknown; removed: unknown };

/** Each task event type and its data. */
export interface TaskEventData {
  /** The request was taken in (it is stored in its first status, `accept` in transitions.ts). */
  accepted: { priority?: string };
  planned: { status: 'ASSIGNED'; summary?: string; feedback?: string } & PlanData;
  started: { status: 'IN_PROGRESS' };
  completed: { status: 'COMPLETED' };
  failed: { status: 'FAILED'; reason: string };
  cancelled: { status: 'CANCELLED' };
  rejected: { status: 'REJECTED'; reason?: string };
  /** A step or the whole task waits for approval, or the planner waits for an answer (`question`). */
  'review.requested': {
    status: 'REVIEW';
    key?: string;
    output?: unknown;
    result?: unknown;
    question?: string;
  } & Partial<PlanData>;
  approved: Record<string, never>;
  resumed: { status: 'IN_PROGRESS' };
  revised: { status: 'PLANNING'; feedback: string; question?: string };
  retried: ReplayData;
  'admin.reprocess': ReplayData;
  'admin.priority': { from: string; to: string };
  'admin.purge': { deadLetter: string };
  'subtask.started': StepData;
  'subtask.succeeded': StepData;
  'subtask.retrying': StepData & { of: number; error: string; retryInMs?: number | undefined };
  'subtask.dead': StepData & { error: string };
  /** A job that ran again after its worker stopped mid-run (BullMQ found it stalled): one more attempt. */
  'subtask.redelivered': StepData & { previousWorker: string | null };
  /** Transient (never stored): a worker's progress report. */
  progress: { key?: string } & { [K in keyof ProgressReport]: ProgressReport[K] };
  'progress.stage': { key: string; stage: string };
  no_worker: { capabilities: string[] };
  'notify.failed': { kind: string; error: string };
  /** Transient: the final message reached the conversation. */
  delivered: { parts: number };
  'schedule.created': ScheduleData & { status: 'SCHEDULED' };
  'schedule.fired': ScheduleData & { taskId: string; fireTime: string };
  'schedule.done': ScheduleData & { status: 'COMPLETED'; taskId: string };
  'schedule.paused': ScheduleData;
  'schedule.paused_by_user': ScheduleData;
  'schedule.resumed': ScheduleData;
  'schedule.deleted': ScheduleData;
  'monitor.baseline': MonitorData;
  'monitor.changed': MonitorData;
  'monitor.unchanged': MonitorData;
}

/** A replay's data: the reopened status and the subtasks that run again under their new generation. */
type ReplayData = { status: 'ASSIGNED'; subtasks: { key: string; generation: number }[] };

/** Every task event type name. */
export type TaskEventType = keyof TaskEventData;

/** An event to be stored, typed by its `type`. */
export type NewTaskEvent = {
  [K in TaskEventType]: {
    task_id: string;
    subtask_id: string | null;
    type: K;
    actor: string;
    data: TaskEventData[K];
  };
}[TaskEventType];

/** A task event as it travels after commit: a stored row, or a transient one (progress) with id null. */
export type HubEvent = {
  [K in TaskEventType]: {
    id: string | null;
    taskId: string;
    subtaskId: string | null;
    type: K;
    /** Readers that do not narrow on `type` may still look up any key. */
    data: (TaskEventData[K] & Record<string, unknown>) | null;
    actor: string;
    at: string;
  };
}[TaskEventType];

/** Converts a stored event row to the shape events travel in (rows were written through NewTaskEvent). */
export function toHubEvent(row: TaskEventRow): HubEvent {
  return {
    id: String(row.id),
    taskId: row.task_id,
    subtaskId: row.subtask_id,
    type: row.type,
    data: row.data,
    actor: row.actor,
    at: new Date(row.created_at).toISOString(),
  } as HubEvent;
}

/** Builds one typed event (the type checks `data` against the catalogue). */
export function taskEvent<K extends TaskEventType>(
  type: K,
  taskId: string,
  actor: string,
  data: TaskEventData[K],
  subtaskId: string | null = null,
): NewTaskEvent {
  return { task_id: taskId, subtask_id: subtaskId, type, actor, data } as NewTaskEvent;
}
