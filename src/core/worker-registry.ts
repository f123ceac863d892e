// Worker registrations in Redis: heartbeats with a TTL, and who can serve which capability.
import type { Redis } from 'ioredis';
import { matchesAny } from './capability-pattern.ts';
import type { RedisKeys } from './redis-keys.ts';
import type { WorkerInfo } from './types.ts';

/** Writes (refreshes) a worker's registration; it disappears `ttlMs` after the last call. */
export async function writeHeartbeat(redis: Redis, keys: RedisKeys, info: WorkerInfo, ttlMs: number): Promise<void> {
  await redis.multi()
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
  return worker.state !== 'SHUTDOWN' && matchesAny(worker.patterns, capability) && matchesAny(worker.capabilities, capability);
}

/** The capabilities among `needed` that no live worker can run. */
export function unservedCapabilities(workers: WorkerInfo[], needed: string[]): string[] {
  return [...new Set(needed)].filter((c) => !workers.some((w) => serves(w, c)));
}
