// GET /api/tasks/:id/stream: Server-Sent Events of one task, replaying stored events before live ones. The stream
// ends after the task's final event; for a task that has already finished, right after replaying its history.
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { InvalidInputError } from '../../core/errors.ts';
import { isBigintId } from '../../core/ids.ts';
import { isTerminalTask } from '../../core/tasks/lifecycle.ts';
import type { HubContext } from '../../core/hub-context.ts';
import { toHubEvent } from '../../core/hub-context.ts';
import type { TaskService } from '../../core/tasks/task-service.ts';
import { callerOf } from './auth.ts';
import { useZodSchemas } from './openapi.ts';
import { eventItem, formatSse, type SseHub, type SseItem, type SseSubscriber } from './sse-hub.ts';

/** Options of the stream route. */
export interface StreamRouteOptions {
  ctx: HubContext;
  tasks: TaskService;
  hub: SseHub;
  /** Interval of `: ping` comments that keep proxies from closing an idle stream. */
  heartbeatMs: number;
}

const REPLAY_PAGE = 500;
/** Events after which a task is finished: the live stream ends with them. */
const FINAL_EVENTS = new Set(['completed', 'failed', 'cancelled', 'rejected']);
const params = z.object({ id: z.string() });
const query = z
  .object({ after: z.string().optional().describe('Resume after this event id (or send the Last-Event-ID header)') })
  .loose();
const headers = z.object({ 'last-event-id': z.string().optional() }).loose();
/** What the stream carries: `event: <type>`, `id: <event id>`, `data: <JSON of the event>` blocks and `: ping` comments. */
const eventStream = {
  description:
    'Server-Sent Events: stored events are replayed first, then live ones; the stream ends after the final event ' +
    '(completed, failed, cancelled, rejected). Each block has `id:` (the event id), `event:` (its type) and `data:` ' +
    '(the event as JSON); `: ping` comments keep idle connections open.',
  content: { 'text/event-stream': { schema: z.string() } },
};

/** Whether event id `a` comes after `b` (ids are bigint strings). */
function isAfter(a: string, b: string | null): boolean {
  return b === null || BigInt(a) > BigInt(b);
}

/** One open stream: writes items, pings, and ends cleanly once. */
class SseConnection implements SseSubscriber {
  private closed = false;
  private live = false;
  private readonly buffered: SseItem[] = [];
  private lastId: string | null;
  private readonly ping: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    after: string | null,
    heartbeatMs: number,
    private readonly onClose: () => void,
  ) {
    this.lastId = after;
    this.ping = setInterval(() => this.raw(': ping\n\n'), heartbeatMs);
    this.ping.unref();
    res.on('close', () => this.close());
  }

  /** Live delivery: buffered until the replay is done, then written directly. */
  deliver(item: SseItem): void {
    if (this.live) this.write(item);
    else this.buffered.push(item);
  }

  /** Writes a replayed (stored) event and remembers its id. */
  write(item: SseItem): void {
    if (item.id !== null) {
      if (!isAfter(item.id, this.lastId)) return;
      this.lastId = item.id;
    }
    this.raw(formatSse(item));
    // Live, a final event ends the stream (replayed ones may be followed by a retry, so they do not).
    if (this.live && FINAL_EVENTS.has(item.event)) this.close();
  }

  /** Ends the replay: flushes buffered live items newer than the last replayed one, then goes live. */
  goLive(): void {
    this.live = true;
    for (const item of this.buffered.splice(0)) this.write(item);
  }

  get afterId(): string | null {
    return this.lastId;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ping);
    this.onClose();
    if (!this.res.writableEnded) this.res.end();
  }

  private raw(text: string): void {
    if (this.closed || this.res.writableEnded || this.res.destroyed) return;
    this.res.write(text);
  }
}

/** Registers the SSE route on an (authenticated) scope. */
export function registerStreamRoute(scope: FastifyInstance, opts: StreamRouteOptions): void {
  const { ctx, tasks, hub } = opts;
  useZodSchemas(scope);
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const schema = {
    tags: ['tasks'],
    summary: "A task's events as Server-Sent Events (history, then live until it finishes)",
    params,
    querystring: query,
    headers,
    response: { 200: eventStream },
  };
  app.get('/api/tasks/:id/stream', { schema }, async (request, reply) => {
    const caller = callerOf(request);
    const { id } = request.params;
    const header = request.headers['last-event-id'];
    const after = header?.trim() || request.query.after?.trim() || null;
    if (after !== null && !isBigintId(after))
      throw new InvalidInputError(
        'Last-Event-ID (or ?after=) must be an event id (a number up to 9223372036854775807).',
      );
    const task = await tasks.findVisible(id, caller);

    let remove: () => void = () => {};
    const conn = new SseConnection(reply.raw, after, opts.heartbeatMs, () => remove());
    // Subscribe before reading the replay, so nothing committed in between is missed.
    remove = await hub.add(task.id, conn);
    if (conn.isClosed) remove(); // gone while subscribing
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    reply.raw.write('retry: 2000\n\n');
    const replay = async () => {
      for (;;) {
        const page = await tasks.eventsAfter(task.id, conn.afterId, REPLAY_PAGE);
        if (conn.isClosed) return;
        for (const row of page) conn.write(eventItem(toHubEvent(row)));
        if (page.length < REPLAY_PAGE) break;
      }
    };
    try {
      await replay();
      const now = await ctx.db.selectFrom('tasks').select('status').where('id', '=', task.id).executeTakeFirst();
      if (now && isTerminalTask(now.status)) {
        // Already finished: what was committed before the status read is all there is.
        await replay();
        conn.close();
        return;
      }
      conn.goLive();
    } catch (err) {
      ctx.log.error({ err, taskId: task.id }, 'SSE replay failed');
      conn.close();
    }
  });
}
