// Small formatting helpers shared by the views.
import type { TaskJson } from './api.ts';

/** "5s", "3m", "2h", "4d" since an ISO time. */
export function age(iso: string | null, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** A duration in ms as "1m 20s". */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '';
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${s % 60}s`;
}

/** The board's columns and which statuses each holds. */
export const COLUMNS: Array<{ key: string; title: string; statuses: string[] }> = [
  { key: 'scheduled', title: 'Scheduled', statuses: ['SCHEDULED'] },
  { key: 'queued', title: 'Queued / planning', statuses: ['SUBMITTED', 'QUEUED', 'PLANNING', 'ASSIGNED'] },
  { key: 'running', title: 'In progress', statuses: ['IN_PROGRESS'] },
  { key: 'review', title: 'Review', statuses: ['REVIEW'] },
  { key: 'done', title: 'Done', statuses: ['COMPLETED'] },
  { key: 'failed', title: 'Failed', statuses: ['FAILED', 'REJECTED'] },
  { key: 'cancelled', title: 'Cancelled', statuses: ['CANCELLED'] },
];

/** Statuses a task can still be cancelled in. */
export const ACTIVE = new Set(['SUBMITTED', 'SCHEDULED', 'QUEUED', 'PLANNING', 'ASSIGNED', 'IN_PROGRESS', 'REVIEW']);

/** The platform a task came from. */
export const platformOf = (t: TaskJson): string => String((t as { platform?: unknown }).platform ?? 'web');

/** Percent done of a task (0-100). */
export const percentOf = (t: TaskJson): number =>
  t.status === 'COMPLETED' ? 100 : Math.round(Math.min(100, Math.max(0, t.progress?.percent ?? 0)));

/** A byte count as "512 B", "12.3 KB", "4.0 MB". */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
