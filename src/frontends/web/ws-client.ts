// One WebSocket client of /ws: what it follows, where it resumes, and when it is cut off.
import type { WebSocket } from 'ws';
import type { HubEvent } from '../../core/hub-context.ts';
import type { WebCaller } from './auth.ts';
import { serializeHubEvent, type TaskJson } from './serialize.ts';

const RECENT_IDS = 2_000;

/** What a client follows: its own tasks, every task (admins), or one task. */
export type Scope = { kind: 'own' } | { kind: 'all' } | { kind: 'task'; taskId: string };

/** One connected client: replay then live delivery, de-duplication by event id, bounded buffering, heartbeats. */
export class WsClient {
  private live = false;
  private readonly buffered: HubEvent[] = [];
  private readonly recent = new Set<string>();
  private lastId: string | null;
  private readonly after: bigint | null;
  private alive = true;
  closed = false;

  constructor(
    readonly socket: WebSocket,
    readonly caller: WebCaller,
    public scope: Scope,
    after: string | null,
    private readonly maxBuffer: number,
    private readonly onDrop: (reason: string) => void,
  ) {
    this.lastId = after;
    this.after = after === null ? null : BigInt(after);
    socket.on('pong', () => {
      this.alive = true;
    });
  }

  /** The last stored event id sent (where a reconnect resumes). */
  get afterId(): string | null {
    return this.lastId;
  }

  /** Live delivery: held back until the replay is done. */
  deliver(e: HubEvent, task?: TaskJson): void {
    if (this.live) this.sendEvent(e, task);
    else this.buffered.push(e);
  }

  /** Sends one event unless it was sent already; stored events advance the resume point. */
  sendEvent(e: HubEvent, task?: TaskJson): void {
    if (e.id !== null) {
      // Skip what was sent already, and what the client said it has (ids up to `after`).
      if (this.recent.has(e.id) || (this.after !== null && BigInt(e.id) <= this.after)) return;
      this.recent.add(e.id);
      if (this.recent.size > RECENT_IDS) this.recent.delete(this.recent.values().next().value as string);
      if (this.lastId === null || BigInt(e.id) > BigInt(this.lastId)) this.lastId = e.id;
    }
    this.send({ type: 'event', id: e.id, taskId: e.taskId, event: serializeHubEvent(e), ...(task ? { task } : {}) });
  }

  /** Ends the replay: buffered live events not yet sent follow, then delivery is direct. */
  goLive(): void {
    for (const e of this.buffered.splice(0)) this.sendEvent(e);
    this.live = true;
    this.send({ type: 'ready', lastEventId: this.lastId });
  }

  /** Sends a JSON message, or cuts the client off when too much is already waiting for it. */
  send(message: unknown): void {
    if (this.closed) return;
    if (this.socket.bufferedAmount > this.maxBuffer) {
      this.drop(`more than ${this.maxBuffer} bytes waiting to be read`);
      return;
    }
    this.socket.send(JSON.stringify(message));
  }

  /** One heartbeat: a message and a ping; a client that did not answer the previous ping is closed. */
  beat(): void {
    if (!this.alive) {
      this.drop('no pong within one heartbeat');
      return;
    }
    this.alive = false;
    this.send({ type: 'heartbeat', at: new Date().toISOString() });
    if (!this.closed) this.socket.ping();
  }

  drop(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.terminate();
    this.onDrop(reason);
  }
}
