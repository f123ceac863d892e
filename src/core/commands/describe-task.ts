// Plain-text descriptions of a task for chat replies (status, lists).
import { shortId } from '../ids.ts';
import type { TaskWithNextRun } from '../schedules/next-runs.ts';
import type { DerivedProgress } from '../types.ts';

/** "1m 05s" style duration. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** One line per task for `tasks`. */
export function renderTaskLine(t: TaskWithNextRun): string {
  const text = t.text.length > 50 ? `${t.text.slice(0, 49)}…` : t.text;
  return `${shortId(t.id)}  ${t.status.padEnd(11)} ${text}${nextRunNote(t)}`;
}

/** " (next run 2026-05-01 09:00 UTC)" for a scheduled task, else nothing. */
function nextRunNote(t: TaskWithNextRun): string {
  if (t.status !== 'SCHEDULED') return '';
  if (!t.next_run_at) return ' (paused)';
  return ` (next run ${new Date(t.next_run_at).toISOString().slice(0, 16).replace('T', ' ')} UTC)`;
}

/** A task's state, progress and outcome, for `status`. */
export function describeTask(t: TaskWithNextRun, p: DerivedProgress): string {
  const lines = [`Task ${shortId(t.id)}: ${t.status}${nextRunNote(t)} - ${t.text.slice(0, 200)}`];
  if (['ASSIGNED', 'IN_PROGRESS'].includes(t.status)) {
    const parts = [
      `${Math.floor(p.percent)}%`,
      `step ${Math.min(p.subtasksDone + 1, p.subtasksTotal)} of ${p.subtasksTotal}`,
    ];
    if (p.stage) parts.push(p.stage);
    if (p.total) parts.push(`${p.done ?? 0}/${p.total} items`);
    if (p.etaMs !== undefined) parts.push(`ETA ${formatDuration(p.etaMs)}`);
    lines.push(parts.join(' · '));
    if (p.message) lines.push(p.message);
  }
  if (t.status === 'COMPLETED') lines.push(typeof t.result === 'string' ? t.result : JSON.stringify(t.result));
  if (t.error) lines.push(t.error);
  return lines.join('\n');
}
