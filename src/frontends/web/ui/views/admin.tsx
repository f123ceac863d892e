// Admin: dead letters (reprocess, optionally with edited input; purge), workers, queues, everyone's schedules.
import { useEffect, useState } from 'preact/hooks';
import { api, type FailedJson, type Me } from '../api.ts';
import { useStore } from '../store.ts';
import { age } from '../util.ts';
import { DataTable } from './data-table.tsx';
import { TimelineView } from './timeline.tsx';

type Worker = import('../../../../core/types.ts').WorkerInfo;
interface Queue {
  capability: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

export function AdminView({ me }: { me?: Me }) {
  const store = useStore();
  const [failed, setFailed] = useState<FailedJson[]>([]);
  const [workers, setWorkers] = useState<Worker[]>([]);
  const [queues, setQueues] = useState<Queue[]>([]);
  const [edit, setEdit] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ error: boolean; text: string } | null>(null);
  const load = async () => {
    try {
      const [f, w, q] = await Promise.all([
        api<{ failed: FailedJson[] }>('GET', '/api/admin/failed'),
        api<{ workers: Worker[] }>('GET', '/api/admin/workers'),
        api<{ queues: Queue[] }>('GET', '/api/admin/queues'),
      ]);
      setFailed(f.failed);
      setWorkers(w.workers);
      setQueues(q.queues);
    } catch (err) {
      setMessage({ error: true, text: (err as Error).message });
    }
  };
  useEffect(() => {
    void load();
  }, [store.stamp]);
  const act = async (f: FailedJson, action: 'reprocess' | 'purge') => {
    setMessage(null);
    try {
      let body: unknown;
      const raw = edit[f.id]?.trim();
      if (action === 'reprocess' && raw) body = { input: JSON.parse(raw) };
      await api('POST', `/api/admin/failed/${f.id}/${action}`, body);
      setMessage({
        error: false,
        text: `${action === 'reprocess' ? 'Reprocessing' : 'Purged'} ${f.subtaskKey} of ${f.taskShortId}.`,
      });
      void load();
    } catch (err) {
      setMessage({
        error: true,
        text: err instanceof SyntaxError ? `The edited input is not JSON: ${err.message}` : (err as Error).message,
      });
    }
  };
  return (
    <section aria-labelledby="admin-title">
      <h2 id="admin-title">Admin</h2>
      {message && (
        <p role={message.error ? 'alert' : 'status'} class={message.error ? 'error' : 'ok'}>
          {message.text}
        </p>
      )}
      <h3>Dead letters</h3>
      {failed.length === 0 ? (
        <p>No open dead letters.</p>
      ) : (
        <ul class="dead">
          {failed.map((f) => (
            <li key={f.id} data-dead-letter={f.id}>
              <p>
                <a href={`#/task/${f.taskId}`}>{f.taskShortId}</a> step <b>{f.subtaskKey}</b> ({f.capability}) by{' '}
                {f.taskUser}, {f.attempts} attempts, {age(f.createdAt)} ago: <span class="error">{f.error}</span>
              </p>
              <label>
                Edited input (JSON, optional){' '}
                <textarea
                  rows={2}
                  value={edit[f.id] ?? ''}
                  onInput={(e) => setEdit({ ...edit, [f.id]: e.currentTarget.value })}
                />
              </label>
              <button type="button" onClick={() => act(f, 'reprocess')}>
                Reprocess
              </button>{' '}
              <button type="button" onClick={() => act(f, 'purge')}>
                Purge
              </button>
            </li>
          ))}
        </ul>
      )}
      <h3>Workers</h3>
      <DataTable columns={['Worker', 'State', 'Capabilities', 'Running', 'Last heartbeat', 'Version']}>
        {workers.map((w) => (
          <tr key={w.id}>
            <td>
              {w.id} <small>{w.host}</small>
            </td>
            <td>{w.state}</td>
            <td>{(w.capabilities.length ? w.capabilities : w.patterns).join(', ')}</td>
            <td>
              {w.running}/{w.concurrency}
            </td>
            <td>{`${age(new Date(w.seenAt).toISOString())} ago`}</td>
            <td>{w.version}</td>
          </tr>
        ))}
      </DataTable>
      <h3>Queues</h3>
      <p>
        <a href="/admin/queues" target="_blank" rel="noopener">
          Queues board
        </a>{' '}
        <small>(Bull Board, read-only: jobs are retried and removed through the dead letters above)</small>
      </p>
      <DataTable columns={['Capability', 'Waiting', 'Delayed', 'Active', 'Failed']}>
        {queues.map((q) => (
          <tr key={q.capability}>
            <td>{q.capability}</td>
            <td>{q.waiting}</td>
            <td>{q.delayed}</td>
            <td>{q.active}</td>
            <td>{q.failed}</td>
          </tr>
        ))}
      </DataTable>
      {me && <TimelineView me={me} all />}
    </section>
  );
}
