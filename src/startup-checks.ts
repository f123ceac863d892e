// Start-up checks of Redis and Postgres (fail fast, naming the variable and the fix) and quiet reporting of a
// connection lost at run time (one warning when it drops, one line when it is back).
import { Redis } from 'ioredis';
import pg from 'pg';
import { ConfigError } from './core/errors.ts';
import { OutageLog } from './core/outage-log.ts';

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

/** A connection's outage log under the name composition knows it by: `onError` / `onReady` for event listeners. */
export class ConnectionWatch extends OutageLog {
  /** Call on every connection error; only the first of an outage is logged. */
  readonly onError = (err: unknown): void => void this.report(err);

  /** Call when the connection is ready again. */
  readonly onReady = (): void => this.recovered();
}
