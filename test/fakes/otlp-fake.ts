// A local OTLP/HTTP trace receiver on 127.0.0.1: accepts what @opentelemetry/exporter-trace-otlp-http posts to
// /v1/traces (OTLP JSON) and keeps the spans, flattened, for assertions.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A received span with its attributes as plain values. */
export interface FakeSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  service: string | undefined;
  attributes: Record<string, unknown>;
  startNs: bigint;
  endNs: bigint;
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type KeyValue = { key: string; value: AnyValue };

const plain = (v: AnyValue): unknown =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.boolValue ?? v.doubleValue));
const attrs = (kvs: KeyValue[] = []) => Object.fromEntries(kvs.map((kv) => [kv.key, plain(kv.value)]));

/** The fake collector. */
export class OtlpFake {
  readonly spans: FakeSpan[] = [];
  /** Requests that were not OTLP JSON on /v1/traces (the exporter would log them as failures). */
  readonly rejected: string[] = [];
  private server?: Server;
  private readonly listeners = new Set<() => void>();

  /** Base URL, e.g. http://127.0.0.1:4318, to set as OTEL_EXPORTER_OTLP_ENDPOINT. */
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const isJson = (req.headers['content-type'] ?? '').includes('application/json');
        if (req.method !== 'POST' || req.url !== '/v1/traces' || !isJson) {
          this.rejected.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
          res.writeHead(415).end();
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        for (const rs of body.resourceSpans ?? []) {
          const service = attrs(rs.resource?.attributes)['service.name'] as string | undefined;
          for (const ss of rs.scopeSpans ?? [])
            for (const s of ss.spans ?? [])
              this.spans.push({
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId || undefined,
                name: s.name,
                kind: s.kind,
                service,
                attributes: attrs(s.attributes),
                startNs: BigInt(s.startTimeUnixNano),
                endNs: BigInt(s.endTimeUnixNano),
              });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        for (const l of [...this.listeners]) l();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Spans grouped by trace id. */
  traces(): Map<string, FakeSpan[]> {
    const out = new Map<string, FakeSpan[]>();
    for (const s of this.spans) out.set(s.traceId, [...(out.get(s.traceId) ?? []), s]);
    return out;
  }

  /** Resolves once `check` holds, re-checked after every export received. */
  until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const onExport = () => {
        if (!check()) return;
        this.listeners.delete(onExport);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(onExport);
        reject(new Error(`OTLP fake: condition not met in ${timeoutMs} ms; spans: ${this.spans.map((s) => s.name)}`));
      }, timeoutMs);
      this.listeners.add(onExport);
      onExport();
    });
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
