// Row types of the monitor tables (migration 0040).
import type { ColumnType, Generated, Selectable } from 'kysely';

type Json<T> = ColumnType<T, T | string, T | string>;

/** A row of `monitors`: what to watch; its schedule (status, when, next run) is the `schedules` row. */
export interface MonitorsTable {
  id: string;
  user_id: string;
  schedule_id: string;
  url: string;
  /** CSS selector of the watched part, or null for the readable page. */
  selector: string | null;
  /** Regular expressions blanked before comparing (dates, counters). */
  ignore: Json<string[]>;
  checks: Generated<number>;
  changes: Generated<number>;
  last_checked_at: Date | null;
  last_changed_at: Date | null;
  created_at: Generated<Date>;
}

/** How a run compared with the one before. */
export type SnapshotKind = 'baseline' | 'unchanged' | 'changed';

/** A row of `monitor_snapshots`: one per run. */
export interface MonitorSnapshotsTable {
  id: string;
  monitor_id: string;
  task_id: string;
  kind: SnapshotKind;
  hash: string;
  text: string | null;
  diff: string | null;
  added: number | null;
  removed: number | null;
  summary: string | null;
  etag: string | null;
  last_modified: string | null;
  checked_at: Date;
  notified_at: Date | null;
  created_at: Generated<Date>;
}

export type MonitorRow = Selectable<MonitorsTable>;
export type MonitorSnapshotRow = Selectable<MonitorSnapshotsTable>;
