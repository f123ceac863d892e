// One trace per task: the inbound HTTP request (if any) -> the `task` span (submit, planning, then open until
// the task is final and its result delivered) -> BullMQ's add/process spans of every job, which carry the
// context to the workers and back through the results and notify queues.
import { context, propagation, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EventSink } from '../core/hub-context.ts';
import type { Plan, PlanRequest, Planner } from '../core/planning/plan.ts';
import type { ConversationRef } from '../core/types.ts';

/** Attribute that names the task on every span that belongs to one. */
export const TASK_ID_ATTR = 'switchboard.task_id';
/** How long a task span waits for its final delivery after the task ended. */
const DELIVERY_WAIT_MS = 60_000;
const MAX_OPEN = 10_000;
const FINAL = new Set(['completed', 'failed', 'cancelled', 'rejected']);

/** Keeps the open task spans of this process and closes them from the event stream. */
export class TaskTracer {
  private readonly open = new Map<string, { span: Span; timer?: NodeJS.Timeout }>();
  /** Task spans started by `traceSubmit` and not yet adopted (never a span someone else owns). */
  private readonly own = new WeakSet<Span>();

  constructor(readonly tracer: Tracer) {}

  /** Runs `fn` (a task submission) inside a new `task` span that stays open after `fn` for the task's life. */
  async traceSubmit<T>(origin: ConversationRef, fn: () => Promise<T>): Promise<T> {
    const span = this.tracer.startSpan('task', { attributes: { 'switchboard.platform': origin.platform } });
    this.own.add(span);
    try {
      const result = await context.with(trace.setSpan(context.active(), span), fn);
      // Not adopted by an `accepted` event (nothing was created): the span ends with the call.
      if (this.own.delete(span)) span.end();
      return result;
    } catch (err) {
      this.own.delete(span);
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      span.end();
      throw err;
    }
  }

  /** A planner whose `plan` calls are `plan` spans. */
  planner(inner: Planner): Planner {
    return {
      plan: (request: PlanRequest): Promise<Plan> =>
        this.tracer.startActiveSpan('plan', async (span) => {
          try {
            const plan = await inner.plan(request);
            span.setAttribute('switchboard.steps', plan.steps.length);
            return plan;
          } catch (err) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
            throw err;
          } finally {
            span.end();
          }
        }),
    };
  }

  /** Event sink: `accepted` adopts the active task span; final events and deliveries end it. */
  readonly sink: EventSink = (events, task) => {
    for (const e of events) {
      if (e.type === 'accepted') {
        const span = trace.getActiveSpan();
        if (!span || !this.own.has(span) || this.open.has(task.id)) continue;
        this.own.delete(span);
        span.setAttribute(TASK_ID_ATTR, task.id);
        // Over the cap, the oldest tenth ends at once: one scan per MAX_OPEN/10 tasks, not one per task.
        if (this.open.size >= MAX_OPEN) for (const id of [...this.open.keys()].slice(0, MAX_OPEN / 10)) this.end(id);
        this.open.set(task.id, { span });
      } else if (FINAL.has(e.type)) {
        const entry = this.open.get(task.id);
        if (!entry) continue;
        entry.span.setAttribute('switchboard.status', task.status);
        if (task.status === 'FAILED') entry.span.setStatus({ code: SpanStatusCode.ERROR, message: task.error ?? '' });
        if (task.notify_policy === 'silent') this.end(task.id);
        else {
          entry.timer = setTimeout(() => this.end(task.id), DELIVERY_WAIT_MS);
          entry.timer.unref();
        }
      } else if (e.type === 'delivered' || e.type === 'notify.failed') {
        this.open.get(task.id)?.span.addEvent(e.type);
        this.end(task.id);
      }
    }
  };

  private end(taskId: string): void {
    const entry = this.open.get(taskId);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.open.delete(taskId);
    entry.span.end();
  }

  /** Ends every open span (shutdown). */
  endAll(): void {
    for (const id of [...this.open.keys()]) this.end(id);
  }
}

const requestSpans = new WeakMap<FastifyRequest, Span>();

/**
 * A server span per HTTP request, continuing an incoming `traceparent`. It becomes the active context from
 * preValidation on (after the body is read, so the handler runs inside it), which makes a submitted task's
 * span its child.
 */
export function installRequestTracing(server: FastifyInstance, tracer: Tracer): void {
  server.addHook('onRequest', (request, _reply, done) => {
    const parent = propagation.extract(context.active(), request.headers);
    const span = tracer.startSpan(
      `${request.method} ${request.routeOptions.url ?? 'unmatched'}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          'url.path': request.url.split('?')[0],
          'switchboard.request_id': request.id,
        },
      },
      parent,
    );
    requestSpans.set(request, span);
    done();
  });
  server.addHook('preValidation', (request, _reply, done) => {
    const span = requestSpans.get(request);
    if (!span) return done();
    context.with(trace.setSpan(context.active(), span), done);
  });
  server.addHook('onResponse', (request, reply, done) => {
    const span = requestSpans.get(request);
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    done();
  });
}
