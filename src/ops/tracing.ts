// OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: an OTLP/HTTP exporter, the
// AsyncLocalStorage context manager (so spans follow async work), and BullMQ's telemetry adapter (bullmq-otel).
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Telemetry } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';

/** A running tracer: the tracer, BullMQ's telemetry adapter, and how to flush and stop. */
export interface Tracing {
  tracer: Tracer;
  /** Pass as `telemetry` to BullMQ queues and workers so jobs continue the trace that enqueued them. */
  bullmq: Telemetry;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** The OTLP traces URL of an endpoint: `<endpoint>/v1/traces` unless it already names the path. */
export function tracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, '');
  return base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
}

/** Starts tracing for this process (one provider per process), or returns undefined when no endpoint is set. */
export function startTracing(opts: {
  endpoint: string | undefined;
  serviceName: string;
  version: string;
  /** Batch delay; tests use a short one. */
  exportDelayMs?: number;
}): Tracing | undefined {
  if (!opts.endpoint) return undefined;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: opts.serviceName, [ATTR_SERVICE_VERSION]: opts.version }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: tracesUrl(opts.endpoint) }),
        scheduledDelayMillis: opts.exportDelayMs ?? 2000,
      }),
    ],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    tracer: provider.getTracer('switchboard', opts.version),
    bullmq: new BullMQOtel({ tracerName: 'switchboard-bullmq', version: opts.version }) as unknown as Telemetry,
    flush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
