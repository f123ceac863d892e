// Isolated real Postgres schema + Redis prefix per test file, and a HubContext on top of them.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/core/config.ts';
import { HubContext } from '../../src/core/hub-context.ts';
import { createLogger } from '../../src/core/logger.ts';
import { createRedis } from '../../src/core/queues.ts';
import { createDatabase, migrateToLatest, type DatabaseHandle } from '../../src/core/store/create-database.ts';

/** Redis URL the tests use (set by the global setup). */
export const redisUrl = (): string => process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Postgres URL the tests use, or undefined to run on an in-memory PGlite. */
export const databaseUrl = (): string | undefined => process.env.TEST_DATABASE_URL || undefined;

/** A context on its own schema and queue prefix; `close()` drops both. */
export interface TestEnv {
  config: Config;
  ctx: HubContext;
  database: DatabaseHandle;
  prefix: string;
  schema: string;
  /** Environment for a child process (worker) that should share this env's Redis prefix. */
  childEnv: Record<string, string>;
  close(): Promise<void>;
}

/** Creates an isolated environment. `env` overrides configuration variables. */
export async function createTestEnv(env: Record<string, string> = {}): Promise<TestEnv> {
  const id = randomBytes(5).toString('hex');
  const prefix = `sbt-${id}`;
  const schema = `t_${id}`;
  const url = databaseUrl();
  if (url) {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
  }
  const vars = {
    QUEUE_PREFIX: prefix,
    REDIS_URL: redisUrl(),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    HUB_ADMINS: 'web:admin,test:admin',
    HUB_API_TOKENS: 'alice=alice-token-1,bob=bob-token-22,admin=admin-token-333',
    DEFAULT_BACKOFF_MS: '50',
    RECONCILE_INTERVAL_MS: '60000',
    PROGRESS_INTERVAL_MS: '0',
    WORKER_HEARTBEAT_MS: '500',
    SCHEDULE_MIN_INTERVAL_MS: '1000',
    ...env,
  };
  const config = loadConfig(vars);
  const database = await createDatabase({ url, memory: !url, schema, poolSize: 5 });
  await migrateToLatest(database);
  const redis = createRedis(redisUrl());
  const ctx = new HubContext(config, database.db, redis, createLogger(config.LOG_LEVEL));
  return {
    config,
    ctx,
    database,
    prefix,
    schema,
    childEnv: Object.fromEntries(Object.entries(vars)) as Record<string, string>,
    async close() {
      await ctx.queues.close();
      const keys = await redis.keys(`${prefix}:*`);
      for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
      redis.disconnect();
      await database.close();
      if (url) {
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
        await admin.end();
      }
    },
  };
}
