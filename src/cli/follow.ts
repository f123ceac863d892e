// `submit --follow`: follows a task's SSE stream with a live progress line until it ends, reconnecting if dropped.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient } from './api-client.ts';
import { HubUnreachableError } from './api-client.ts';
import { describeEvent, progressLine, type ProgressView, type TaskView } from './format.ts';
import { readSse } from './sse-reader.ts';

/** Event types after which a task is finished. */
export const TERMINAL_EVENTS = new Set(['completed', 'failed', 'cancelled', 'rejected', 'review.requested']);

/** Where and how to show the stream. */
export interface FollowOptions {
  out: NodeJS.WriteStream;
  /** Redraw one progress line with \r (a terminal), or print plain lines. */
  tty: boolean;
  /** Print each event as a JSON line instead of text. */
  json: boolean;
  /** How many times in a row to reconnect a dropped stream (resuming with Last-Event-ID). */
  reconnects?: number;
  /** First reconnect delay; doubles each time. */
  reconnectDelayMs?: number;
}

/** Draws events and progress on a terminal (one redrawn line) or as plain lines. */
class FollowView {
  private bar = '';
  private lastPlain = '';
  private lastPlainAt = 0;
  private lastStage: string | undefined;

  constructor(private readonly opts: FollowOptions) {}

  event(type: string, payload: any): void {
    if (this.opts.json) {
      this.opts.out.write(`${JSON.stringify({ event: type, ...payload })}\n`);
      return;
    }
    if (type === 'message') return; // chat copies of what the events already say
    if (type === 'progress') {
      const p: ProgressView | undefined =
        payload?.progress ?? (payload?.data ? { percent: 0, ...payload.data } : undefined);
      if (p) this.progress(p);
      return;
    }
    // The outcome of a terminal event is printed by the caller once the task is fetched.
    if (TERMINAL_EVENTS.has(type)) this.clear();
    else this.line(describeEvent(type, payload?.data));
  }

  /** A line on stderr (connection trouble), keeping the progress line intact. */
  notice(text: string): void {
    if (this.opts.tty && this.bar) this.opts.out.write('\r\x1b[K');
    process.stderr.write(`${text}\n`);
    if (this.opts.tty && this.bar) this.opts.out.write(this.bar);
  }

  /** Removes the progress line (before the final output). */
  clear(): void {
    if (this.opts.tty && this.bar) this.opts.out.write('\r\x1b[K');
    this.bar = '';
  }

  private progress(p: ProgressView): void {
    const width = this.opts.out.columns || 100;
    const text = progressLine(p, width);
    if (this.opts.tty) {
      this.bar = text;
      this.opts.out.write(`\r\x1b[K${text}`);
      return;
    }
    // Plain output: no repeats, and at most one progress line a second unless the stage changes.
    const withoutEta = progressLine({ ...p, etaMs: undefined }, 1000);
    const now = Date.now();
    const stageChanged = p.stage !== this.lastStage;
    if (withoutEta === this.lastPlain || (!stageChanged && now - this.lastPlainAt < 1000 && p.percent < 100)) return;
    this.lastPlain = withoutEta;
    this.lastStage = p.stage;
    this.lastPlainAt = now;
    this.opts.out.write(`${text}\n`);
  }

  private line(text: string): void {
    if (this.opts.tty && this.bar) this.opts.out.write(`\r\x1b[K${text}\n${this.bar}`);
    else this.opts.out.write(`${text}\n`);
  }
}

/** Follows a task until a terminal event, then returns the task as it is then. */
export async function followTask(client: ApiClient, taskId: string, opts: FollowOptions): Promise<TaskView> {
  const view = new FollowView(opts);
  const maxReconnects = opts.reconnects ?? 6;
  let lastEventId: string | null = null;
  let failures = 0;
  for (;;) {
    const ctrl = new AbortController();
    let finished = false;
    try {
      const res = await client.stream(
        `/api/tasks/${encodeURIComponent(taskId)}/stream`,
        lastEventId ? { 'last-event-id': lastEventId } : {},
        ctrl.signal,
      );
      if (!res.body) throw new Error('the hub sent an empty stream');
      for await (const e of readSse(res.body)) {
        failures = 0;
        if (e.id) lastEventId = e.id;
        let payload: unknown = null;
        try {
          payload = JSON.parse(e.data);
        } catch {
          payload = { data: e.data };
        }
        view.event(e.event, payload);
        if (TERMINAL_EVENTS.has(e.event)) {
          finished = true;
          break;
        }
      }
    } catch (err) {
      // An API refusal (404, 401) will not change by retrying; a dropped connection might.
      if (!(err instanceof HubUnreachableError) && !(err instanceof TypeError) && !isAbortOrReset(err)) {
        view.clear();
        throw err;
      }
    } finally {
      ctrl.abort();
    }
    if (finished) break;
    if (++failures > maxReconnects) {
      view.clear();
      throw new HubUnreachableError(client.baseUrl);
    }
    if (failures === 1) view.notice('(connection to the hub lost; reconnecting...)');
    await sleep(Math.min(5000, (opts.reconnectDelayMs ?? 500) * 2 ** (failures - 1)));
  }
  view.clear();
  return (await client.request<{ task: TaskView }>('GET', `/api/tasks/${encodeURIComponent(taskId)}`)).task;
}

function isAbortOrReset(err: unknown): boolean {
  const e = err as { name?: string; code?: string; cause?: { code?: string } } | null;
  return e?.name === 'AbortError' || ['ECONNRESET', 'UND_ERR_SOCKET'].includes(e?.code ?? e?.cause?.code ?? '');
}
