// HTTP side of the metrics: GET /metrics (optionally behind METRICS_TOKEN), per-route request metrics, and the
// admin success-rate endpoint that `switchboard workers` shows.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { UnauthorizedError } from '../core/errors.ts';
import type { HubContext } from '../core/hub-context.ts';
import { authenticate, bearerToken, requireAdmin, TokenAuthenticator } from '../frontends/web/auth.ts';
import type { HubMetrics } from './hub-metrics.ts';
import { exposition, METRICS_CONTENT_TYPE } from './process-metrics.ts';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Whether a presented bearer token equals the configured one (constant time). */
export function tokenMatches(presented: string | null, expected: string): boolean {
  return presented !== null && timingSafeEqual(digest(presented), digest(expected));
}

/** GET /metrics: Prometheus text of the hub, BullMQ's export of the hub's own queues and the process defaults. */
export function registerMetricsRoute(server: FastifyInstance, metrics: HubMetrics, token: string | undefined): void {
  server.get('/metrics', async (request, reply) => {
    if (token && !tokenMatches(bearerToken(request.headers.authorization), token)) {
      reply.header('www-authenticate', 'Bearer realm="metrics"');
      throw new UnauthorizedError('Metrics need "Authorization: Bearer <METRICS_TOKEN>".');
    }
    await metrics.refresh();
    const [own, bull] = await Promise.all([exposition(metrics.registry), metrics.bullmqText()]);
    return reply.type(METRICS_CONTENT_TYPE).send(`${own}\n${bull}`);
  });
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

/** GET /api/admin/success-rates: success rate per capability and per worker over the sliding window (admins). */
export function registerSuccessRoute(
  server: FastifyInstance,
  deps: { ctx: HubContext; tokens: Map<string, string>; metrics: HubMetrics },
): void {
  void server.register(async (scope) => {
    scope.addHook('onRequest', authenticate(deps.ctx, new TokenAuthenticator(deps.tokens)));
    scope.addHook('onRequest', requireAdmin());
    scope.get('/api/admin/success-rates', async () => deps.metrics.successRates());
  });
}
