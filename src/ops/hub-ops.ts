// Operations wiring of a hub process: metrics, tracing, request ids in logs, the queue board. main.ts makes
// two calls (createHubOps before the services, attach once the HTTP server exists) and stops it last. Tracing (the
// OpenTelemetry SDK) and the queue board are imported only when configured.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../core/config.ts';
import { RateLimitedError } from '../core/errors.ts';
import type { HubContext } from '../core/hub-context.ts';
import { logContext } from '../core/logger.ts';
import type { Planner } from '../core/planning/plan.ts';
import { setQueueTelemetry } from '../core/queues.ts';
import type { TaskService } from '../core/tasks/task-service.ts';
import { HubMetrics } from './hub-metrics.ts';
import { installHttpMetrics, registerMetricsRoute, registerSuccessRoute } from './metrics-routes.ts';
import type { TaskTracer } from './task-tracer.ts';
import type { Tracing } from './tracing.ts';

/** The operations side of one hub. */
export interface HubOps {
  metrics: HubMetrics;
  /** Set when OTEL_EXPORTER_OTLP_ENDPOINT is. */
  tracing?: Tracing | undefined;
  /** The planner to hand the task service (traced when tracing is on). */
  planner(inner: Planner): Planner;
  /** Adds /metrics, request metrics, request ids, request spans, the queue board; instruments submissions. */
  attach(deps: { server: FastifyInstance; tasks: TaskService; tokens: Map<string, string> }): Promise<void>;
  stop(): Promise<void>;
}

/** A short planner label for metrics: RulePlanner -> rule, LlmPlanner -> llm, anything else -> custom. */
export function plannerLabel(planner: Planner): string {
  const name = planner.constructor?.name ?? '';
  return name && name !== 'Object' ? name.replace(/Planner$/, '').toLowerCase() || 'custom' : 'custom';
}

/** Creates the hub's metrics and (if configured) tracing, and registers their event sinks. */
export async function createHubOps(
  config: Config,
  ctx: HubContext,
  opts: { planner: Planner; version: string; exportDelayMs?: number },
): Promise<HubOps> {
  const metrics = new HubMetrics(ctx, {
    planner: plannerLabel(opts.planner),
    windowMinutes: config.METRICS_WINDOW_MINUTES,
  });
  ctx.onEvents(metrics.sink);
  let tracing: Tracing | undefined;
  let tracer: TaskTracer | undefined;
  if (config.OTEL_EXPORTER_OTLP_ENDPOINT) {
    const [{ TaskTracer }, { startTracing }] = await Promise.all([import('./task-tracer.ts'), import('./tracing.ts')]);
    tracing = startTracing({
      endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
      serviceName: config.OTEL_SERVICE_NAME,
      version: opts.version,
      exportDelayMs: opts.exportDelayMs,
    });
    if (tracing) {
      tracer = new TaskTracer(tracing.tracer);
      setQueueTelemetry(tracing.bullmq);
      ctx.onEvents(tracer.sink);
    }
  }
  return {
    metrics,
    tracing,
    planner: (inner) => (tracer ? tracer.planner(inner) : inner),
    async attach({ server, tasks, tokens }) {
      installRequestIds(server);
      installHttpMetrics(server, metrics);
      if (tracer) (await import('./task-tracer.ts')).installRequestTracing(server, tracer.tracer);
      registerMetricsRoute(server, metrics, config.METRICS_TOKEN);
      registerSuccessRoute(server, { ctx, tokens, metrics });
      if (config.QUEUE_BOARD !== 'off') {
        const { registerQueueBoard } = await import('./queue-board.ts');
        registerQueueBoard(server, { ctx, tokens, readOnly: config.QUEUE_BOARD === 'readonly' });
      }
      instrumentSubmit(tasks, metrics, tracer);
    },
    async stop() {
      await metrics.stop();
      if (tracing) {
        tracer?.endAll();
        setQueueTelemetry(undefined);
        await tracing.shutdown();
      }
    },
  };
}

/** Echoes the request id (`x-request-id`) and adds it to every log line written while the request is handled. */
function installRequestIds(server: FastifyInstance): void {
  server.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  // After the body is read, so the handler (and the task logs it writes) runs inside the context.
  server.addHook('preValidation', (request, _reply, done) => logContext.run({ reqId: request.id }, done));
}

/** Counts rate-limit refusals and traces each submission (a composition-level wrapper, core stays unaware). */
function instrumentSubmit(tasks: TaskService, metrics: HubMetrics, tracer: TaskTracer | undefined): void {
  const submit = tasks.submit.bind(tasks);
  tasks.submit = async (req) => {
    const run = async () => {
      try {
        return await submit(req);
      } catch (err) {
        if (err instanceof RateLimitedError) metrics.rateLimited.inc({ platform: req.origin.platform });
        throw err;
      }
    };
    return tracer ? tracer.traceSubmit(req.origin, run) : run();
  };
}
