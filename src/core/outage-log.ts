// Reports a dependency's outage once instead of once per retry: the first connection error at warn, the rest counted,
// and one line when the connection is back (how long it was down, how many errors were not logged). Errors that follow
// an outage job by job ("could not renew lock for job <id>") are logged once per kind per minute and counted.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

const CONNECTION =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|Connection is closed|Socket closed unexpectedly|Connection terminated|the database system is (shutting down|starting up)|terminating connection due to administrator command|is not queryable/i;
const MAX_KINDS = 200;

/** An error's message and code as one line. */
function textOf(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}

/** Whether an error means the connection to a dependency is gone, rather than a fault of one request. */
export function isConnectionError(err: unknown): boolean {
  return CONNECTION.test(textOf(err));
}

/** The kind of an error: its text without ids and numbers, so one lost lock per job is one kind. */
function kindOf(text: string): string {
  return text.replace(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/gi, '<id>').replace(/\d+/g, '<n>');
}

/** One outage at a time per dependency: what was logged, what was only counted. */
export class OutageLog {
  private downSince: number | undefined;
  private notLogged = 0;
  private readonly kinds = new Map<string, { at: number; repeats: number }>();

  constructor(
    private readonly log: Logger,
    private readonly what: string,
    private readonly repeatWindowMs = 60_000,
  ) {}

  /** Whether the dependency is away (a connection error came and the connection is not ready again yet). */
  get isDown(): boolean {
    return this.downSince !== undefined;
  }

  /**
   * Call on every error. A connection error starts an outage (logged once); while it lasts every error is only
   * counted. Other errors are logged with `msg` once per kind per window. Returns whether a line was written.
   */
  report(err: unknown, msg = `${this.what} error`, fields: Record<string, unknown> = {}): boolean {
    const text = textOf(err);
    if (this.downSince !== undefined) {
      this.notLogged++;
      return false;
    }
    if (isConnectionError(err)) {
      this.downSince = Date.now();
      this.log.warn({ err: text, ...fields }, `${this.what} connection lost; retrying quietly until it is back`);
      return true;
    }
    const kind = kindOf(text);
    const now = Date.now();
    const seen = this.kinds.get(kind);
    if (seen && now - seen.at < this.repeatWindowMs) {
      seen.repeats++;
      return false;
    }
    if (this.kinds.size >= MAX_KINDS) this.kinds.clear();
    this.kinds.set(kind, { at: now, repeats: 0 });
    this.log.error({ err: text, ...fields, ...(seen?.repeats ? { repeatsNotLogged: seen.repeats } : {}) }, msg);
    return true;
  }

  /** Call when the connection is ready again: ends the outage with one line. */
  recovered(): void {
    if (this.downSince === undefined) return;
    const downMs = Date.now() - this.downSince;
    this.log.info({ downMs, errorsNotLogged: this.notLogged }, `${this.what} connection restored`);
    this.downSince = undefined;
    this.notLogged = 0;
  }

  /** Makes a Redis connection report here ('error' and 'ready'), and the log its connection's (see `outageLogOf`). */
  watch(redis: Redis): Redis {
    redis.on('error', (err) => this.report(err));
    redis.on('ready', () => this.recovered());
    logs.set(redis, this);
    return redis;
  }
}

const logs = new WeakMap<Redis, OutageLog>();

/** The outage log watching `redis` (set by `watch`, shared by its duplicates), if any. */
export function outageLogOf(redis: Redis): OutageLog | undefined {
  return logs.get(redis);
}

/** The outage log of `redis`, watching it from now on if nothing did: what BullMQ workers' 'error' events go to. */
export function outageLogFor(redis: Redis, log: Logger, what = 'Redis'): OutageLog {
  return outageLogOf(redis) ?? (new OutageLog(log, what).watch(redis), outageLogOf(redis)!);
}

/** Shares the outage log of `from` with `to` (a duplicate connection): their outage is one outage. */
export function shareOutageLog(from: Redis, to: Redis): void {
  const log = logs.get(from);
  if (log) logs.set(to, log);
}
