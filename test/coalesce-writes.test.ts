// Write coalescing on Redis connections: the commands of one event-loop turn leave in one socket write, replies still
// match their commands, and it holds again after a reconnect (a new socket).
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { coalesceWrites } from '../src/core/coalesce-writes.ts';
import { createRedis } from '../src/core/queues.ts';
import { redisUrl } from './helpers/test-env.ts';

const prefix = `sbt-cw-${randomBytes(4).toString('hex')}`;
const opened: Redis[] = [];

/** Counts the socket writes (`_write` and `_writev` calls) the connection makes from now on. */
function countWrites(redis: Redis): () => number {
  const socket = (redis as unknown as { stream: Record<string, (...args: unknown[]) => unknown> }).stream;
  let writes = 0;
  for (const method of ['_write', '_writev']) {
    const original = socket[method]!;
    socket[method] = (...args: unknown[]) => {
      writes++;
      return original.apply(socket, args);
    };
  }
  return () => writes;
}

/** Twenty SETs issued in one turn, then their values read back in another; the writes the SETs took. */
async function burst(redis: Redis, tag: string): Promise<number> {
  const writes = countWrites(redis);
  const keys = Array.from({ length: 20 }, (_, i) => `${prefix}:${tag}:${i}`);
  const replies = await Promise.all(keys.map((k, i) => redis.set(k, `v${i}`)));
  const taken = writes();
  expect(replies).toEqual(keys.map(() => 'OK'));
  expect(await redis.mget(...keys)).toEqual(keys.map((_, i) => `v${i}`));
  return taken;
}

afterAll(async () => {
  const cleanup = new Redis(redisUrl());
  const keys = await cleanup.keys(`${prefix}:*`);
  if (keys.length) await cleanup.del(...keys);
  cleanup.disconnect();
  for (const r of opened) r.disconnect();
});

describe('coalesceWrites', () => {
  it('sends the commands of one turn in one write; a plain connection makes one write per command', async () => {
    const plain = new Redis(redisUrl());
    const coalesced = createRedis(redisUrl());
    opened.push(plain, coalesced);
    await Promise.all([plain.ping(), coalesced.ping()]);
    expect(await burst(plain, 'plain')).toBe(20);
    expect(await burst(coalesced, 'coalesced')).toBe(1);
  });

  it('keeps coalescing after a reconnect, on the new socket', async () => {
    const redis = coalesceWrites(new Redis(redisUrl()));
    opened.push(redis);
    await redis.ping();
    const first = (redis as unknown as { stream: Socket }).stream;
    redis.disconnect(true);
    await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
    expect((redis as unknown as { stream: Socket }).stream).not.toBe(first);
    expect(await burst(redis, 'reconnected')).toBe(1);
  });
});
