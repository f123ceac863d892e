// The board: one column per status group, cards move as the live feed reports changes.
import { useStore } from '../store.ts';
import { COLUMNS } from '../util.ts';
import { TaskCard } from './card.tsx';

const PER_COLUMN = 50;

export function BoardView({ isAdmin = false }: { isAdmin?: boolean }) {
  const store = useStore();
  const all = [...store.tasks.values()].sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
  return (
    <section aria-labelledby="board-title">
      <h2 id="board-title">Board</h2>
      {isAdmin && (
        <label class="all-toggle">
          <input type="checkbox" checked={store.all} onChange={(e) => void store.setAll(e.currentTarget.checked)} />{' '}
          Everyone's tasks
        </label>
      )}
      {store.error && (
        <p role="alert" class="error">
          {store.error}
        </p>
      )}
      <div class="board">
        {COLUMNS.map((col) => {
          const tasks = all.filter((t) => col.statuses.includes(t.status));
          return (
            <section class="column" key={col.key} data-column={col.key} aria-labelledby={`col-${col.key}`}>
              <h3 id={`col-${col.key}`}>
                {col.title} <span class="count">{tasks.length}</span>
              </h3>
              <ul>
                {tasks.slice(0, PER_COLUMN).map((t) => (
                  <TaskCard key={t.id} task={t} />
                ))}
              </ul>
              {tasks.length > PER_COLUMN && (
                <a href={`#/list`} class="more">
                  {tasks.length - PER_COLUMN} more in the list
                </a>
              )}
            </section>
          );
        })}
      </div>
    </section>
  );
}
