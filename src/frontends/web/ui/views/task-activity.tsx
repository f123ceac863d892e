// Task detail parts fed by their own routes: the task's files (uploads and outputs, with downloads), the LLM
// totals, and the activity log that merges the audit trail with the traces (plan decisions, LLM calls, tools).
import { useEffect, useState } from 'preact/hooks';
import { type ArtifactJson, api, artifactUrl, type TaskJson, type TraceJson } from '../api.ts';
import { formatSize } from '../util.ts';

/** Loads `path` again whenever `key` changes; keeps the last answer while reloading. */
function useLoaded<T>(path: string, key: string): { data: T | null; error: string | null } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    api<T>('GET', path).then(
      (d) => {
        if (!live) return;
        setData(d);
        setError(null);
      },
      (err) => live && setError((err as Error).message),
    );
    return () => {
      live = false;
    };
  }, [path, key]);
  return { data, error };
}

/** What changes when new files or traces may exist: the status, the steps' states and the number of events. */
export const reloadKey = (task: TaskJson): string =>
  `${task.status}|${(task.subtasks ?? []).map((s) => s.status).join(',')}|${task.events?.length ?? 0}`;

/** The task's files, uploads first, each with a download link. */
export function TaskFiles({ task }: { task: TaskJson }) {
  const { data, error } = useLoaded<{ artifacts: ArtifactJson[] }>(
    `/api/tasks/${encodeURIComponent(task.id)}/artifacts`,
    reloadKey(task),
  );
  const steps = new Map((task.subtasks ?? []).map((s) => [s.id, s.key]));
  const files = data?.artifacts ?? [];
  return (
    <section aria-labelledby="files-title">
      <h3 id="files-title">Files</h3>
      {error && <p class="error">{error}</p>}
      {files.length === 0 ? (
        <p>{data ? 'No files.' : 'Loading…'}</p>
      ) : (
        <ul class="files-list">
          {files.map((f) => (
            <li key={f.name} data-artifact={f.name}>
              <a href={artifactUrl(task.id, f.name)} download={f.name}>
                {f.name}
              </a>{' '}
              <small>
                {formatSize(f.size)} · {f.mediaType} ·{' '}
                {f.producer === 'upload' ? 'uploaded' : `from step ${steps.get(f.subtaskId ?? '') ?? f.subtaskId}`}
              </small>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** The task's running LLM totals (calls, tokens, cost). */
export function LlmTotals({ task }: { task: TaskJson }) {
  const llm = task.llm;
  if (!llm || llm.calls === 0) return null;
  return (
    <p class="llm-totals" data-testid="llm-totals">
      LLM: {llm.calls} call{llm.calls === 1 ? '' : 's'}, {llm.tokens} tokens, ${llm.costUsd.toFixed(4)}
      {llm.unpriced ? ' (some models unpriced)' : ''}
    </p>
  );
}

interface Entry {
  key: string;
  at: string;
  kind: string;
  title: string;
  who: string;
  text: string;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** One line of a trace: an LLM call as purpose, model, tokens, cost and latency; others as their data. */
function traceText(t: TraceJson): string {
  const d = t.data;
  if (t.kind === 'llm') {
    const prompt = num(d.promptTokens) ?? 0;
    const completion = num(d.completionTokens) ?? 0;
    const cost = num(d.costUsd);
    const parts = [
      String(d.purpose ?? ''),
      String(d.model ?? ''),
      `${prompt}+${completion} tokens`,
      cost !== undefined ? `$${cost.toFixed(4)}` : '',
      num(d.latencyMs) !== undefined ? `${d.latencyMs} ms` : '',
      d.cached ? 'cached' : '',
    ];
    return parts.filter(Boolean).join(' · ');
  }
  const { request: _r, response: _s, ...rest } = d;
  return JSON.stringify(rest).slice(0, 300);
}

/** The audit trail and the traces, oldest first. */
export function ActivityLog({ task }: { task: TaskJson }) {
  const { data } = useLoaded<{ traces: TraceJson[] }>(
    `/api/tasks/${encodeURIComponent(task.id)}/traces`,
    reloadKey(task),
  );
  const steps = new Map((task.subtasks ?? []).map((s) => [s.id, s.key]));
  const entries: Entry[] = [
    ...(task.events ?? []).map((e) => ({
      key: `e-${e.id ?? `${e.type}-${e.at}`}`,
      at: e.at ?? '',
      kind: 'event',
      title: e.type,
      who: e.actor,
      text: e.data ? JSON.stringify(e.data).slice(0, 200) : '',
    })),
    ...(data?.traces ?? []).map((t) => ({
      key: `t-${t.id}`,
      at: t.at,
      kind: t.kind,
      title: t.kind === 'llm' ? 'LLM call' : t.kind,
      who: t.subtaskId ? `step ${steps.get(t.subtaskId) ?? t.subtaskId}` : 'planner',
      text: traceText(t),
    })),
  ].sort((a, b) => Date.parse(a.at || '0') - Date.parse(b.at || '0'));
  return (
    <ol class="log">
      {entries.map((e) => (
        <li key={e.key} data-kind={e.kind}>
          <time dateTime={e.at}>{e.at ? new Date(e.at).toLocaleTimeString() : ''}</time>{' '}
          <b class={e.kind === 'event' ? undefined : `trace ${e.kind}`}>{e.title}</b> <span class="actor">{e.who}</span>{' '}
          {e.text ? <code>{e.text}</code> : null}
        </li>
      ))}
    </ol>
  );
}
