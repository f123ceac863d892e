// Worker registrations in Redis: heartbeats with a TTL, and who can serve which capability.
import type { Redis } from 'ioredis';
import { matchesAny } from './capability-pattern.ts';
import type { RedisKeys } from './redis-keys.ts';
import type { WorkerInfo } from './types.ts';

/** Writes (refreshes) a worker's registration; it disappears `ttlMs` after the last call. */
export async function writeHeartbeat(redis: Redis, keys: RedisKeys, info: WorkerInfo, ttlMs: number): Promise<void> {
  await redis
    .multi()
    .set(keys.worker(info.id), JSON.stringify(info), 'PX', ttlMs)
    .zadd(keys.workers, info.seenAt + ttlMs, info.id)
    .exec();
}

/** Removes a worker's registration at once (graceful shutdown). */
export async function removeHeartbeat(redis: Redis, keys: RedisKeys, id: string): Promise<void> {
  await redis.multi().del(keys.worker(id)).zrem(keys.workers, id).exec();
}

/** Every worker whose heartbeat has not expired; expired index entries are pruned. */
export async function listLiveWorkers(redis: Redis, keys: RedisKeys, now = Date.now()): Promise<WorkerInfo[]> {
  await redis.zremrangebyscore(keys.workers, '-inf', now);
  const ids = await redis.zrange(keys.workers, 0, -1);
  if (ids.length === 0) return [];
  const raw = await redis.mget(ids.map((id) => keys.worker(id)));
  return raw.flatMap((r) => (r ? [JSON.parse(r) as WorkerInfo] : []));
}

/** Whether a worker advertises a pattern for the capability and has a handler for it. */
export function serves(worker: WorkerInfo, capability: string): boolean {
  return (
    worker.state !== 'SHUTDOWN' &&
    matchesAny(worker.patterns, capability) &&
    matchesAny(worker.capabilities, capability)
  );
}

/** The capabilities among `needed` that no live worker can run. */
export function unservedCapabilities(workers: WorkerInfo[], needed: string[]): string[] {
  return [...new Set(needed)].filter((c) => !workers.some((w) => serves(w, c)));
}

/**
 * Which capabilities live workers serve, for the per-submit "is anyone there?" check at O(1) Redis work per
 * task however many workers there are. The live ids are re-read at most every `maxAgeMs` (one read shared by
 * concurrent callers), and only the registrations of ids not seen before are fetched: a worker's patterns and
 * capabilities never change under one id. Answers are memoised per capability between reads, and a capability
 * that looks unserved is re-checked against a read that started after the question was asked, so a worker that
 * has just registered is never reported missing. A worker that just left may count as present for `maxAgeMs`.
 */
export class WorkerDirectory {
  private readonly known = new Map<string, WorkerInfo>();
  private readStartedAt = -Infinity;
  private reading?: Promise<void>;
  private readonly served = new Map<string, boolean>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly maxAgeMs = 5000,
  ) {}

  /** The capabilities among `needed` that no live worker can run. */
  async unserved(needed: string[]): Promise<string[]> {
    const askedAt = Date.now();
    await this.readSince(askedAt - this.maxAgeMs);
    const missing = this.check(needed);
    if (missing.length === 0) return missing;
    await this.readSince(askedAt);
    return this.check(needed);
  }

  private check(needed: string[]): string[] {
    return [...new Set(needed)].filter((c) => {
      let ok = this.served.get(c);
      if (ok === undefined) this.served.set(c, (ok = [...this.known.values()].some((w) => serves(w, c))));
      return !ok;
    });
  }

  /** Makes sure the cached registrations come from a read that started at or after `since`. */
  private async readSince(since: number): Promise<void> {
    while (this.readStartedAt < since) {
      if (!this.reading) {
        const startedAt = Date.now();
        this.reading = this.read()
          .then(() => {
            this.readStartedAt = startedAt;
          })
          .finally(() => {
            this.reading = undefined;
          });
      }
      await this.reading;
    }
  }

  private async read(): Promise<void> {
    const now = Date.now();
    const res = await this.redis
      .pipeline()
      .zremrangebyscore(this.keys.workers, '-inf', now)
      .zrange(this.keys.workers, 0, -1)
      .exec();
    const ids = (res?.[1]?.[1] as string[] | undefined) ?? [];
    const live = new Set(ids);
    const fresh = ids.filter((id) => !this.known.has(id));
    const raw = fresh.length ? await this.redis.mget(fresh.map((id) => this.keys.worker(id))) : [];
    for (const id of [...this.known.keys()]) if (!live.has(id)) this.known.delete(id);
    raw.forEach((r, i) => {
      if (r) this.known.set(fresh[i]!, JSON.parse(r) as WorkerInfo);
    });
    this.served.clear();
  }
}
