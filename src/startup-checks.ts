// Start-up checks of Redis and Postgres (fail fast, naming the variable and the fix) and quiet reporting of a
// connection lost at run time (one warning when it drops, one line when it is back).
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Logger } from 'pino';
import { ConfigError } from './core/errors.ts';

/** A URL for messages: host, port and path, never the password. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable URL)';
  }
}

function reason(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: Array<{ code?: string }> } | null;
  return e?.code ?? e?.errors?.[0]?.code ?? e?.message ?? String(err);
}

/** Connects once to Redis and PINGs; throws a ConfigError naming `variable` if nothing answers within `timeoutMs`. */
export async function assertRedisReachable(url: string, variable = 'REDIS_URL', timeoutMs = 5000): Promise<void> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // connect() only says "Connection is closed."; the error event has the cause (ECONNREFUSED, ENOTFOUND, ...).
  let cause: unknown;
  probe.on('error', (err) => {
    cause ??= err;
  });
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    throw new ConfigError(
      `Cannot reach Redis at ${safeUrl(url)} (${variable}): ${reason(cause ?? err).replace(/\.$/, '')}. Start Redis there or fix ${variable} (e.g. redis://127.0.0.1:6379).`,
    );
  } finally {
    probe.disconnect();
  }
}

/** Connects once to Postgres and runs `select 1`; throws a ConfigError naming DATABASE_URL when that fails. */
export async function assertPostgresReachable(url: string, timeoutMs = 5000): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
  } catch (err) {
    throw new ConfigError(
      `Cannot reach Postgres at ${safeUrl(url)} (DATABASE_URL): ${reason(err)}. Start Postgres there or fix DATABASE_URL (e.g. postgres://user:password@127.0.0.1:5432/switchboard); leave it unset to use the embedded database.`,
    );
  } finally {
    await client.end().catch(() => {});
  }
}

/** Reports a dependency's connection errors once per outage: a warning when it drops, info when it is back. */
export class ConnectionWatch {
  private down = false;

  constructor(
    private readonly log: Logger,
    private readonly what: string,
  ) {}

  /** Call on every connection error; only the first of an outage is logged. */
  readonly onError = (err: unknown): void => {
    if (this.down) return;
    this.down = true;
    this.log.warn({ err: reason(err) }, `${this.what} connection lost; retrying quietly until it is back`);
  };

  /** Call when the connection is ready again. */
  readonly onReady = (): void => {
    if (!this.down) return;
    this.down = false;
    this.log.info(`${this.what} connection restored`);
  };

  /** Whether the last event was an error. */
  get isDown(): boolean {
    return this.down;
  }

  /** Makes a Redis connection report through this watch. */
  watch(redis: Redis): Redis {
    redis.on('error', this.onError);
    redis.on('ready', this.onReady);
    return redis;
  }
}
