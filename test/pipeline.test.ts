// End to end on real Redis + Postgres: plan -> queues -> embedded worker -> conductor -> origin conversation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const finalMessages = (taskId: string) =>
  h.chat
    .forTask(taskId)
    .filter((d) => d.op === 'send' && (d.message.kind === 'result' || d.message.kind === 'failure'));

describe('core pipeline', () => {
  it('completes a one-step task and answers in the origin conversation once', async () => {
    const task = await h.submit('hello switchboard');
    expect(task.status).toBe('ASSIGNED');
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified);
    expect(done.result).toEqual({ text: 'hello switchboard', part: null });
    const acks = h.chat.forTask(task.id).filter((d) => d.message.kind === 'ack');
    expect(acks).toHaveLength(1);
    expect(acks[0]!.conversationId).toBe('chat-test:alice');
    const finals = finalMessages(task.id);
    expect(finals).toHaveLength(1);
    expect(finals[0]!.message.text).toContain('completed');
    expect(finals[0]!.message.text).toContain('hello switchboard');
    const types = h.events.filter((e) => e.taskId === task.id && e.id !== null).map((e) => e.type);
    expect(types).toEqual(['accepted', 'planned', 'subtask.started', 'started', 'subtask.succeeded', 'completed']);
  });

  it('fans out 3 steps and joins them; the join receives every branch output', async () => {
    const task = await h.submit('research this in 3 steps');
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    const result = done.result as { from: Record<string, { part: number }> };
    expect(Object.keys(result.from).sort()).toEqual(['part1', 'part2', 'part3']);
    expect(result.from.part2!.part).toBe(2);
    const subs = await h.hub.ctx.db
      .selectFrom('subtasks')
      .select(['key', 'status', 'started_at', 'finished_at'])
      .where('task_id', '=', task.id)
      .execute();
    expect(subs.every((s) => s.status === 'SUCCEEDED')).toBe(true);
    const join = subs.find((s) => s.key === 'join')!;
    for (const s of subs.filter((x) => x.key !== 'join'))
      expect(s.finished_at!.getTime()).toBeLessThanOrEqual(join.started_at!.getTime());
  });

  it('runs a diamond DAG: D starts after B and C and receives both outputs', async () => {
    const task = await h.submit('diamond of work');
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified);
    const d = done.result as { part: string; from: Record<string, { part: string }> };
    expect(d.part).toBe('d');
    expect(d.from.b!.part).toBe('b');
    expect(d.from.c!.part).toBe('c');
    expect(Object.keys(d.from).sort()).toEqual(['b', 'c']);
    expect(finalMessages(task.id)).toHaveLength(1);
    const subs = await h.hub.ctx.db.selectFrom('subtasks').selectAll().where('task_id', '=', task.id).execute();
    const at = (k: string) => subs.find((s) => s.key === k)!;
    for (const k of ['b', 'c'])
      expect(at(k).started_at!.getTime()).toBeGreaterThanOrEqual(at('a').finished_at!.getTime());
    for (const k of ['b', 'c'])
      expect(at('d').started_at!.getTime()).toBeGreaterThanOrEqual(at(k).finished_at!.getTime());
  });

  it('streams item progress in order and edits one progress message in place', async () => {
    const task = await h.submit('long work sleep 1 seconds 2000 items');
    await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified);
    const progress = h.events
      .filter((e) => e.taskId === task.id && e.type === 'progress')
      .map((e) => e.data?.done as number);
    expect(progress.length).toBeGreaterThan(3);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    // The last report (2000) travels over pub/sub and may arrive after the result, which supersedes it: the last
    // progress applied is then the one before (~100 ms earlier at this rate).
    expect(progress.at(-1)).toBeGreaterThanOrEqual(1500);
    const mine = h.chat.forTask(task.id);
    const ack = mine.find((d) => d.message.kind === 'ack')!;
    const edits = mine.filter((d) => d.op === 'edit');
    expect(edits.length).toBeGreaterThan(1);
    expect(edits.every((e) => e.messageId === ack.messageId)).toBe(true);
    const percents = edits
      .map((e) => /(\d+)%/.exec(e.message.text)?.[1])
      .filter(Boolean)
      .map(Number);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(edits.at(-1)!.message.text).toMatch(/completed/);
    expect(mine.filter((d) => d.op === 'send' && d.message.kind === 'result')).toHaveLength(1);
  });

  it('tells the user at once when no live worker offers a needed capability', async () => {
    const { task, warnings } = await h.hub.tasks.submit({ origin: h.origin(), text: 'use gpu.render: a cat' });
    expect(warnings[0]).toMatch(/No worker is online for gpu\.render/);
    const info = await h.chat.waitFor((d) => d.message.taskId === task.id && d.message.kind === 'info');
    expect(info.message.text).toMatch(/gpu\.render/);
    expect((await h.hub.tasks.get(task.id, { userId: 'test:alice' })).task.status).toBe('ASSIGNED');
  });

  it('coalesces progress: with an interval, a burst of progress yields few edits', async () => {
    const slow = await createHarness({ env: { PROGRESS_INTERVAL_MS: '400' } });
    try {
      const task = await slow.submit('long work sleep 1.2 seconds 1000 items');
      await slow.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified);
      const signals = slow.events.filter((e) => e.taskId === task.id && e.type === 'progress').length;
      const edits = slow.chat.forTask(task.id).filter((d) => d.op === 'edit').length;
      expect(signals).toBeGreaterThan(8);
      expect(edits).toBeLessThanOrEqual(6);
      expect(edits).toBeGreaterThanOrEqual(2);
    } finally {
      await slow.close();
    }
  });
});
