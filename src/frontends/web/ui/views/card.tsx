// One task as a card: text, status, progress bar, age, priority, platform.
import type { TaskJson } from '../api.ts';
import { age, percentOf, platformOf } from '../util.ts';

export function Progress({ percent, label }: { percent: number; label: string }) {
  return (
    <div
      class="bar"
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
      aria-label={label}
    >
      <span style={{ width: `${percent}%` }} />
    </div>
  );
}

export function TaskCard({ task }: { task: TaskJson }) {
  const pct = percentOf(task);
  return (
    <li class="card" data-task-id={task.id} data-status={task.status}>
      <a href={`#/task/${task.id}`}>
        <span class="text">{task.text}</span>
      </a>
      <Progress percent={pct} label={`${task.shortId} ${pct}% done`} />
      <span class="meta">
        <span class="status">{task.status}</span>
        <span class={`prio ${task.priority}`}>{task.priority}</span>
        <span>{platformOf(task)}</span>
        <span title={task.createdAt ?? ''}>{age(task.createdAt)} ago</span>
        <span class="id">{task.shortId}</span>
      </span>
    </li>
  );
}
