// The outage log: a lost dependency is one line (and one when it is back), repeats of one kind of error are counted.
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { OutageLog, outageLogFor } from '../../src/core/outage-log.ts';
import { duplicateRedis } from '../../src/core/queues.ts';

function capture() {
  const lines: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { log: pino(stream), lines };
}

describe('outage log', () => {
  it('an outage is one warning, every error during it is counted, recovery is one line with the numbers', () => {
    const { log, lines } = capture();
    const outage = new OutageLog(log, 'Redis');
    for (let i = 0; i < 100; i++) outage.report(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
    for (let i = 0; i < 20; i++) outage.report(new Error(`could not renew lock for job ${i}`), 'worker error');
    expect(outage.isDown).toBe(true);
    outage.recovered();
    outage.recovered();
    expect(lines.map((l) => l.msg)).toEqual([
      'Redis connection lost; retrying quietly until it is back',
      'Redis connection restored',
    ]);
    expect(lines[1]).toMatchObject({ errorsNotLogged: 119 });
    expect(lines[1]!.downMs).toBeGreaterThanOrEqual(0);
  });

  it('an error per job after an outage is logged once per kind; other kinds and other errors still are', () => {
    const { log, lines } = capture();
    const outage = new OutageLog(log, 'Redis');
    for (let i = 0; i < 50; i++) {
      outage.report(
        new Error(`could not renew lock for job 0b9d24b1-ca5a-4f1f-8859-30e5c8f2${String(i).padStart(4, '0')}`),
      );
      outage.report(new Error(`Missing lock for job r-${i}. moveToFinished`), 'results worker error');
    }
    outage.report(new Error('job exploded'), 'results worker error');
    expect(lines.map((l) => [l.level, l.msg, l.err])).toEqual([
      [50, 'Redis error', 'could not renew lock for job 0b9d24b1-ca5a-4f1f-8859-30e5c8f20000'],
      [50, 'results worker error', 'Missing lock for job r-0. moveToFinished'],
      [50, 'results worker error', 'job exploded'],
    ]);
  });

  it("a duplicate connection's lost connection is the outage of the connection it copies, not a line of its own", async () => {
    const { log, lines } = capture();
    const redis = new Redis('redis://127.0.0.1:1', { retryStrategy: () => 20, maxRetriesPerRequest: null });
    const outage = outageLogFor(redis, log);
    const own: Error[] = [];
    const dup = duplicateRedis(redis, (err) => own.push(err));
    let errors = 0;
    dup.on('error', () => errors++);
    try {
      await expect.poll(() => errors, { timeout: 10_000 }).toBeGreaterThanOrEqual(5);
      expect(own).toEqual([]);
      expect(outage.isDown).toBe(true);
      expect(lines.filter((l) => /connection lost/.test(l.msg))).toHaveLength(1);
      expect(outageLogFor(redis, log)).toBe(outage);
    } finally {
      dup.disconnect();
      redis.disconnect();
    }
  });
});
