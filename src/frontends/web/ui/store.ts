// The page's view of the caller's tasks: loaded once, then kept current from the live feed.
import { useEffect, useState } from 'preact/hooks';
import { api, loadAllTasks, type TaskJson } from './api.ts';
import { live, type LiveEvent } from './live.ts';

type Listener = () => void;

/** Tasks by id, refreshed from the API when the live feed says one changed. */
export class TaskStore {
  readonly tasks = new Map<string, TaskJson>();
  /** Last progress event per subtask id (transient, not stored by the hub). */
  readonly progress = new Map<string, { data: Record<string, unknown>; at: string }>();
  loaded = false;
  /** Admins: the store holds every user's tasks. */
  all = false;
  error: string | null = null;
  private readonly listeners = new Set<Listener>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly throttled = new Set<string>();

  private version = 0;

  /** Loads every task of the caller. */
  async load(): Promise<void> {
    try {
      const list = await loadAllTasks(5000, this.all);
      const before = new Map(this.tasks);
      this.tasks.clear();
      // A live event that arrived while the list was loading is newer than the list: keep it.
      for (const t of list) {
        const live = before.get(t.id);
        this.tasks.set(t.id, live && isNewer(live, t) ? live : t);
      }
      this.loaded = true;
      this.error = null;
    } catch (err) {
      this.error = (err as Error).message;
    }
    this.changed();
  }

  /** Admins: switches between their own tasks and everyone's. */
  async setAll(all: boolean): Promise<void> {
    this.all = all;
    live.setAll(all);
    await this.load();
  }

  /**
   * Starts following the live feed. A connection that does not resume from an event id (the first one, or one
   * before any event arrived) may have missed changes since the list was read, so the list is read again.
   */
  follow(): () => void {
    const offEvents = live.on((e) => this.onEvent(e));
    const offStatus = live.onStatus((up, resumed) => {
      if (up && !resumed) void this.load();
    });
    return () => {
      offEvents();
      offStatus();
    };
  }

  /**
   * Puts a task (from any answer of the API or the live feed) into the store, unless what the store shows is newer:
   * a slow answer (the submit's 202 under load) must not move a card back after the live feed moved it on.
   */
  put(task: TaskJson): void {
    const old = this.tasks.get(task.id);
    if (old && isNewer(old, task)) return;
    this.tasks.set(task.id, old?.subtasks && !task.subtasks ? { ...old, ...task } : task);
    this.changed();
  }

  /** Fetches one task in detail now (coalescing concurrent calls). */
  refresh(id: string): Promise<void> {
    const running = this.pending.get(id);
    if (running) {
      this.again.add(id);
      return running;
    }
    const p = api<{ task: TaskJson }>('GET', `/api/tasks/${id}`)
      .then(({ task }) => this.put(task))
      .catch(() => {})
      .finally(() => {
        this.pending.delete(id);
        if (this.again.delete(id)) void this.refresh(id);
      });
    this.pending.set(id, p);
    return p;
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  get stamp(): number {
    return this.version;
  }

  private onEvent(e: LiveEvent): void {
    if (e.event.type === 'progress' && e.event.subtaskId) {
      this.progress.set(e.event.subtaskId, { data: e.event.data ?? {}, at: e.event.at ?? new Date().toISOString() });
      this.changed();
      // Cards show the task's overall percent: refresh it now and then, not on every report.
      if (!this.throttled.has(e.taskId)) {
        this.throttled.add(e.taskId);
        setTimeout(() => {
          this.throttled.delete(e.taskId);
          void this.refresh(e.taskId);
        }, 1000);
      }
      return;
    }
    // A state change comes with the task as it is now; other events matter only where the steps are shown.
    if (e.task) this.put(e.task);
    const known = this.tasks.get(e.taskId);
    if (!known || known.subtasks) void this.refresh(e.taskId);
  }

  private changed(): void {
    this.version++;
    for (const l of this.listeners) l();
  }
}

/** Whether `a` is a later state of the task than `b` (by the hub's updatedAt). */
function isNewer(a: TaskJson, b: TaskJson): boolean {
  return (a.updatedAt ?? '') > (b.updatedAt ?? '');
}

/** The page's store. */
export const store = new TaskStore();

/** Re-renders a component whenever the store changes. */
export function useStore(): TaskStore {
  const [, set] = useState(0);
  useEffect(() => store.subscribe(() => set(store.stamp)), []);
  return store;
}
