// Delivery to the origin conversation: notify policies, permanent 4xx, transient errors, 429 waits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, RateLimitedError } from '../src/core/errors.ts';
import { QueueEvents } from 'bullmq';
import { NOTIFY_QUEUE } from '../src/core/queues.ts';
import { redisUrl } from './helpers/test-env.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({
    handlers: {
      'test.markdown': async () => ({ markdown: '# Findings\n\n**Two** bills, see [the list](https://e.org/l).' }),
    },
  });
});
afterAll(async () => {
  await h?.close();
});

const submit = async (text: string, notifyPolicy?: 'done_only' | 'state_changes' | 'silent') =>
  (await h.hub.tasks.submit({ origin: h.origin(), text, notifyPolicy })).task;

describe('notifications', () => {
  it('done_only sends the result and nothing else; silent sends nothing', async () => {
    const quiet = await submit('long work sleep 0.5 seconds', 'done_only');
    const silent = await submit('hello silently', 'silent');
    await h.waitForTask(quiet.id, (t) => t.status === 'COMPLETED' && t.final_notified);
    await h.waitForTask(silent.id, (t) => t.status === 'COMPLETED');
    // A later task's delivery has gone through the same queue after both.
    const later = await submit('a later task');
    await h.waitForTask(later.id, (t) => t.final_notified);
    expect(h.chat.forTask(quiet.id).map((d) => [d.op, d.message.kind])).toEqual([['send', 'result']]);
    expect(h.chat.forTask(silent.id)).toEqual([]);
  });

  it('a permanent 4xx is recorded and not retried, and does not block other deliveries', async () => {
    h.chat.failNext(new PermanentError('403 bot was blocked by the user'));
    const task = await submit('hello blocked', 'done_only');
    await h.waitForEvent((e) => e.taskId === task.id && e.type === 'completed');
    const other = await submit('hello neighbour');
    await h.waitForTask(other.id, (t) => t.final_notified);
    const row = await h.waitForTask(task.id, (t) => t.final_notified);
    expect(row.status).toBe('COMPLETED');
    const failures = h.chat.failedCalls.filter((f) => f.taskId === task.id);
    expect(failures).toHaveLength(1);
    expect(h.chat.forTask(task.id)).toEqual([]);
    const recorded = await h.hub.ctx.db
      .selectFrom('task_events')
      .selectAll()
      .where('task_id', '=', task.id)
      .where('type', '=', 'notify.failed')
      .execute();
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.data).toMatchObject({ kind: 'final', error: expect.stringContaining('blocked') });
    expect(h.chat.forTask(other.id).some((d) => d.message.kind === 'result')).toBe(true);
  });

  it('a transient error is retried until the message is delivered', async () => {
    h.chat.failNext(new Error('502 bad gateway'));
    const task = await submit('hello flaky network', 'done_only');
    const delivered = await h.chat.waitFor((d) => d.message.taskId === task.id && d.message.kind === 'result');
    const failures = h.chat.failedCalls.filter((f) => f.taskId === task.id);
    expect(failures).toHaveLength(1);
    expect(delivered.at).toBeGreaterThan(failures[0]!.at);
  });

  it('a Markdown result reaches a platform without markup as readable plain text', async () => {
    const task = await submit('use test.markdown: summarise', 'done_only');
    const result = await h.chat.waitFor((d) => d.message.taskId === task.id && d.message.kind === 'result');
    expect(result.message.text).toContain('Findings\n\nTwo bills, see the list (https://e.org/l).');
    expect(result.message.text).not.toMatch(/\*\*|\]\(|^#/m);
  });

  it('a 429 waits the platform retry time, then delivers', async () => {
    h.chat.failNext(new RateLimitedError('429 too many requests', 400));
    const task = await submit('hello rate limit', 'done_only');
    const delivered = await h.chat.waitFor((d) => d.message.taskId === task.id && d.message.kind === 'result');
    const failure = h.chat.failedCalls.find((f) => f.taskId === task.id)!;
    expect(delivered.at - failure.at).toBeGreaterThanOrEqual(380);
    expect(h.chat.forTask(task.id)).toHaveLength(1);
  });

  it('the sweep re-sends a final message whose delivery was never confirmed, once (the call in flight at a crash)', async () => {
    const task = await submit('hello again', 'done_only');
    await h.waitForTask(task.id, (t) => t.final_notified);
    // Pretend the hub died between the platform call and recording it.
    await h.hub.ctx.db
      .updateTable('outbox')
      .set({ delivered_at: null, message_ref: null, created_at: new Date(Date.now() - 60_000) })
      .where('task_id', '=', task.id)
      .where('kind', '=', 'final')
      .execute();
    expect(await h.hub.notifier.sweep()).toBeGreaterThanOrEqual(1);
    await h.chat.waitFor((d) => d.message.taskId === task.id && d.message.kind === 'result' && d !== first(task.id));
    await h.until(async () => ((await delivered(task.id)) ? true : undefined), 20_000, 'the row marked delivered');
    expect(h.chat.forTask(task.id).filter((d) => d.message.kind === 'result')).toHaveLength(2);
  });
});

const first = (taskId: string) => h.chat.forTask(taskId).find((d) => d.message.kind === 'result');
const delivered = async (taskId: string) =>
  (
    await h.hub.ctx.db
      .selectFrom('outbox')
      .select('delivered_at')
      .where('task_id', '=', taskId)
      .where('kind', '=', 'final')
      .executeTakeFirstOrThrow()
  ).delivered_at !== null;

describe('a platform down longer than the retry window', () => {
  let o: Harness;
  beforeAll(async () => {
    o = await createHarness({ env: { NOTIFY_ATTEMPTS: '2', NOTIFY_BACKOFF_MS: '20' } });
  });
  afterAll(async () => {
    await o?.close();
  });

  it('a final message that exhausted its retries is re-relayed by the sweep after recovery and delivered once', async () => {
    o.chat.failNext(new Error('503 platform down'), new Error('503 platform down'));
    const events = new QueueEvents(NOTIFY_QUEUE, { connection: { url: redisUrl() }, prefix: o.env.prefix });
    await events.waitUntilReady();
    const exhausted = new Promise<string>((resolve) =>
      events.on('failed', ({ jobId }) => {
        if (jobId.startsWith('final-')) resolve(jobId);
      }),
    );
    const task = (await o.hub.tasks.submit({ origin: o.origin(), text: 'hello outage', notifyPolicy: 'done_only' }))
      .task;
    const finalJob = (await o.hub.ctx.queues.get(NOTIFY_QUEUE).getJob(await exhausted))!;
    await events.close();
    expect(finalJob.data.taskId).toBe(task.id);
    expect(await finalJob.getState()).toBe('failed');
    // The hub's own attempt, then the queued job's (NOTIFY_ATTEMPTS in all).
    expect(finalJob.attemptsMade).toBe(1);
    const row = await o.hub.ctx.db.selectFrom('outbox').selectAll().where('task_id', '=', task.id).execute();
    expect(row).toMatchObject([{ kind: 'final', delivered_at: null, attempts: 2, last_error: '503 platform down' }]);
    expect(await o.hub.notifier.sweep(0)).toBe(1);
    await o.waitForTask(task.id, (t) => t.final_notified);
    expect(o.chat.forTask(task.id).filter((d) => d.message.kind === 'result')).toHaveLength(1);
  });
});
