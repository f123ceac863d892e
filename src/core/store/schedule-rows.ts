// Row types of the schedule tables (migration 0003).
import type { ColumnType, Generated, Selectable } from 'kysely';
import type { ConversationRef } from '../types.ts';

type Json<T> = ColumnType<T, T | string, T | string>;

/** Lifecycle of a schedule: active (firing), paused, deleted (kept for history), done (a one-shot that ran). */
export const SCHEDULE_STATUSES = ['active', 'paused', 'deleted', 'done'] as const;
export type ScheduleStatus = (typeof SCHEDULE_STATUSES)[number];

/** One run at a time (`at`) or a recurrence (`every`: a cron pattern or a fixed interval). */
export type ScheduleKind = 'at' | 'every';

/** How a fired run ended, as far as failure counting is concerned. */
export type RunOutcome = 'succeeded' | 'failed';

/** A row of `schedules`. */
export interface SchedulesTable {
  id: string;
  user_id: string;
  /** Where the request came from; every run answers there. */
  origin: Json<ConversationRef>;
  /** What to do on each run (the child task's request text). */
  text: string;
  /** The "when" phrase as the user wrote it. */
  when_text: string;
  /** The "when" as the hub understood it, e.g. "every day at 09:00". */
  description: string;
  kind: ScheduleKind;
  cron: string | null;
  /** bigint: pg returns it as a string; read it through `toSchedule`. */
  every_ms: ColumnType<string | number | bigint | null, number | null, number | null>;
  run_at: Date | null;
  timezone: string;
  /** The task that stands for the schedule; every run is its child. */
  parent_task_id: string;
  status: ScheduleStatus;
  consecutive_failures: Generated<number>;
  /** Why it is paused (by whom, or after how many failures). */
  paused_reason: string | null;
  last_run_at: Date | null;
  next_run_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** A row of `schedule_runs`: one per fire time; the primary key makes a redelivered fire a no-op. */
export interface ScheduleRunsTable {
  schedule_id: string;
  fire_time: Date;
  /** The child task; null while the run is being created. */
  task_id: string | null;
  outcome: RunOutcome | null;
  created_at: Generated<Date>;
}

/** A row of `user_settings`. */
export interface UserSettingsTable {
  user_id: string;
  timezone: string;
  updated_at: Generated<Date>;
}

/** A schedule as the services use it (every_ms as a number). */
export type Schedule = Omit<Selectable<SchedulesTable>, 'every_ms'> & { every_ms: number | null };
export type ScheduleRunRow = Selectable<ScheduleRunsTable>;

/** Normalises a selected row (bigint columns arrive as strings from pg, as bigint or number elsewhere). */
export function toSchedule(row: Selectable<SchedulesTable>): Schedule {
  return { ...row, every_ms: row.every_ms == null ? null : Number(row.every_ms) };
}
