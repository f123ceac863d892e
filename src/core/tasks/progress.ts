// Derives task-level progress (percent, ETA, rate) from the subtasks' raw reports.
import type { DerivedProgress, ProgressReport, SubtaskStatus } from '../types.ts';

/** The subset of a subtask that progress derivation needs. */
export interface ProgressInput {
  status: SubtaskStatus;
  progress: ProgressReport | null;
  started_at: Date | null;
  updated_at: Date;
}

/** Percent of one subtask: finished ones count fully, running ones by items done of total. */
function subtaskPercent(s: ProgressInput): number {
  if (s.status === 'SUCCEEDED' || s.status === 'SKIPPED') return 100;
  const p = s.progress;
  if (s.status === 'RUNNING' && p?.total && p.total > 0)
    return Math.min(100, Math.max(0, ((p.done ?? 0) / p.total) * 100));
  return 0;
}

/** Aggregated progress of a task at `now`. */
export function deriveProgress(
  subtasks: ProgressInput[],
  taskStartedAt: Date | null,
  now = Date.now(),
): DerivedProgress {
  const total = subtasks.length;
  const done = subtasks.filter((s) => s.status === 'SUCCEEDED').length;
  const percent = total === 0 ? 0 : subtasks.reduce((a, s) => a + subtaskPercent(s), 0) / total;
  const running = subtasks
    .filter((s) => s.status === 'RUNNING' && s.progress)
    .sort((a, b) => b.updated_at.getTime() - a.updated_at.getTime())[0];
  const out: DerivedProgress = {
    percent: Math.round(percent * 10) / 10,
    elapsedMs: taskStartedAt ? Math.max(0, now - taskStartedAt.getTime()) : 0,
    subtasksDone: done,
    subtasksTotal: total,
  };
  if (running?.progress) {
    const p = running.progress;
    Object.assign(out, { stage: p.stage, message: p.message, done: p.done, total: p.total });
    if (running.started_at && p.done && p.done > 0) {
      const secs = Math.max(0.001, (now - running.started_at.getTime()) / 1000);
      out.itemsPerSecond = Math.round((p.done / secs) * 10) / 10;
      if (p.total && p.total >= p.done) out.etaMs = Math.round(((p.total - p.done) / (p.done / secs)) * 1000);
    }
  }
  return out;
}
