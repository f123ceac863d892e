// The progress API handlers use: stages, items done of total, a status message; sent throttled.
import type { ProgressReport } from '../core/types.ts';

/** Collects progress and hands the latest state to `send` at most once per `intervalMs` (stage changes at once). */
export class ProgressTracker {
  private state: ProgressReport = {};
  private lastSent = 0;
  private pending?: NodeJS.Timeout;

  constructor(
    private readonly send: (p: ProgressReport) => void,
    private readonly intervalMs = 100,
  ) {}

  /** Enters a named stage ("fetching", "summarising"); resets item counts. */
  stage(name: string, total?: number): void {
    this.state = { stage: name, done: total === undefined ? undefined : 0, total, message: this.state.message };
    this.flush();
  }

  /** Reports items done of total. */
  items(done: number, total?: number): void {
    this.state = { ...this.state, done, total: total ?? this.state.total };
    this.schedule();
  }

  /** Sets a short human status line. */
  message(text: string): void {
    this.state = { ...this.state, message: text.slice(0, 500) };
    this.schedule();
  }

  /** The latest report. */
  get current(): ProgressReport {
    return { ...this.state };
  }

  /** Sends what is pending now and stops the timer. */
  close(): void {
    if (this.pending) {
      clearTimeout(this.pending);
      this.pending = undefined;
      this.flush();
    }
  }

  private schedule(): void {
    if (this.pending) return;
    const wait = this.lastSent + this.intervalMs - Date.now();
    if (wait <= 0) {
      this.flush();
      return;
    }
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.flush();
    }, wait);
    this.pending.unref();
  }

  private flush(): void {
    if (this.pending) {
      clearTimeout(this.pending);
      this.pending = undefined;
    }
    this.lastSent = Date.now();
    this.send(this.current);
  }
}
