// GET /ws: task events over a WebSocket (own tasks, one task, or all for admins), resumable by event id.
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { HubError, InvalidInputError } from '../../core/errors.ts';
import type { HubContext, HubEvent } from '../../core/hub-context.ts';
import { toHubEvent } from '../../core/hub-context.ts';
import { duplicateRedis } from '../../core/queues.ts';
import { DemandSubscription } from './demand-subscription.ts';
import type { TaskService } from '../../core/tasks/task-service.ts';
import { callerOf, type WebCaller } from './auth.ts';
import { serializeTask } from './serialize.ts';
import { type Scope, WsClient } from './ws-client.ts';

/** Options of the WebSocket route. */
export interface WsOptions {
  ctx: HubContext;
  tasks: TaskService;
  /** Interval of heartbeat messages and pings; a client that misses a pong for one interval is closed. */
  heartbeatMs: number;
  /** A client whose unsent data exceeds this many bytes is cut off instead of buffering more. */
  maxBufferBytes: number;
}

const REPLAY_PAGE = 500;
const OWNER_CACHE = 10_000;

/** Query of GET /ws. */
export const wsQuery = z.object({
  after: z
    .string()
    .regex(/^\d{1,19}$/, 'must be an event id (a number)')
    .optional()
    .describe('Resume: replay stored events with a larger id first'),
  task: z.string().optional().describe('Only this task (id or prefix)'),
  all: z.enum(['true', 'false']).optional().describe("Admins: every user's tasks"),
});

/** Messages a client may send. */
const clientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('subscribe'), taskId: z.string().optional(), all: z.boolean().optional() }),
  z.object({ type: z.literal('unsubscribe') }),
  z.object({ type: z.literal('ping') }),
]);

/** Fans task events from Redis out to WebSocket clients, filtered by what each may see. */
export class WsHub {
  private sub: Redis | null = null;
  private subscription: DemandSubscription | null = null;
  private readonly clients = new Set<WsClient>();
  private readonly owners = new Map<string, string>();
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  /** Clients cut off for being slow or silent (since start). */
  dropped = 0;

  constructor(private readonly opts: WsOptions) {}

  /** Opens the subscriber connection (subscribed while clients are connected) and starts heartbeats. */
  async start(): Promise<void> {
    if (this.sub) return;
    const { ctx } = this.opts;
    // A lost connection is the outage of the hub's Redis, reported once by its outage log.
    const sub = duplicateRedis(ctx.redis, (err) => ctx.log.warn({ err }, 'web WebSocket subscriber error'));
    sub.on('message', (_channel: string, payload: string) => this.onMessage(payload));
    this.sub = sub;
    this.subscription = new DemandSubscription(sub, [ctx.keys.events]);
    this.timer = setInterval(() => {
      for (const c of this.clients) c.beat();
    }, this.opts.heartbeatMs);
    this.timer.unref();
  }

  /** Closes every client and the subscriber. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const c of this.clients) {
      c.closed = true;
      c.socket.close(1001, 'hub shutting down');
    }
    this.clients.clear();
    const sub = this.sub;
    this.sub = null;
    this.subscription = null;
    if (sub) await sub.quit().catch(() => sub.disconnect());
    await this.chain;
  }

  /** Number of connected clients. */
  get size(): number {
    return this.clients.size;
  }

  /** Serves one upgraded connection. */
  async accept(socket: WebSocket, caller: WebCaller, query: z.infer<typeof wsQuery>): Promise<void> {
    const { ctx, tasks } = this.opts;
    let scope: Scope = { kind: 'own' };
    if (query.task) scope = { kind: 'task', taskId: (await tasks.findVisible(query.task, caller)).id };
    else if (query.all === 'true' && caller.isAdmin) scope = { kind: 'all' };
    const log = ctx.log.child({ ws: caller.userId });
    const leave = () => {
      if (this.clients.delete(client)) this.subscription?.release();
    };
    const client = new WsClient(socket, caller, scope, query.after ?? null, this.opts.maxBufferBytes, (reason) => {
      this.dropped++;
      leave();
      log.warn({ reason }, 'WebSocket client cut off');
    });
    // Join the fan-out (subscribed) before reading the replay, so nothing committed in between is missed.
    const joined = this.subscription?.hold();
    this.clients.add(client);
    socket.on('close', () => {
      client.closed = true;
      leave();
    });
    socket.on('message', (data) => void this.onClientMessage(client, String(data)));
    client.send({
      type: 'hello',
      userId: caller.userId,
      isAdmin: caller.isAdmin,
      scope: scope.kind,
      taskId: scope.kind === 'task' ? scope.taskId : null,
      heartbeatMs: this.opts.heartbeatMs,
    });
    await joined;
    try {
      if (query.after !== undefined) {
        for (;;) {
          const page = await this.replayPage(client);
          if (client.closed) return;
          for (const e of page) client.sendEvent(e);
          if (page.length < REPLAY_PAGE) break;
        }
      }
      client.goLive();
    } catch (err) {
      log.error({ err }, 'WebSocket replay failed');
      socket.close(1011, 'replay failed');
    }
  }

  private async replayPage(client: WsClient): Promise<HubEvent[]> {
    let q = this.opts.ctx.db
      .selectFrom('task_events as e')
      .innerJoin('tasks as t', 't.id', 'e.task_id')
      .selectAll('e')
      .where('e.id', '>', client.afterId ?? '0');
    if (client.scope.kind === 'task') q = q.where('e.task_id', '=', client.scope.taskId);
    else if (client.scope.kind === 'own') q = q.where('t.user_id', '=', client.caller.userId);
    const rows = await q.orderBy('e.id').limit(REPLAY_PAGE).execute();
    return rows.map(toHubEvent);
  }

  private async onClientMessage(client: WsClient, text: string): Promise<void> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      client.send({ type: 'error', message: 'Messages must be JSON, e.g. {"type":"subscribe","taskId":"..."}.' });
      return;
    }
    const msg = clientMessage.safeParse(parsed);
    if (!msg.success) {
      client.send({
        type: 'error',
        message: 'Unknown message: send {"type":"subscribe","taskId":"..."}, unsubscribe or ping.',
      });
      return;
    }
    try {
      const m = msg.data;
      if (m.type === 'ping') client.send({ type: 'pong' });
      else if (m.type === 'unsubscribe') client.scope = { kind: 'own' };
      else if (m.taskId) {
        const task = await this.opts.tasks.findVisible(m.taskId, client.caller);
        client.scope = { kind: 'task', taskId: task.id };
      } else if (m.all) {
        if (!client.caller.isAdmin) throw new InvalidInputError('Only admins may subscribe to every task.');
        client.scope = { kind: 'all' };
      }
      if (m.type !== 'ping')
        client.send({
          type: 'subscribed',
          scope: client.scope.kind,
          taskId: client.scope.kind === 'task' ? client.scope.taskId : null,
        });
    } catch (err) {
      client.send({ type: 'error', message: err instanceof HubError ? err.message : 'That did not work.' });
    }
  }

  private onMessage(payload: string): void {
    if (this.clients.size === 0) return;
    let events: HubEvent[];
    try {
      const parsed = JSON.parse(payload);
      if (!Array.isArray(parsed)) return;
      events = (parsed as HubEvent[]).filter((e) => e && typeof e.taskId === 'string');
    } catch {
      return;
    }
    // One chain keeps batches in publish order while owners are looked up.
    this.chain = this.chain
      .then(() => this.deliver(events))
      .catch((err) => this.opts.ctx.log.warn({ err }, 'WebSocket delivery failed'));
  }

  private async deliver(events: HubEvent[]): Promise<void> {
    // A state change travels with the task as it is now, so pages need no second request to show it.
    const changed = [...new Set(events.filter((e) => typeof e.data?.status === 'string').map((e) => e.taskId))];
    const rows = changed.length
      ? await this.opts.ctx.db.selectFrom('tasks').selectAll().where('id', 'in', changed).execute()
      : [];
    const summaries = new Map(rows.map((r) => [r.id, serializeTask(r)]));
    for (const r of rows) this.remember(r.id, r.user_id);
    const needOwners = [...this.clients].some((c) => c.scope.kind === 'own');
    if (needOwners) await this.loadOwners(events.map((e) => e.taskId));
    for (const e of events) {
      const owner = this.owners.get(e.taskId);
      const task = typeof e.data?.status === 'string' ? summaries.get(e.taskId) : undefined;
      for (const c of this.clients) {
        const s = c.scope;
        if (
          s.kind === 'all' ||
          (s.kind === 'task' && s.taskId === e.taskId) ||
          (s.kind === 'own' && owner === c.caller.userId)
        )
          c.deliver(e, task);
      }
    }
  }

  private async loadOwners(taskIds: string[]): Promise<void> {
    const missing = [...new Set(taskIds)].filter((id) => !this.owners.get(id));
    if (missing.length === 0) return;
    const rows = await this.opts.ctx.db
      .selectFrom('tasks')
      .select(['id', 'user_id'])
      .where('id', 'in', missing)
      .execute();
    for (const r of rows) this.remember(r.id, r.user_id);
  }

  private remember(taskId: string, userId: string): void {
    this.owners.delete(taskId);
    this.owners.set(taskId, userId);
    if (this.owners.size > OWNER_CACHE) this.owners.delete(this.owners.keys().next().value as string);
  }
}

/** Registers GET /ws on an authenticated scope (@fastify/websocket is registered on the root by dashboard.ts). */
export function registerWsRoute(app: FastifyInstance, hub: WsHub): void {
  app.get(
    '/ws',
    {
      websocket: true,
      schema: { hide: true },
      preHandler: async (request) => {
        const caller = callerOf(request);
        // A cookie travels with cross-site WebSocket requests too: the page must be our own.
        if (caller.via === 'session') {
          const origin = request.headers.origin;
          if (origin && new URL(origin).host !== request.headers.host)
            throw new InvalidInputError('WebSocket from another site refused.');
        }
        const q = wsQuery.safeParse(request.query);
        if (!q.success)
          throw new InvalidInputError(
            `Invalid query: ${q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`,
          );
      },
    },
    (socket, request) => {
      const caller = callerOf(request);
      hub.accept(socket, caller, wsQuery.parse(request.query)).catch((err) => {
        socket.send(JSON.stringify({ type: 'error', message: err instanceof HubError ? err.message : 'failed' }));
        socket.close(1008, 'refused');
      });
    },
  );
}
