// Operations of a standalone worker: per-capability job metrics on `--metrics-port` (off by default) and tracing.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Config } from '../core/config.ts';
import { setQueueTelemetry } from '../core/queues.ts';
import type { CapabilityHandler, CapabilityHandlers } from '../workers/capability.ts';
import { bearerToken } from '../frontends/web/auth.ts';
import { tokenMatches } from './metrics-routes.ts';
import { exposition, METRICS_CONTENT_TYPE } from './process-metrics.ts';
import type { Tracing } from './tracing.ts';

/** Job metrics of one worker process. */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly jobs = new Counter({
    name: 'switchboard_worker_jobs_total',
    help: 'Handler runs by capability and outcome (succeeded or failed).',
    labelNames: ['capability', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'switchboard_worker_job_duration_seconds',
    help: 'Handler run time by capability.',
    labelNames: ['capability'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900],
    registers: [this.registry],
  });

  /** `running` and `concurrency` are read at scrape time. */
  constructor(state?: () => { running: number; concurrency: number }) {
    if (!state) return;
    new Gauge({
      name: 'switchboard_worker_running_jobs',
      help: 'Jobs this worker runs now.',
      registers: [this.registry],
      collect() {
        this.set(state().running);
      },
    });
    new Gauge({
      name: 'switchboard_worker_concurrency',
      help: 'Jobs this worker runs at most at once.',
      registers: [this.registry],
      collect() {
        this.set(state().concurrency);
      },
    });
  }

  /** The same handlers, each timed and counted (one histogram observation and one counter bump per run). */
  wrap(handlers: CapabilityHandlers): CapabilityHandlers {
    const timed =
      (capability: string, run: CapabilityHandler): CapabilityHandler =>
      async (ctx) => {
        const end = this.duration.startTimer({ capability });
        try {
          const out = await run(ctx);
          this.jobs.inc({ capability, outcome: 'succeeded' });
          return out;
        } catch (err) {
          this.jobs.inc({ capability, outcome: 'failed' });
          throw err;
        } finally {
          end();
        }
      };
    return Object.fromEntries(
      Object.entries(handlers).map(([name, h]) => [
        name,
        typeof h === 'function' ? timed(name, h) : { ...h, handler: timed(name, h.handler) },
      ]),
    );
  }
}

/** Serves GET /metrics on `port` (METRICS_TOKEN enforced when set); resolves once listening. */
export async function serveWorkerMetrics(
  metrics: WorkerMetrics,
  opts: { port: number; host?: string; token?: string | undefined },
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: this port serves GET /metrics only.\n');
      return;
    }
    if (opts.token && !tokenMatches(bearerToken(req.headers.authorization), opts.token)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="metrics"' });
      res.end('Metrics need "Authorization: Bearer <METRICS_TOKEN>".\n');
      return;
    }
    exposition(metrics.registry).then(
      (text) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${addr.port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Tracing for a worker process (its jobs continue the hub's traces through BullMQ), or undefined when off; the
 * OpenTelemetry SDK is imported only when OTEL_EXPORTER_OTLP_ENDPOINT is set.
 */
export async function startWorkerTracing(config: Config, version: string): Promise<Tracing | undefined> {
  if (!config.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  const { startTracing } = await import('./tracing.ts');
  const tracing = startTracing({
    endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    serviceName: `${config.OTEL_SERVICE_NAME}-worker`,
    version,
  });
  if (tracing) setQueueTelemetry(tracing.bullmq);
  return tracing;
}
