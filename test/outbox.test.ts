// The outbox: message rows commit with their events; nothing is lost between commit and relay, nothing is sent twice.
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOTIFY_QUEUE } from '../src/core/queues.ts';
import { markDelivered } from '../src/core/store/outbox.ts';
import { Notifier } from '../src/notifications/notifier.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';
import { redisUrl } from './helpers/test-env.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ env: { OUTBOX_GRACE_MS: '0' } });
});
afterAll(async () => {
  await h?.close();
});

const rows = (taskId: string) =>
  h.hub.ctx.db.selectFrom('outbox').selectAll().where('task_id', '=', taskId).orderBy('id').execute();
const kinds = (taskId: string) => h.chat.forTask(taskId).map((d) => `${d.op} ${d.message.kind}`);
/** Redis loses every delivery job: what a crash between commit and relay leaves behind. */
const loseRelays = () => h.hub.ctx.queues.get(NOTIFY_QUEUE).obliterate({ force: true });
const pending = async (taskId: string) =>
  (await rows(taskId)).filter((r) => r.delivered_at === null).map((r) => r.kind);
const undelivered = async (taskId: string) => (await pending(taskId)).length;

describe('outbox rows', () => {
  it('are written with the events that cause them, under the notify policy', async () => {
    const full = await h.submit('hello rows');
    const quiet = (
      await h.hub.tasks.submit({ origin: h.origin(), text: 'hello quiet rows', notifyPolicy: 'done_only' })
    ).task;
    const silent = (await h.hub.tasks.submit({ origin: h.origin(), text: 'hello silent rows', notifyPolicy: 'silent' }))
      .task;
    for (const t of [full, quiet]) await h.waitForTask(t.id, (x) => x.final_notified);
    await h.waitForTask(silent.id, (x) => x.status === 'COMPLETED');
    const ack = (await rows(full.id))[0]!;
    expect((await rows(full.id)).map((r) => r.kind)).toEqual(expect.arrayContaining(['ack', 'final']));
    expect(ack).toMatchObject({ kind: 'ack', attempts: 1, last_error: null });
    expect(ack.message_ref).toMatchObject({ platform: 'test', messageId: expect.any(String) });
    expect((await rows(quiet.id)).map((r) => r.kind)).toEqual(['final']);
    expect(await rows(silent.id)).toEqual([]);
    expect(await undelivered(full.id)).toBe(0);
  });
});

describe('a crash between commit and relay', () => {
  it('the sweep of the next notifier delivers the acknowledgement and the final message exactly once', async () => {
    await h.hub.notifier.stop(); // the crashed hub: its relays never reach a notifier
    const running = await h.submit('long work sleep 2 seconds');
    const finished = await h.submit('echo finished while nobody delivered');
    await h.waitForTask(finished.id, (t) => t.status === 'COMPLETED');
    await loseRelays();
    expect(await pending(running.id)).toContain('ack');
    expect(await pending(finished.id)).toEqual(['ack', 'final']);

    await h.hub.notifier.start(); // the next hub: sweeps at start
    await h.waitForTask(finished.id, (t) => t.final_notified);
    await h.waitForTask(running.id, (t) => t.final_notified, 30_000);
    await h.until(async () => ((await undelivered(running.id)) === 0 ? true : undefined));
    expect(kinds(running.id).filter((k) => k === 'send ack')).toHaveLength(1);
    expect(kinds(running.id).filter((k) => k === 'send result')).toHaveLength(1);
    // A task that finished before its acknowledgement went out gets only its result (a late "accepted" confuses).
    expect(kinds(finished.id)).toEqual(['send result']);
    const ack = (await rows(finished.id)).find((r) => r.kind === 'ack')!;
    expect(ack.delivered_at).not.toBeNull();
    expect(ack.message_ref).toBeNull();
    // Nothing is left to re-send.
    expect(await h.hub.notifier.sweep(0)).toBe(0);
  }, 60_000);
});

describe('delivery marks', () => {
  it('many rows are marked in one statement: by id or by event, an ack naming the progress message, a final notified', async () => {
    await h.hub.notifier.stop(); // nothing delivers: the rows stay pending for the marks below
    try {
      const a = await h.submit('hello marks one');
      const b = await h.submit('hello marks two');
      await h.waitForTask(b.id, (t) => t.status === 'COMPLETED');
      const ackA = (await rows(a.id)).find((r) => r.kind === 'ack')!;
      const finalB = (await rows(b.id)).find((r) => r.kind === 'final')!;
      const ref = { platform: 'test', conversationId: 'c', messageId: 'm-ack' };
      await markDelivered(h.hub.ctx.db, [
        { row: { ...ackA, id: '' }, ref, progressMessage: true }, // by its event
        { row: finalB, ref: { ...ref, messageId: 'm-final' } }, // by its id
      ]);
      const taskB = await h.hub.ctx.db.selectFrom('tasks').selectAll().where('id', '=', b.id).executeTakeFirstOrThrow();
      expect(taskB.final_notified).toBe(true);
      expect((await rows(a.id)).find((r) => r.kind === 'ack')).toMatchObject({ attempts: 1, message_ref: ref });
      expect((await rows(b.id)).find((r) => r.kind === 'final')?.delivered_at).not.toBeNull();
      const taskA = await h.hub.ctx.db.selectFrom('tasks').selectAll().where('id', '=', a.id).executeTakeFirstOrThrow();
      expect(taskA.progress_message).toEqual(ref);
    } finally {
      await h.hub.notifier.start();
    }
  });
});

describe('a message this hub is delivering', () => {
  it("is left alone by another hub's sweep while the platform call runs", async () => {
    const other = new Notifier(h.hub.ctx, h.hub.frontends); // another hub: sweeps only
    const release = h.chat.holdNext((m) => m.text.includes('hello slow platform'));
    const task = (
      await h.hub.tasks.submit({ origin: h.origin(), text: 'hello slow platform', notifyPolicy: 'done_only' })
    ).task;
    await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    await h.until(async () => ((await pending(task.id)).includes('final') ? true : undefined), 20_000, 'the final row');
    // The row is undelivered past the grace period (0 here), but marked as being delivered: not relayed.
    const [row] = await rows(task.id);
    await other.sweep(0);
    expect(await h.hub.ctx.queues.get(NOTIFY_QUEUE).getJob(`final-${task.id}-${row!.event_id}`)).toBeUndefined();
    release();
    await h.waitForTask(task.id, (t) => t.final_notified);
    expect(kinds(task.id)).toEqual(['send result']);
  });
});

describe('a duplicated relay', () => {
  it('the same row relayed twice, to two notifiers, is sent once', async () => {
    const second = new Notifier(h.hub.ctx, h.hub.frontends);
    await h.hub.notifier.stop();
    try {
      const task = (
        await h.hub.tasks.submit({ origin: h.origin(), text: 'hello twice relayed', notifyPolicy: 'done_only' })
      ).task;
      await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
      await loseRelays();
      // Both hubs sweep the same undelivered row at once: one job id, one job.
      const swept = await Promise.all([h.hub.notifier.sweep(0), second.sweep(0)]);
      expect(swept.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
      const waiting = await h.hub.ctx.queues.get(NOTIFY_QUEUE).getJobs(['waiting', 'delayed']);
      expect(waiting.filter((j) => j.data.taskId === task.id).map((j) => j.id)).toEqual([
        expect.stringMatching(/^final-/),
      ]);
      await Promise.all([h.hub.notifier.start(), second.start()]);
      await h.waitForTask(task.id, (t) => t.final_notified);
      // Relayed again after delivery (its finished job removed first): the row is delivered, so nothing is sent.
      const queue = h.hub.ctx.queues.get(NOTIFY_QUEUE);
      const [row] = await rows(task.id);
      const jobId = `final-${task.id}-${row!.event_id}`;
      const events = new QueueEvents(NOTIFY_QUEUE, { connection: { url: redisUrl() }, prefix: h.env.prefix });
      await events.waitUntilReady();
      const done = (await queue.getJob(jobId))!;
      await done.waitUntilFinished(events);
      await done.remove();
      const again = await queue.add('final', { kind: 'final', taskId: task.id, eventId: row!.event_id }, { jobId });
      await again.waitUntilFinished(events);
      await events.close();
      expect(kinds(task.id)).toEqual(['send result']);
    } finally {
      await second.stop();
    }
  }, 60_000);
});
