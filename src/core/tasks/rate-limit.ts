// The hourly submission budget of a user: a sliding hour of submission times in a sorted set, reserved in one script.
import type { Redis } from 'ioredis';
import { RateLimitedError } from '../errors.ts';
import { newId } from '../ids.ts';

const HOUR_MS = 3_600_000;

// KEYS[1] the user's set; ARGV: now (ms), member, window (ms), max. Drops what left the window, adds the member
// and answers the count; over the max it takes the member back and also answers the oldest time still counted.
const RESERVE = `
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
redis.call('ZADD', KEYS[1], now, ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if n <= tonumber(ARGV[4]) then return {n} end
redis.call('ZREM', KEYS[1], ARGV[2])
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {n, oldest[2] or ARGV[1]}`;

type Reserving = Redis & {
  sbReserveSubmit(key: string, now: number, member: string, windowMs: number, max: number): Promise<[number, string?]>;
};

/**
 * Refuses a submission over `max` in the sliding hour before now, saying when to try again. Otherwise the
 * submission holds a place in the hour until the returned release gives it back (a submission refused later on).
 */
export async function reserveSubmission(redis: Redis, key: string, max: number): Promise<() => Promise<void>> {
  if (!('sbReserveSubmit' in redis)) redis.defineCommand('sbReserveSubmit', { numberOfKeys: 1, lua: RESERVE });
  const nowMs = Date.now();
  const member = `${nowMs}-${newId().slice(0, 8)}`;
  const [count, oldestScore] = await (redis as Reserving).sbReserveSubmit(key, nowMs, member, HOUR_MS, max);
  if (count <= max)
    return async () => {
      await redis.zrem(key, member);
    };
  const retryAfterMs = Math.max(1000, Number(oldestScore ?? nowMs) + HOUR_MS - nowMs);
  throw new RateLimitedError(
    `You have submitted ${max} tasks in the last hour, the limit. Try again in ${Math.ceil(retryAfterMs / 60_000)} minute(s).`,
    retryAfterMs,
  );
}
