// Text output of the CLI: tables, durations, task views, event lines and the progress bar.
import type { TaskJson } from '../frontends/web/serialize.ts';

/** A task as the API returns it: the type of the API's own zod schema (src/frontends/web/serialize.ts). */
export type TaskView = TaskJson;

/** Derived progress as the API returns it. */
export type ProgressView = NonNullable<TaskJson['progress']>;

/** Shortens text to `max` characters with an ellipsis, on one line. */
export function truncate(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length <= max ? one : `${one.slice(0, Math.max(0, max - 1))}…`;
}

/** Left-aligned columns with a header row. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** 1h 2m, 3m 4s, 5.6s, 120ms. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Math.round(s * 10) / 10}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s - m * 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** How long ago an ISO time was, e.g. "3m ago". */
export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return '';
  if (now - new Date(iso).getTime() < 1000) return 'just now';
  return `${duration(now - new Date(iso).getTime()).replace(/\.\d+s$/, 's')} ago`;
}

/** A task result for people: text as is, anything else as indented JSON. */
export function formatResult(result: unknown): string {
  if (result === null || result === undefined) return '(no result)';
  if (typeof result === 'string') return result;
  return JSON.stringify(result, null, 2);
}

/** The rows of `tasks list`. */
export function taskTable(tasks: TaskView[], withUser = false): string {
  if (tasks.length === 0) return 'No tasks.';
  const headers = ['ID', 'STATUS', ...(withUser ? ['USER'] : []), 'CREATED', 'REQUEST'];
  return table(
    headers,
    tasks.map((t) => [
      t.shortId,
      t.nextRunAt ? `${t.status} (next ${t.nextRunAt.slice(0, 16).replace('T', ' ')} UTC)` : t.status,
      ...(withUser ? [t.userId] : []),
      ago(t.createdAt),
      truncate(t.text, 60),
    ]),
  );
}

/** The full view of `tasks show`. */
export function taskDetail(t: TaskView): string {
  const out = [
    `Task ${t.id}`,
    `  status    ${t.status}${t.progress ? ` (${t.progress.percent}%${t.progress.stage ? `, ${t.progress.stage}` : ''})` : ''}`,
    `  user      ${t.userId}`,
    `  priority  ${t.priority}`,
    `  created   ${t.createdAt ?? ''}${t.finishedAt ? `  finished ${t.finishedAt}` : ''}`,
    `  request   ${truncate(t.text, 200)}`,
  ];
  if (t.error) out.push(`  error     ${t.error}`);
  if (t.subtasks?.length) {
    out.push(
      '',
      table(
        ['STEP', 'CAPABILITY', 'STATUS', 'ATTEMPTS', 'AFTER', 'ERROR'],
        t.subtasks.map((s) => [
          s.key,
          s.capability,
          s.status,
          `${s.attempts}/${s.maxAttempts}${s.generation ? ` (gen ${s.generation})` : ''}`,
          s.dependsOn.join(',') || '-',
          truncate(s.error ?? '', 60),
        ]),
      ).replace(/^/gm, '  '),
    );
  }
  if (t.result !== null && t.result !== undefined) out.push('', 'Result:', formatResult(t.result));
  if (t.events?.length) {
    out.push('', 'Events:');
    for (const e of t.events) out.push(`  ${e.at ?? ''}  ${describeEvent(e.type, e.data)}  (${e.actor})`);
  }
  return out.join('\n');
}

/** One line describing a task event. */
export function describeEvent(type: string, data: Record<string, unknown> | null | undefined): string {
  const d = data ?? {};
  const key = typeof d.key === 'string' ? d.key : '?';
  switch (type) {
    case 'accepted':
      return `accepted (priority ${String(d.priority ?? 'normal')})`;
    case 'planned':
      return `planned: ${String(d.summary ?? '')}`;
    case 'no_worker':
      return `waiting: no worker is online for ${Array.isArray(d.capabilities) ? d.capabilities.join(', ') : '?'}`;
    case 'started':
      return 'started';
    case 'subtask.started':
      return `step ${key} started${d.attempt && Number(d.attempt) > 1 ? ` (attempt ${String(d.attempt)})` : ''}`;
    case 'subtask.succeeded':
      return `step ${key} done`;
    case 'subtask.retrying':
      return `step ${key} failed (attempt ${String(d.attempt)} of ${String(d.of)}), retrying: ${String(d.error ?? '')}`;
    case 'subtask.dead':
      return `step ${key} failed for good: ${String(d.error ?? '')}`;
    case 'progress.stage':
      return `step ${key}: ${String(d.stage ?? '')}`;
    case 'completed':
      return 'completed';
    case 'failed':
      return `failed: ${String(d.reason ?? '')}`;
    case 'cancelled':
      return 'cancelled';
    case 'retried':
      return 'retried';
    case 'admin.reprocess':
      return 'reprocessed by an admin';
    case 'admin.purge':
      return 'dead letter purged by an admin';
    default:
      return type;
  }
}

/** The one-line progress view: bar, percent, stage, ETA and the worker's message, within `width`. */
export function progressLine(p: ProgressView, width = 100): string {
  const pct = Math.max(0, Math.min(100, p.percent ?? 0));
  const barWidth = 20;
  const filled = Math.round((pct / 100) * barWidth);
  const parts = [`[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${pct.toFixed(0).padStart(3)}%`];
  if (p.stage) parts.push(p.stage);
  if (p.done !== undefined && p.total) parts.push(`${p.done}/${p.total}`);
  if (p.etaMs !== undefined) parts.push(`ETA ${duration(p.etaMs)}`);
  if (p.message) parts.push(p.message);
  const line = parts.join(' · ').replace(/[\r\n]+/g, ' ');
  const max = Math.max(20, width - 1);
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}
