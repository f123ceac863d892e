// The HTTP API's JSON shapes: camelCase views of task, subtask, event and dead-letter rows.
import type { HubEvent } from '../../core/hub-context.ts';
import type { FailedEntry } from '../../core/tasks/admin-service.ts';
import type { TaskDetail } from '../../core/tasks/task-service.ts';
import type { SubtaskRow, TaskEventRow, TaskRow } from '../../core/store/schema.ts';
import { z } from 'zod';
import { TASK_STATUSES, type DerivedProgress } from '../../core/types.ts';

const iso = (d: Date | string | null | undefined): string | null => (d == null ? null : new Date(d).toISOString());

/** Progress as the API shows it: the hub's derived numbers (percent, ETA, rate) on top of the worker's report. */
export const progressJson = z.object({
  percent: z.number(),
  elapsedMs: z.number(),
  etaMs: z.number().optional(),
  itemsPerSecond: z.number().optional(),
  subtasksDone: z.number(),
  subtasksTotal: z.number(),
  stage: z.string().optional(),
  done: z.number().optional(),
  total: z.number().optional(),
  message: z.string().optional(),
});

/** A subtask (one step of the plan) as the API shows it. */
export const subtaskJson = z
  .object({
    id: z.string(),
    key: z.string(),
    capability: z.string(),
    status: z.string(),
    dependsOn: z.array(z.string()),
    attempts: z.number(),
    maxAttempts: z.number(),
    generation: z.number(),
    output: z.unknown(),
    error: z.string().nullable(),
    progress: z.unknown(),
    workerId: z.string().nullable(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .loose();
export type SubtaskJson = z.infer<typeof subtaskJson>;

/** A task event as the API, the SSE stream and the WebSocket show it (`id` null for transient events). */
export const eventJson = z
  .object({
    id: z.string().nullable(),
    type: z.string(),
    subtaskId: z.string().nullable(),
    actor: z.string(),
    data: z.record(z.string(), z.unknown()).nullable(),
    at: z.string().nullable(),
  })
  .loose();
export type EventJson = z.infer<typeof eventJson>;

/** A task as the API shows it; `subtasks` and `events` only in detail views. Other fields may be added (loose). */
export const taskJson = z
  .object({
    id: z.string(),
    shortId: z.string(),
    status: z.enum(TASK_STATUSES),
    text: z.string(),
    userId: z.string(),
    platform: z.string().describe('The platform the request came from (web, telegram, …)'),
    priority: z.string(),
    notifyPolicy: z.string(),
    progress: progressJson.nullable(),
    result: z.unknown(),
    error: z.string().nullable(),
    parentTaskId: z.string().nullable(),
    createdAt: z.string().nullable(),
    updatedAt: z.string().nullable(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    /** A SCHEDULED task's next run (null while its schedule is paused). */
    nextRunAt: z.string().nullable().optional(),
    plannedBy: z.string().nullable().describe('Which planner made the plan (llm, rules, or a fallback note)'),
    question: z.string().nullable().describe("A clarifying question awaiting the owner's answer"),
    llm: z
      .object({ calls: z.number(), tokens: z.number(), costUsd: z.number(), unpriced: z.boolean() })
      .describe('Running LLM totals of the task'),
    /** Detail views: LLM usage of the task and of its owner today. */
    usage: z.unknown().optional(),
    subtasks: z.array(subtaskJson).optional(),
    events: z.array(eventJson).optional(),
  })
  .loose();
export type TaskJson = z.infer<typeof taskJson>;

/** A schedule as the API shows it (the shape of serializeSchedule). */
export const scheduleJson = z.object({
  id: z.string(),
  shortId: z.string(),
  userId: z.string(),
  status: z.string(),
  kind: z.string(),
  when: z.string(),
  description: z.string(),
  text: z.string(),
  timezone: z.string(),
  cron: z.string().nullable(),
  everyMs: z.number().nullable(),
  runAt: z.string().nullable(),
  nextRunAt: z.string().nullable(),
  lastRunAt: z.string().nullable(),
  consecutiveFailures: z.number(),
  pausedReason: z.string().nullable(),
  parentTaskId: z.string().nullable(),
  createdAt: z.string().nullable(),
  updatedAt: z.string().nullable(),
});
/** A schedule as the API shows it: the one type the CLI and the dashboard use. */
export type ScheduleJson = z.infer<typeof scheduleJson>;

/** An open dead letter with the task it belongs to. */
export const failedJson = z
  .object({
    id: z.string(),
    taskId: z.string(),
    taskShortId: z.string(),
    subtaskId: z.string(),
    subtaskKey: z.string(),
    capability: z.string(),
    generation: z.number(),
    attempts: z.number(),
    error: z.string().nullable(),
    taskText: z.string(),
    taskUser: z.string(),
    createdAt: z.string().nullable(),
  })
  .loose();
export type FailedJson = z.infer<typeof failedJson>;

/** A task row without subtasks or events (lists, mutation responses). */
export function serializeTask(task: TaskRow & { next_run_at?: Date | null }): TaskJson {
  return {
    id: task.id,
    shortId: task.id.slice(0, 8),
    status: task.status,
    text: task.text,
    userId: task.user_id,
    platform: (task.origin as { platform?: string } | null)?.platform ?? 'web',
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
export function serializeFailed(f: FailedEntry): FailedJson {
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
