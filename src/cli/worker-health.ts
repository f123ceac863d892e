// `switchboard worker-health`: exit 0 when a worker of this host has a live heartbeat in Redis (container healthcheck).
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { redisKeys } from '../core/redis-keys.ts';

/** Whether a worker started on this host is registered and not expired; prints why not. */
export async function workerHealthy(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!env.REDIS_URL) {
    process.stderr.write('unhealthy: REDIS_URL is not set\n');
    return false;
  }
  const redis = new Redis(env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    const keys = redisKeys(env.QUEUE_PREFIX || 'sb');
    // Scores are expiry times: a live worker's is in the future.
    const ids = await redis.zrangebyscore(keys.workers, Date.now(), '+inf');
    const mine = ids.filter((id) => id.startsWith(`${hostname()}-`));
    if (mine.length === 0) process.stderr.write(`unhealthy: no live worker of host ${hostname()} in Redis\n`);
    return mine.length > 0;
  } catch (err) {
    process.stderr.write(`unhealthy: Redis at REDIS_URL does not answer (${(err as Error).message})\n`);
    return false;
  } finally {
    redis.disconnect();
  }
}
