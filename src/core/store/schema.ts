// Row types of the database, as kysely sees them.
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { AccessEventsTable, AccessGrantsTable, PairingCodesTable } from './access-rows.ts';
import type { MonitorSnapshotsTable, MonitorsTable } from './monitor-rows.ts';
import type { OutboxTable } from './outbox-rows.ts';
import type { ScheduleRunsTable, SchedulesTable, UserSettingsTable } from './schedule-rows.ts';
import type { LlmUsageTable, TaskTracesTable } from './trace-rows.ts';
import type {
  ConversationRef,
  DerivedProgress,
  MessageRef,
  NotifyPolicy,
  Priority,
  ProgressReport,
  SubtaskStatus,
  TaskStatus,
} from '../types.ts';

type Json<T> = ColumnType<T, T | string, T | string>;

/** A row of `tasks`. */
export interface TasksTable {
  id: string;
  user_id: string;
  origin: Json<ConversationRef>;
  text: string;
  status: TaskStatus;
  priority: Priority;
  notify_policy: NotifyPolicy;
  progress: Json<DerivedProgress | null>;
  result: Json<unknown>;
  error: string | null;
  progress_message: Json<MessageRef | null>;
  final_notified: Generated<boolean>;
  requires_review: Generated<boolean>;
  /** The task has uploaded files (artifacts with producer 'upload'); set with them (migration 0050). */
  has_uploads: Generated<boolean>;
  /** Steps of the task returned files (artifacts from subtasks); set with them (migration 0050). */
  has_outputs: Generated<boolean>;
  /** Feedback given with `revise`, passed to the planner. */
  feedback: string | null;
  parent_task_id: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  started_at: Date | null;
  finished_at: Date | null;
  // ── ai: running LLM totals, the planner that made the plan, a pending clarifying question (0030) ──
  llm_calls: Generated<number>;
  llm_tokens: Generated<number>;
  llm_cost_usd: Generated<number>;
  llm_unpriced: Generated<boolean>;
  plan_steps: Generated<number>;
  planned_by: Generated<string | null>;
  question: Generated<string | null>;
  /** The client's Idempotency-Key of the submission (unique per user), or null (migration 0020). */
  idempotency_key: Generated<string | null>;
}

/** A row of `subtasks`. */
export interface SubtasksTable {
  id: string;
  task_id: string;
  /** The task's owner, denormalised for per-user admission control. */
  user_id: string;
  key: string;
  capability: string;
  requires_review: Generated<boolean>;
  input: Json<unknown>;
  depends_on: string[];
  status: SubtaskStatus;
  attempts: Generated<number>;
  max_attempts: number;
  backoff_ms: number;
  jitter: number;
  timeout_ms: number;
  generation: Generated<number>;
  output: Json<unknown>;
  error: string | null;
  progress: Json<ProgressReport | null>;
  worker_id: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  queued_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
}

/** A row of `task_events`, the append-only audit trail. */
export interface TaskEventsTable {
  id: Generated<string>;
  task_id: string;
  subtask_id: string | null;
  type: string;
  data: Json<Record<string, unknown> | null>;
  actor: string;
  created_at: Generated<Date>;
}

/** A row of `dead_letters`. */
export interface DeadLettersTable {
  id: Generated<string>;
  subtask_id: string;
  task_id: string;
  capability: string;
  generation: number;
  attempts: number;
  error: string;
  created_at: Generated<Date>;
  resolved_at: Date | null;
  resolved_by: string | null;
  resolution: string | null;
}

/** The whole database. */
export interface Database {
  tasks: TasksTable;
  subtasks: SubtasksTable;
  task_events: TaskEventsTable;
  dead_letters: DeadLettersTable;
  schedules: SchedulesTable;
  schedule_runs: ScheduleRunsTable;
  user_settings: UserSettingsTable;
  pairing_codes: PairingCodesTable;
  access_grants: AccessGrantsTable;
  access_events: AccessEventsTable;
  monitors: MonitorsTable;
  monitor_snapshots: MonitorSnapshotsTable;
  llm_usage: LlmUsageTable;
  task_traces: TaskTracesTable;
  artifacts: ArtifactsTable;
  sms_opt_outs: SmsOptOutsTable;
  outbox: OutboxTable;
}

/** A row of `sms_opt_outs`: a phone number that said STOP (migration 0020). */
export interface SmsOptOutsTable {
  number: string;
  created_at: Generated<Date>;
}

export type TaskRow = Selectable<TasksTable>;
export type SubtaskRow = Selectable<SubtasksTable>;
export type TaskEventRow = Selectable<TaskEventsTable>;
export type DeadLetterRow = Selectable<DeadLettersTable>;

/** A row of `artifacts`: a file of a task (an upload, a chat attachment, or a capability's output). */
export interface ArtifactsTable {
  id: string;
  task_id: string;
  name: string;
  media_type: string;
  size: number;
  sha256: string;
  bytes: Buffer;
  /** 'upload' for inbound files, else the id of the subtask that produced it. */
  producer: string;
  created_at: Generated<Date>;
}
export type ArtifactRow = Selectable<ArtifactsTable>;
