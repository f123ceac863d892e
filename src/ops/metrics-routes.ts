// HTTP side of the metrics: GET /metrics (optionally behind METRICS_TOKEN), per-route request metrics, and the
// admin success-rate endpoint that `switchboard workers` shows.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { UnauthorizedError } from '../core/errors.ts';
import type { HubContext } from '../core/hub-context.ts';
import { authenticate, bearerToken, requireAdmin, TokenAuthenticator } from '../frontends/web/auth.ts';
import { useZodSchemas, zodCompilers } from '../frontends/web/openapi.ts';
import type { HubMetrics } from './hub-metrics.ts';
import { exposition, METRICS_CONTENT_TYPE } from './process-metrics.ts';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Whether a presented bearer token equals the configured one (constant time). */
export function tokenMatches(presented: string | null, expected: string): boolean {
  return presented !== null && timingSafeEqual(digest(presented), digest(expected));
}

/** GET /metrics: Prometheus text of the hub, BullMQ's export of the hub's own queues and the process defaults. */
export function registerMetricsRoute(server: FastifyInstance, metrics: HubMetrics, token: string | undefined): void {
  const schema = {
    tags: ['ops'],
    summary: 'Prometheus metrics of the hub, its queues and the process (bearer METRICS_TOKEN when set)',
    security: token ? [{ bearer: [] }] : [],
    response: { 200: { content: { 'text/plain': { schema: z.string().describe('Prometheus text format 0.0.4') } } } },
  };
  // As a plugin, so that the OpenAPI generator registered before it sees the route.
  void server.register(async (scope) =>
    scope.get('/metrics', { ...zodCompilers, schema }, async (request, reply) => {
      if (token && !tokenMatches(bearerToken(request.headers.authorization), token)) {
        reply.header('www-authenticate', 'Bearer realm="metrics"');
        throw new UnauthorizedError('Metrics need "Authorization: Bearer <METRICS_TOKEN>".');
      }
      await metrics.refresh();
      const [own, bull] = await Promise.all([exposition(metrics.registry), metrics.bullmqText()]);
      return reply.type(METRICS_CONTENT_TYPE).send(`${own}\n${bull}`);
    }),
  );
}

/** Counts and times every HTTP request by method, route pattern (never the raw URL) and status. */
export function installHttpMetrics(server: FastifyInstance, metrics: HubMetrics): void {
  server.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const method = request.method;
    metrics.httpRequests.inc({ method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method, route }, reply.elapsedTime / 1000);
    done();
  });
}

const outcomeStats = z.object({
  ok: z.number(),
  failed: z.number(),
  rate: z.number().nullable().describe('ok / (ok + failed); null when nothing finished in the window'),
});
/** The answer of GET /api/admin/success-rates. */
export const successRatesJson = z.object({
  windowMinutes: z.number(),
  capabilities: z.record(z.string(), outcomeStats),
  workers: z.record(z.string(), outcomeStats),
});

/** GET /api/admin/success-rates: success rate per capability and per worker over the sliding window (admins). */
export function registerSuccessRoute(
  server: FastifyInstance,
  deps: { ctx: HubContext; tokens: Map<string, string>; metrics: HubMetrics },
): void {
  void server.register(async (scope) => {
    scope.addHook('onRequest', authenticate(deps.ctx, new TokenAuthenticator(deps.tokens)));
    scope.addHook('onRequest', requireAdmin());
    useZodSchemas(scope);
    scope.withTypeProvider<ZodTypeProvider>().get(
      '/api/admin/success-rates',
      {
        schema: {
          tags: ['admin'],
          summary: 'Success rate per capability and per worker over the sliding window',
          response: { 200: successRatesJson },
        },
      },
      async () => deps.metrics.successRates(),
    );
  });
}
