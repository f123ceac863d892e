// Live fan-out for SSE: one Redis subscriber per frontend, delivering task events and web messages to open streams
// (subscribed only while streams are open).
import type { Redis } from 'ioredis';
import type { HubContext, HubEvent } from '../../core/hub-context.ts';
import { duplicateRedis } from '../../core/queues.ts';
import { progressOf } from '../../core/tasks/task-service.ts';
import { loadSubtasks } from '../../core/store/task-store.ts';
import { DemandSubscription } from './demand-subscription.ts';
import type { OutboundMessage } from '../frontend.ts';
import { serializeHubEvent } from './serialize.ts';

/** One Server-Sent Event: `id` null for transient events (progress, messages), which carry no `id:` line. */
export interface SseItem {
  id: string | null;
  event: string;
  data: unknown;
}

/** What the web frontend publishes on `ctx.keys.web` for `send()`/`edit()`. */
export interface WebMessageEnvelope {
  kind: 'message';
  conversationId: string;
  messageId: string;
  message: OutboundMessage;
}

/** An open stream as the hub sees it. */
export interface SseSubscriber {
  deliver(item: SseItem): void;
  /** Ends the stream (hub shutting down). */
  close(): void;
}

/** Formats one item in the text/event-stream wire format. */
export function formatSse(item: SseItem): string {
  const lines: string[] = [];
  if (item.id !== null) lines.push(`id: ${item.id}`);
  lines.push(`event: ${item.event}`);
  for (const line of JSON.stringify(item.data).split('\n')) lines.push(`data: ${line}`);
  return `${lines.join('\n')}\n\n`;
}

/** The SSE item of a task event; `progress` is the derived task progress, added to progress events. */
export function eventItem(e: HubEvent, progress?: unknown): SseItem {
  const data = { taskId: e.taskId, ...serializeHubEvent(e), ...(progress !== undefined ? { progress } : {}) };
  return { id: e.id, event: e.type, data };
}

/** Subscribes to the events and web channels while streams are open and fans messages out to each task's streams. */
export class SseHub {
  private sub: Redis | null = null;
  private subscription: DemandSubscription | null = null;
  private readonly byTask = new Map<string, Set<SseSubscriber>>();
  /** Per-task delivery chains, so an event needing a database read is not overtaken by the next. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly ctx: HubContext) {}

  /** Opens the subscriber connection (it subscribes when the first stream opens). */
  async start(): Promise<void> {
    if (this.sub) return;
    // A lost connection is the outage of the hub's Redis, reported once by its outage log.
    const sub = duplicateRedis(this.ctx.redis, (err) => this.ctx.log.warn({ err }, 'web SSE subscriber error'));
    sub.on('message', (channel: string, payload: string) => this.onMessage(channel, payload));
    this.sub = sub;
    this.subscription = new DemandSubscription(sub, [this.ctx.keys.events, this.ctx.keys.web]);
  }

  /** Ends every open stream and closes the subscriber. */
  async stop(): Promise<void> {
    const open = [...this.byTask.values()].flatMap((set) => [...set]);
    this.byTask.clear();
    for (const s of open) s.close();
    const sub = this.sub;
    this.sub = null;
    this.subscription = null;
    if (sub) await sub.quit().catch(() => sub.disconnect());
    await Promise.allSettled([...this.chains.values()]);
  }

  /**
   * Adds a stream for a task; resolves, once the channels are subscribed, with the function that removes it (the
   * caller reads its replay after that, so nothing committed in between is missed).
   */
  async add(taskId: string, subscriber: SseSubscriber): Promise<() => void> {
    let set = this.byTask.get(taskId);
    if (!set) this.byTask.set(taskId, (set = new Set()));
    set.add(subscriber);
    const subscription = this.subscription;
    let removed = false;
    const remove = () => {
      if (removed) return;
      removed = true;
      const current = this.byTask.get(taskId);
      current?.delete(subscriber);
      if (current && current.size === 0) this.byTask.delete(taskId);
      subscription?.release();
    };
    await subscription?.hold();
    return remove;
  }

  /** Number of open streams (all tasks). */
  get size(): number {
    let n = 0;
    for (const set of this.byTask.values()) n += set.size;
    return n;
  }

  private onMessage(channel: string, payload: string): void {
    // Every event of every task is published here: with no stream open there is nothing to parse it for.
    if (this.byTask.size === 0) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      return;
    }
    if (channel === this.ctx.keys.events && Array.isArray(parsed)) {
      const byTask = new Map<string, HubEvent[]>();
      for (const e of parsed as HubEvent[]) {
        if (!e || typeof e.taskId !== 'string' || !this.byTask.has(e.taskId)) continue;
        byTask.set(e.taskId, [...(byTask.get(e.taskId) ?? []), e]);
      }
      for (const [taskId, events] of byTask) this.enqueue(taskId, () => this.deliverEvents(taskId, events));
    } else if (channel === this.ctx.keys.web) {
      const env = parsed as Partial<WebMessageEnvelope> | null;
      const taskId = env?.message?.taskId;
      if (env?.kind !== 'message' || typeof taskId !== 'string' || !this.byTask.has(taskId)) return;
      const item: SseItem = {
        id: null,
        event: 'message',
        data: { conversationId: env.conversationId, messageId: env.messageId, message: env.message },
      };
      this.enqueue(taskId, async () => this.broadcast(taskId, item));
    }
  }

  private async deliverEvents(taskId: string, events: HubEvent[]): Promise<void> {
    for (const e of events) {
      let progress: unknown;
      if (e.type === 'progress') progress = await this.progressOf(taskId);
      this.broadcast(taskId, eventItem(e, progress));
    }
  }

  private async progressOf(taskId: string): Promise<unknown> {
    try {
      const task = await this.ctx.db.selectFrom('tasks').selectAll().where('id', '=', taskId).executeTakeFirst();
      if (!task) return undefined;
      return progressOf(task, await loadSubtasks(this.ctx.db, taskId));
    } catch (err) {
      this.ctx.log.warn({ err, taskId }, 'could not derive progress for SSE');
      return undefined;
    }
  }

  private broadcast(taskId: string, item: SseItem): void {
    for (const s of this.byTask.get(taskId) ?? []) s.deliver(item);
  }

  private enqueue(taskId: string, work: () => Promise<void>): void {
    const prev = this.chains.get(taskId) ?? Promise.resolve();
    const next = prev.then(work).catch((err) => this.ctx.log.warn({ err, taskId }, 'SSE delivery failed'));
    this.chains.set(taskId, next);
    void next.then(() => {
      if (this.chains.get(taskId) === next) this.chains.delete(taskId);
    });
  }
}
