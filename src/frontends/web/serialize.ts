// The HTTP API's JSON shapes: camelCase views of task, subtask, event and dead-letter rows.
import type { HubEvent } from '../../core/hub-context.ts';
import type { FailedEntry } from '../../core/admin-service.ts';
import type { TaskDetail } from '../../core/task-service.ts';
import type { SubtaskRow, TaskEventRow, TaskRow } from '../../core/store/schema.ts';
import type { DerivedProgress } from '../../core/types.ts';

const iso = (d: Date | string | null | undefined): string | null => (d == null ? null : new Date(d).toISOString());

/** A task as the API shows it; `subtasks` and `events` only in detail views. */
export interface TaskJson {
  id: string;
  shortId: string;
  status: string;
  text: string;
  userId: string;
  priority: string;
  notifyPolicy: string;
  progress: DerivedProgress | null;
  result: unknown;
  error: string | null;
  parentTaskId: string | null;
  createdAt: string | null;
  updatedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** A SCHEDULED task's next run (null while its schedule is paused). */
  nextRunAt?: string | null;
  subtasks?: SubtaskJson[];
  events?: EventJson[];
  /** Which planner made the plan, and a clarifying question awaiting an answer. */
  plannedBy: string | null;
  question: string | null;
  /** Running LLM totals of the task. */
  llm: { calls: number; tokens: number; costUsd: number; unpriced: boolean };
  /** Detail views: LLM usage of the task and of its owner today, with token breakdowns. */
  usage?: TaskDetail['usage'];
}

/** A subtask as the API shows it. */
export interface SubtaskJson {
  id: string;
  key: string;
  capability: string;
  status: string;
  dependsOn: string[];
  attempts: number;
  maxAttempts: number;
  generation: number;
  output: unknown;
  error: string | null;
  progress: unknown;
  workerId: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** A task event as the API (and the SSE stream) shows it. */
export interface EventJson {
  id: string | null;
  type: string;
  subtaskId: string | null;
  actor: string;
  data: Record<string, unknown> | null;
  at: string | null;
}

/** A task row without subtasks or events (lists, mutation responses). */
export function serializeTask(task: TaskRow & { next_run_at?: Date | null }): TaskJson {
  return {
    id: task.id,
    shortId: task.id.slice(0, 8),
    status: task.status,
    text: task.text,
    userId: task.user_id,
    priority: task.priority,
    notifyPolicy: task.notify_policy,
    progress: (task.progress as DerivedProgress | null) ?? null,
    result: task.result ?? null,
    error: task.error,
    parentTaskId: task.parent_task_id,
    createdAt: iso(task.created_at),
    updatedAt: iso(task.updated_at),
    startedAt: iso(task.started_at),
    finishedAt: iso(task.finished_at),
    ...(task.next_run_at !== undefined ? { nextRunAt: iso(task.next_run_at) } : {}),
    plannedBy: task.planned_by ?? null,
    question: task.question ?? null,
    llm: {
      calls: task.llm_calls ?? 0,
      tokens: task.llm_tokens ?? 0,
      costUsd: task.llm_cost_usd ?? 0,
      unpriced: task.llm_unpriced ?? false,
    },
  };
}

/** A task with its subtasks, live derived progress and recent events. */
export function serializeTaskDetail(detail: TaskDetail): TaskJson {
  return {
    ...serializeTask(detail.task),
    progress: detail.progress,
    subtasks: detail.subtasks.map(serializeSubtask),
    events: detail.events.map(serializeEvent),
    ...(detail.usage ? { usage: detail.usage } : {}),
  };
}

/** A subtask row. */
export function serializeSubtask(s: SubtaskRow): SubtaskJson {
  return {
    id: s.id,
    key: s.key,
    capability: s.capability,
    status: s.status,
    dependsOn: s.depends_on,
    attempts: s.attempts,
    maxAttempts: s.max_attempts,
    generation: s.generation,
    output: s.output ?? null,
    error: s.error,
    progress: s.progress ?? null,
    workerId: s.worker_id,
    startedAt: iso(s.started_at),
    finishedAt: iso(s.finished_at),
  };
}

/** A stored event row. */
export function serializeEvent(e: TaskEventRow): EventJson {
  return {
    id: String(e.id),
    type: e.type,
    subtaskId: e.subtask_id,
    actor: e.actor,
    data: (e.data as Record<string, unknown> | null) ?? null,
    at: iso(e.created_at),
  };
}

/** An event as it travels on the events channel (stored, or transient with id null). */
export function serializeHubEvent(e: HubEvent): EventJson {
  return { id: e.id, type: e.type, subtaskId: e.subtaskId, actor: e.actor, data: e.data ?? null, at: e.at };
}

/** An open dead letter with the task it belongs to. */
export function serializeFailed(f: FailedEntry) {
  return {
    id: String(f.id),
    taskId: f.task_id,
    taskShortId: f.task_id.slice(0, 8),
    subtaskId: f.subtask_id,
    subtaskKey: f.subtask_key,
    capability: f.capability,
    generation: f.generation,
    attempts: f.attempts,
    error: f.error,
    taskText: f.task_text,
    taskUser: f.task_user,
    createdAt: iso(f.created_at),
  };
}
