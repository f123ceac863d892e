// The timeline: upcoming runs of schedules (one-shot and recurring) and tasks waiting for their time.
import { useEffect, useState } from 'preact/hooks';
import { api, type Me, type ScheduleJson } from '../api.ts';
import { useStore } from '../store.ts';

export function TimelineView({ me, all = false }: { me: Me; all?: boolean }) {
  const store = useStore();
  const [schedules, setSchedules] = useState<ScheduleJson[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () =>
    api<{ schedules: ScheduleJson[] }>('GET', `/api/schedules${all && me.isAdmin ? '?all=true' : ''}`).then(
      (r) => setSchedules(r.schedules),
      (err) => setError((err as Error).message),
    );
  useEffect(() => {
    void load();
  }, [store.stamp]);
  const act = async (s: ScheduleJson, action: 'pause' | 'resume') => {
    await api('POST', `/api/schedules/${s.id}/${action}`).catch((err) => setError((err as Error).message));
    void load();
  };
  // A schedule's own SCHEDULED task is shown by its schedule's entry; other waiting tasks are listed too.
  const ofSchedules = new Set((schedules ?? []).map((s) => s.parentTaskId));
  const waiting = [...store.tasks.values()].filter((t) => t.status === 'SCHEDULED' && !ofSchedules.has(t.id));
  const items = (schedules ?? [])
    .filter((s) => s.nextRunAt)
    .sort((a, b) => (a.nextRunAt ?? '').localeCompare(b.nextRunAt ?? ''));
  const paused = (schedules ?? []).filter((s) => !s.nextRunAt);
  return (
    <section aria-labelledby={all ? 'sched-all' : 'timeline-title'}>
      <h2 id={all ? 'sched-all' : 'timeline-title'}>{all ? 'Schedules of all users' : 'Upcoming runs'}</h2>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {schedules === null ? (
        <p>Loading…</p>
      ) : (
        <ol class="timeline">
          {items.map((s) => (
            <li key={s.id}>
              <time dateTime={s.nextRunAt ?? ''}>{new Date(s.nextRunAt!).toLocaleString()}</time>{' '}
              <span class="kind">{s.kind}</span> <strong>{s.description}</strong>: {s.text}
              {all && <span class="user"> ({s.userId})</span>}{' '}
              <button type="button" onClick={() => act(s, 'pause')}>
                Pause
              </button>
            </li>
          ))}
          {waiting.map((t) => (
            <li key={t.id}>
              <span class="kind">task</span> <a href={`#/task/${t.id}`}>{t.text}</a>
            </li>
          ))}
          {items.length === 0 && waiting.length === 0 && <li>Nothing scheduled.</li>}
        </ol>
      )}
      {paused.length > 0 && (
        <>
          <h3>Paused</h3>
          <ul>
            {paused.map((s) => (
              <li key={s.id}>
                {s.description}: {s.text} {s.pausedReason ? `(${s.pausedReason})` : ''}{' '}
                <button type="button" onClick={() => act(s, 'resume')}>
                  Resume
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
