// GET /health (the process answers) and GET /ready (Postgres and Redis answer), without authentication.
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { HubContext } from '../../core/hub-context.ts';

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

/** Registers /health and /ready. */
export function registerHealthRoutes(app: FastifyInstance, ctx: HubContext, timeoutMs = 2000): void {
  app.get('/health', async () => ({ ok: true }));
  app.get('/ready', async (_request, reply) => {
    const r = await checkReadiness(ctx, timeoutMs);
    return reply.code(r.ok ? 200 : 503).send(r);
  });
}
