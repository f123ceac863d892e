// Task-scoped resources on one worker: created on first use, disposed when the task ends (or idles out).

type Entry = { value: unknown; dispose?: ((v: any) => unknown) | undefined };

/** The view a handler gets: resources of its own task only. */
export interface SessionScope {
  /** The resource under `key` for this task, created by `create` on first use. */
  get<T>(key: string, create: () => T | Promise<T>, dispose?: (value: T) => unknown): Promise<T>;
}

/** Holds per-task resources; `disposeTask` is called when the hub says the task ended. */
export class SessionStore {
  private readonly tasks = new Map<string, { entries: Map<string, Promise<Entry>>; lastUsed: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly idleMs = 15 * 60_000) {
    this.timer = setInterval(() => void this.sweep(), Math.min(idleMs, 60_000));
    this.timer.unref();
  }

  /** The scope of one task. */
  scope(taskId: string): SessionScope {
    return {
      get: async <T>(key: string, create: () => T | Promise<T>, dispose?: (value: T) => unknown): Promise<T> => {
        let t = this.tasks.get(taskId);
        if (!t) {
          t = { entries: new Map(), lastUsed: Date.now() };
          this.tasks.set(taskId, t);
        }
        t.lastUsed = Date.now();
        let e = t.entries.get(key);
        if (!e) {
          e = Promise.resolve(create()).then((value) => ({ value, dispose }));
          t.entries.set(key, e);
          e.catch(() => t!.entries.delete(key));
        }
        return (await e).value as T;
      },
    };
  }

  /** Disposes every resource of a task. */
  async disposeTask(taskId: string): Promise<void> {
    const t = this.tasks.get(taskId);
    if (!t) return;
    this.tasks.delete(taskId);
    await Promise.all(
      [...t.entries.values()].map(async (p) => {
        try {
          const e = await p;
          await e.dispose?.(e.value);
        } catch {
          /* a failed create or dispose has nothing left to free */
        }
      }),
    );
  }

  /** Number of tasks holding resources (for tests and heartbeats). */
  get size(): number {
    return this.tasks.size;
  }

  /** Disposes everything (shutdown). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.tasks.keys()].map((id) => this.disposeTask(id)));
  }

  private async sweep(): Promise<void> {
    const cutoff = Date.now() - this.idleMs;
    for (const [id, t] of this.tasks) if (t.lastUsed < cutoff) await this.disposeTask(id);
  }
}
