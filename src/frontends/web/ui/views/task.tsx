// Task detail: plan graph, per-step progress, result (sanitised Markdown), files, LLM totals, activity log, actions.
import { useEffect, useState } from 'preact/hooks';
import type { SubtaskJson } from '../../serialize.ts';
import { api, type TaskJson } from '../api.ts';
import { markdownHtml, resultText } from '../markdown.ts';
import { type TaskStore, useStore } from '../store.ts';
import { ACTIVE, age, duration, percentOf, platformOf } from '../util.ts';
import { Progress } from './card.tsx';
import { DataTable } from './data-table.tsx';
import { PlanGraph } from './plan-graph.tsx';
import { ActivityLog, LlmTotals, TaskFiles } from './task-activity.tsx';

/** Per-step progress from the last live report (or the stored one): stage, items, percent, rate, ETA, message. */
function stepProgress(s: SubtaskJson, store: TaskStore) {
  const liveReport = store.progress.get(s.id);
  const p = (liveReport?.data ?? (s.progress as Record<string, unknown> | null) ?? {}) as {
    stage?: string;
    done?: number;
    total?: number;
    message?: string;
  };
  const done = typeof p.done === 'number' ? p.done : undefined;
  const total = typeof p.total === 'number' ? p.total : undefined;
  const finished = s.status === 'SUCCEEDED';
  const percent = finished ? 100 : done !== undefined && total ? Math.round((100 * done) / total) : 0;
  const startedMs = s.startedAt ? Date.parse(s.startedAt) : undefined;
  const elapsed = startedMs !== undefined ? Date.parse(liveReport?.at ?? new Date().toISOString()) - startedMs : 0;
  const rate = done !== undefined && elapsed > 0 ? done / (elapsed / 1000) : undefined;
  const eta =
    rate && total !== undefined && done !== undefined && rate > 0 ? ((total - done) / rate) * 1000 : undefined;
  return { ...p, done, total, percent, rate, eta };
}

export function TaskView({ id }: { id: string }) {
  const store = useStore();
  const [error, setError] = useState<string | null>(null);
  const [feedback, setFeedback] = useState('');
  useEffect(() => {
    api<{ task: TaskJson }>('GET', `/api/tasks/${id}`).then(
      ({ task }) => store.put(task),
      (err) => setError((err as Error).message),
    );
  }, [id]);
  const task = store.tasks.get(id);
  if (error && !task)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  if (!task) return <p>Loading…</p>;

  const act = async (action: string, body?: unknown) => {
    setError(null);
    try {
      const r = await api<{ task: TaskJson }>('POST', `/api/tasks/${task.id}/${action}`, body);
      if (action === 'duplicate') location.hash = `#/task/${r.task.id}`;
      store.put(r.task);
      void store.refresh(action === 'duplicate' ? r.task.id : task.id);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const steps = task.subtasks ?? [];
  const text = resultText(task.result);
  const pct = percentOf(task);
  return (
    <article class="task" aria-labelledby="task-title" data-status={task.status}>
      <p>
        <a href="#/board">← Board</a>
      </p>
      <h2 id="task-title" class="task-text">
        {task.text}
      </h2>
      <p class="meta">
        <span class="status" data-testid="task-status">
          {task.status}
        </span>
        <span class={`prio ${task.priority}`}>{task.priority}</span>
        <span>{platformOf(task)}</span>
        <span>created {age(task.createdAt)} ago</span>
        <span class="id">{task.id}</span>
      </p>
      <Progress percent={pct} label={`Task ${pct}% done`} />
      {task.error && <p class="error">{task.error}</p>}
      <div class="actions" role="group" aria-label="Actions">
        {ACTIVE.has(task.status) && (
          <button type="button" onClick={() => act('cancel')}>
            Cancel
          </button>
        )}
        {task.status === 'FAILED' && (
          <button type="button" onClick={() => act('retry')}>
            Retry
          </button>
        )}
        <button type="button" onClick={() => act('duplicate')}>
          Duplicate
        </button>
        {task.status === 'REVIEW' && (
          <>
            <button type="button" onClick={() => act('approve')}>
              Approve
            </button>
            <button type="button" onClick={() => act('reject', {})}>
              Reject
            </button>
            <label>
              Feedback <input value={feedback} onInput={(e) => setFeedback(e.currentTarget.value)} />
            </label>
            <button type="button" disabled={!feedback.trim()} onClick={() => act('revise', { feedback })}>
              Revise
            </button>
          </>
        )}
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}

      <h3>Plan</h3>
      {steps.length ? <PlanGraph steps={steps} /> : <p>No plan yet.</p>}
      <DataTable class="steps" columns={['Step', 'State', 'Stage', 'Items', '%', 'Rate', 'ETA', 'Message']}>
        {steps.map((s) => {
          const p = stepProgress(s, store);
          return (
            <tr key={s.id} data-step={s.key}>
              <th scope="row">
                {s.key} <small>{s.capability}</small>
              </th>
              <td>{s.status}</td>
              <td>{p.stage ?? ''}</td>
              <td class="items">{p.done !== undefined ? `${p.done}/${p.total ?? '?'}` : ''}</td>
              <td>
                <Progress percent={p.percent} label={`${s.key} ${p.percent}%`} />
              </td>
              <td>{p.rate !== undefined ? `${p.rate.toFixed(1)}/s` : ''}</td>
              <td>{s.status === 'RUNNING' ? duration(p.eta) : ''}</td>
              <td>{p.message ?? s.error ?? ''}</td>
            </tr>
          );
        })}
      </DataTable>

      <h3>Result</h3>
      {task.result == null ? (
        <p>No result yet.</p>
      ) : text !== null ? (
        // biome-ignore lint/security/noDangerouslySetInnerHtml: sanitised by DOMPurify in markdownHtml
        <div class="result" dangerouslySetInnerHTML={{ __html: markdownHtml(text) }} />
      ) : (
        <pre class="result">{JSON.stringify(task.result, null, 2)}</pre>
      )}

      <TaskFiles task={task} />

      <h3>Activity</h3>
      <LlmTotals task={task} />
      <ActivityLog task={task} />
    </article>
  );
}
