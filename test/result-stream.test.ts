// Worker results travel on one Redis stream that the hubs read as a consumer group: an entry is applied once and
// deleted, an entry a dead hub read is claimed and applied by another, and a bad or hopeless entry is dropped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../src/core/queues.ts';
import { appendResult, ResultStream } from '../src/core/tasks/result-stream.ts';
import type { JobResult } from '../src/core/types.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';
import { redisUrl } from './helpers/test-env.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const key = () => h.hub.ctx.keys.results;
const streamLength = () => h.hub.ctx.redis.xlen(key());
/** Appends entries, then waits until the hub's reader acknowledged that many more. */
async function appended(...entries: (JobResult | string)[]): Promise<void> {
  const stream = h.hub.conductor.stream;
  const target = stream.acknowledged + entries.length;
  for (const e of entries)
    if (typeof e === 'string') await h.hub.ctx.redis.xadd(key(), '*', 'r', e);
    else await appendResult(h.hub.ctx.redis, key(), e);
  await stream.whenAcknowledged(target);
}

/** A one-step task no worker runs, and the result a worker would send for it. */
async function pendingResult(tag: string): Promise<Extract<JobResult, { kind: 'succeeded' }>> {
  const { task, subtasks } = await h.hub.tasks.submit({ origin: h.origin(), text: `use nobody.home: ${tag}` });
  return {
    kind: 'succeeded',
    taskId: task.id,
    subtaskId: subtasks[0]!.id,
    generation: 0,
    attempt: 1,
    workerId: 'w-stream',
    output: { tag },
  };
}

describe('the results stream', () => {
  it('an appended result is applied once and its entry deleted', async () => {
    const r = await pendingResult('appended');
    await appended(r, r); // a worker's resend: applied once
    expect((await h.waitForTask(r.taskId, (t) => t.status === 'COMPLETED')).result).toEqual(r.output);
    expect(await streamLength()).toBe(0);
    const events = await h.hub.ctx.db
      .selectFrom('task_events')
      .select('type')
      .where('task_id', '=', r.taskId)
      .execute();
    expect(events.filter((e) => e.type === 'subtask.succeeded')).toHaveLength(1);
  });

  it('an unreadable entry is dropped without stopping the reader', async () => {
    const r = await pendingResult('after a bad entry');
    await appended('not json', r);
    await h.waitForTask(r.taskId, (t) => t.status === 'COMPLETED');
    expect(await streamLength()).toBe(0);
  });

  it('an entry a dead hub read is claimed and applied by another; one that keeps failing is dropped', async () => {
    await h.hub.conductor.stream.stop(); // this hub stops reading: the "dead" one takes the entries
    const good = await pendingResult('claimed');
    const hopeless: JobResult = { ...good, taskId: 'no-such-task', subtaskId: 'no-such-subtask' };
    await appendResult(h.hub.ctx.redis, key(), good);
    await appendResult(h.hub.ctx.redis, key(), hopeless);
    const dead = createRedis(redisUrl());
    try {
      const read = (await dead.xreadgroup('GROUP', 'conductor', 'dead-hub', 'COUNT', 10, 'STREAMS', key(), '>')) as [
        string,
        unknown[],
      ][];
      expect(read[0]![1]).toHaveLength(2);
    } finally {
      dead.disconnect();
    }
    const next = new ResultStream(h.hub.ctx, (r) => h.hub.conductor.applyResult(r), {
      claimIdleMs: 50,
      claimEveryMs: 25,
      maxDeliveries: 3,
    });
    await next.start();
    try {
      expect((await h.waitForTask(good.taskId, (t) => t.status === 'COMPLETED')).result).toEqual(good.output);
      await next.whenAcknowledged(2); // the good one applied, the hopeless one dropped after 3 reads
      expect(await streamLength()).toBe(0);
    } finally {
      await next.stop();
      await h.hub.conductor.stream.start();
    }
  });
});
