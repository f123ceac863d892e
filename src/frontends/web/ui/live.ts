// The live feed: one WebSocket to /ws, resumed from the last event id after a reconnect (no gaps, no duplicates).
import type { EventJson, TaskJson } from '../serialize.ts';

/** An event pushed by the hub. */
export interface LiveEvent {
  id: string | null;
  taskId: string;
  event: EventJson;
  /** The task as it is after a state change (sent with events that carry a status). */
  task?: TaskJson;
  /** performance.now() when the message arrived (for latency measurements). */
  receivedAt: number;
}

type Listener = (e: LiveEvent) => void;
/** `resumed`: the connection replays from the last event seen, so nothing in between was missed. */
type StatusListener = (connected: boolean, resumed: boolean) => void;

/** Keeps one WebSocket open while signed in and hands every event to the listeners. */
export class LiveFeed {
  private ws: WebSocket | null = null;
  private lastId: string | null = null;
  private stopped = true;
  private retryMs = 250;
  private all = false;
  private readonly listeners = new Set<Listener>();
  private readonly statusListeners = new Set<StatusListener>();

  /** Opens the feed (again after sign-in). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Closes the feed (sign-out). */
  stop(): void {
    this.stopped = true;
    this.ws?.close();
    this.ws = null;
  }

  /** Admins: follow every user's tasks (true) or only their own. */
  setAll(all: boolean): void {
    this.all = all;
    if (this.ws?.readyState === WebSocket.OPEN)
      this.ws.send(JSON.stringify(all ? { type: 'subscribe', all: true } : { type: 'unsubscribe' }));
  }

  /** Adds a listener; returns its removal. */
  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Adds a connection-state listener; returns its removal. */
  onStatus(listener: StatusListener): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  private connect(): void {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const params = new URLSearchParams();
    if (this.lastId) params.set('after', this.lastId);
    if (this.all) params.set('all', 'true');
    const q = params.size ? `?${params}` : '';
    const ws = new WebSocket(`${proto}//${location.host}/ws${q}`);
    const resumed = this.lastId !== null;
    this.ws = ws;
    ws.onopen = () => {
      this.retryMs = 250;
      for (const l of this.statusListeners) l(true, resumed);
    };
    ws.onmessage = (m) => {
      const receivedAt = performance.now();
      let msg: any;
      try {
        msg = JSON.parse(String(m.data));
      } catch {
        return;
      }
      if (msg.type !== 'event') return;
      if (msg.id !== null && (this.lastId === null || BigInt(msg.id) > BigInt(this.lastId))) this.lastId = msg.id;
      const e: LiveEvent = { id: msg.id, taskId: msg.taskId, event: msg.event, task: msg.task, receivedAt };
      for (const l of this.listeners) l(e);
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      for (const l of this.statusListeners) l(false, false);
      if (this.stopped) return;
      setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    };
  }
}

/** The one feed of the page. */
export const live = new LiveFeed();
