// GET /health (the process answers) and GET /ready (Postgres and Redis answer), without authentication.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { sql } from 'kysely';
import { z } from 'zod';
import type { HubContext } from '../../core/hub-context.ts';
import { zodCompilers } from './openapi.ts';

/** Result of one dependency check. */
export interface CheckResult {
  ok: boolean;
  error?: string;
}

/** Readiness of the process: each dependency's result and whether all passed. */
export interface Readiness {
  ok: boolean;
  /** What is not answering, e.g. ['redis']: the hub keeps retrying it quietly. */
  down: Array<'postgres' | 'redis'>;
  postgres: CheckResult;
  redis: CheckResult;
}

async function withTimeout(what: () => Promise<unknown>, ms: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([what(), timeout]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message || err.name : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

function notConnected(ctx: Pick<HubContext, 'redis'>): Error {
  return new Error(`not connected (connection ${ctx.redis.status}); the hub keeps retrying`);
}

/** Runs `select 1` on the database and PING on Redis, each bounded by `timeoutMs`. */
export async function checkReadiness(ctx: Pick<HubContext, 'db' | 'redis'>, timeoutMs = 2000): Promise<Readiness> {
  const [postgres, redis] = await Promise.all([
    withTimeout(() => sql`select 1`.execute(ctx.db), timeoutMs),
    // Fail at once while the connection is down instead of queueing the PING until it is back.
    withTimeout(() => (ctx.redis.status === 'ready' ? ctx.redis.ping() : Promise.reject(notConnected(ctx))), timeoutMs),
  ]);
  const down = [...(postgres.ok ? [] : ['postgres' as const]), ...(redis.ok ? [] : ['redis' as const])];
  return { ok: down.length === 0, down, postgres, redis };
}

const checkJson = z.object({ ok: z.boolean(), error: z.string().optional() });
/** The answer of GET /ready (200 when ok, 503 otherwise). */
export const readinessJson = z.object({
  ok: z.boolean(),
  down: z.array(z.enum(['postgres', 'redis'])).describe('What is not answering; the hub keeps retrying it quietly'),
  postgres: checkJson,
  redis: checkJson,
});

/** Registers /health and /ready (as a plugin, so that the OpenAPI generator registered before it sees them). */
export function registerHealthRoutes(server: FastifyInstance, ctx: HubContext, timeoutMs = 2000): void {
  void server.register(async (scope) => healthRoutes(scope, ctx, timeoutMs));
}

function healthRoutes(scope: FastifyInstance, ctx: HubContext, timeoutMs: number): void {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const tags = ['health'];
  app.get(
    '/health',
    {
      ...zodCompilers,
      schema: {
        tags,
        summary: 'The process answers',
        security: [],
        response: { 200: z.object({ ok: z.literal(true) }) },
      },
    },
    async () => ({ ok: true as const }),
  );
  app.get(
    '/ready',
    {
      ...zodCompilers,
      schema: {
        tags,
        summary: 'Postgres and Redis answer (503 with what is down otherwise)',
        security: [],
        response: { 200: readinessJson, 503: readinessJson },
      },
    },
    async (_request, reply) => {
      const r = await checkReadiness(ctx, timeoutMs);
      return reply.code(r.ok ? 200 : 503).send(r);
    },
  );
}
