// The list: sortable, filterable by status, priority, platform and date, paginated (thousands of tasks stay cheap).
import { useMemo, useState } from 'preact/hooks';
import type { TaskJson } from '../api.ts';
import { useStore } from '../store.ts';
import { age, percentOf, platformOf } from '../util.ts';
import { DataTable } from './data-table.tsx';

const PAGE = 50;
type Key = 'createdAt' | 'status' | 'priority' | 'text' | 'platform' | 'progress';
const PRIO: Record<string, number> = { urgent: 0, normal: 1, low: 2 };

const value = (t: TaskJson, k: Key): string | number =>
  k === 'platform'
    ? platformOf(t)
    : k === 'progress'
      ? percentOf(t)
      : k === 'priority'
        ? (PRIO[t.priority] ?? 9)
        : String(t[k] ?? '');

export function ListView() {
  const store = useStore();
  const [status, setStatus] = useState('');
  const [priority, setPriority] = useState('');
  const [platform, setPlatform] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [sort, setSort] = useState<{ key: Key; desc: boolean }>({ key: 'createdAt', desc: true });
  const [page, setPage] = useState(0);

  const all = [...store.tasks.values()];
  const statuses = [...new Set(all.map((t) => t.status))].sort();
  const platforms = [...new Set(all.map(platformOf))].sort();
  const rows = useMemo(() => {
    const fromMs = from ? Date.parse(from) : -Infinity;
    const toMs = to ? Date.parse(to) + 86_400_000 : Infinity;
    const out = all.filter((t) => {
      const at = Date.parse(t.createdAt ?? '');
      return (
        (!status || t.status === status) &&
        (!priority || t.priority === priority) &&
        (!platform || platformOf(t) === platform) &&
        at >= fromMs &&
        at < toMs
      );
    });
    out.sort((a, b) => {
      const x = value(a, sort.key);
      const y = value(b, sort.key);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return sort.desc ? -c : c;
    });
    return out;
  }, [store.stamp, status, priority, platform, from, to, sort]);
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  const current = Math.min(page, pages - 1);
  const header = (key: Key, label: string) => (
    <th aria-sort={sort.key === key ? (sort.desc ? 'descending' : 'ascending') : 'none'} scope="col">
      <button type="button" onClick={() => setSort({ key, desc: sort.key === key ? !sort.desc : false })}>
        {label}
      </button>
    </th>
  );
  const filter = (label: string, v: string, set: (s: string) => void, options: string[]) => (
    <label>
      {label}{' '}
      <select
        value={v}
        onChange={(e) => {
          set(e.currentTarget.value);
          setPage(0);
        }}
      >
        <option value="">all</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );

  return (
    <section aria-labelledby="list-title">
      <h2 id="list-title">Tasks</h2>
      <div class="filters" role="search">
        {filter('Status', status, setStatus, statuses)}
        {filter('Priority', priority, setPriority, ['urgent', 'normal', 'low'])}
        {filter('Platform', platform, setPlatform, platforms)}
        <label>
          From <input type="date" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          To <input type="date" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
      </div>
      <DataTable
        columns={[
          header('text', 'Request'),
          header('status', 'Status'),
          header('priority', 'Priority'),
          header('platform', 'Platform'),
          header('progress', 'Progress'),
          header('createdAt', 'Created'),
        ]}
      >
        {rows.slice(current * PAGE, current * PAGE + PAGE).map((t) => (
          <tr key={t.id} data-task-id={t.id}>
            <td>
              <a href={`#/task/${t.id}`}>{t.text.length > 80 ? `${t.text.slice(0, 80)}…` : t.text}</a>
            </td>
            <td>{t.status}</td>
            <td>{t.priority}</td>
            <td>{platformOf(t)}</td>
            <td>{percentOf(t)}%</td>
            <td title={t.createdAt ?? ''}>{age(t.createdAt)} ago</td>
          </tr>
        ))}
      </DataTable>
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={current === 0} onClick={() => setPage(current - 1)}>
          Previous
        </button>
        <span>
          Page {current + 1} of {pages} ({rows.length} tasks)
        </span>
        <button type="button" disabled={current >= pages - 1} onClick={() => setPage(current + 1)}>
          Next
        </button>
      </nav>
    </section>
  );
}
