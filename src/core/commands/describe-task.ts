// Plain-text descriptions of a task for chat replies (status, lists), the acknowledgement, and the one-line state
// that both `status` and the progress message show.
import { shortId } from '../ids.ts';
import type { TaskWithNextRun } from '../schedules/next-runs.ts';
import type { SubtaskRow, TaskRow } from '../store/schema.ts';
import type { DerivedProgress, TaskStatus } from '../types.ts';

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
  if (['ASSIGNED', 'IN_PROGRESS'].includes(t.status)) lines.push(progressLine(t.status, p));
  if (t.status === 'COMPLETED') lines.push(typeof t.result === 'string' ? t.result : JSON.stringify(t.result));
  if (t.error) lines.push(t.error);
  return lines.join('\n');
}

/** A task's live state in one line ("running 45% · working · 900/2000 items · ETA 12s · step 1 of 2"). */
export function progressLine(status: TaskStatus, p: DerivedProgress): string {
  const parts = [`${statusWord(status)} ${Math.floor(p.percent)}%`];
  if (p.stage) parts.push(p.stage);
  if (p.total) parts.push(`${p.done ?? 0}/${p.total} items`);
  if (p.etaMs !== undefined && p.percent < 100) parts.push(`ETA ${formatDuration(p.etaMs)}`);
  parts.push(`step ${Math.min(p.subtasksDone + 1, p.subtasksTotal)} of ${p.subtasksTotal}`);
  if (p.message) parts.push(p.message);
  return parts.join(' · ');
}

/** A status as people say it ("running", "awaiting review"). */
export function statusWord(status: TaskStatus): string {
  return (
    (
      {
        ASSIGNED: 'queued',
        IN_PROGRESS: 'running',
        COMPLETED: 'completed',
        FAILED: 'failed',
        CANCELLED: 'cancelled',
        REJECTED: 'rejected',
        REVIEW: 'awaiting review',
      } as Partial<Record<TaskStatus, string>>
    )[status] ?? status.toLowerCase()
  );
}

/**
 * The acknowledgement of a new task, the one text every platform shows (the notifier sends it; the command reply
 * says the same): its steps and which planner made the plan, and what happens next (`canEdit`: this message is
 * edited with progress, else the result follows as a new message).
 */
export function renderAck(
  task: Pick<TaskRow, 'id' | 'question' | 'planned_by'>,
  subtasks: Array<Pick<SubtaskRow, 'capability'>>,
  canEdit = true,
): string {
  const id = shortId(task.id);
  if (task.question) return `Got it: task ${id} needs one answer first.`;
  const caps = [...new Set(subtasks.map((s) => s.capability))].join(', ');
  const steps = `${subtasks.length} step${subtasks.length === 1 ? '' : 's'}`;
  const next = canEdit
    ? "I'll update this message as it runs."
    : `I'll send the result here (say "cancel ${id}" to stop).`;
  return `Got it: task ${id} queued (${steps}) for ${caps}${plannerNote(task.planned_by)}. ${next}`;
}

/** Which planner made the plan, when it is worth saying (an LLM plan, or the rule planner standing in for one). */
function plannerNote(by: string | null): string {
  if (!by) return '';
  if (by === 'llm') return ', planned by the LLM planner';
  return by.startsWith('rules (fallback') ? `, planned by the rule planner ${by.slice('rules '.length)}` : '';
}
