// Retries with backoff, dead letters and reprocessing, timeouts, and idempotent completion.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Planner } from '../src/core/planning/plan.ts';
import { jobIdFor } from '../src/core/queues.ts';
import { RulePlanner } from '../src/core/planning/rule-planner.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

const toggle = { on: false };
// Plans "chain: ..." as a -> b (test.toggle) -> c; everything else as the rule planner does.
const planner: Planner = {
  async plan(req) {
    if (!req.text.startsWith('chain:')) return new RulePlanner().plan(req);
    return {
      summary: 'chain',
      steps: [
        { key: 'a', capability: 'demo.echo', input: { text: 'a' }, dependsOn: [] },
        { key: 'b', capability: 'test.toggle', input: {}, dependsOn: ['a'] },
        { key: 'c', capability: 'demo.echo', input: { text: 'c' }, dependsOn: ['b'] },
      ],
    };
  },
};

let h: Harness;
beforeAll(async () => {
  h = await createHarness({
    planner,
    env: {
      DEFAULT_BACKOFF_MS: '100',
      CAPABILITY_POLICIES: '{"test.hang":{"attempts":2,"timeoutMs":300,"backoffMs":50},"test.toggle":{"attempts":1}}',
    },
    handlers: {
      // Ignores its abort signal entirely: only the runtime's timeout can end it.
      'test.hang': () => new Promise(() => {}),
      'test.toggle': async ({ deps }) => {
        if (!toggle.on) throw new Error('switched off');
        return { sawA: deps.a };
      },
    },
  });
});
afterAll(async () => {
  await h?.close();
});

const eventsOf = (taskId: string, type: string) => h.events.filter((e) => e.taskId === taskId && e.type === type);

describe('failures and recovery paths', () => {
  it('demo.flaky with 2 failures and 3 attempts succeeds, with growing backoff', async () => {
    const task = await h.submit('flaky 2');
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    expect(done.result).toEqual({ attempt: 3, failures: 2 });
    const retries = eventsOf(task.id, 'subtask.retrying');
    expect(retries.map((e) => e.data?.attempt)).toEqual([1, 2]);
    const job = await h.hub.ctx.queues
      .forCapability('demo.flaky')
      .getJob(jobIdFor(eventsOf(task.id, 'subtask.succeeded')[0]!.subtaskId!, 0));
    expect(job?.attemptsMade).toBe(3);
    // Attempt start times: the gap before attempt 3 exceeds the gap before attempt 2 (exponential backoff, 100 ms base).
    const starts = eventsOf(task.id, 'subtask.started').map((e) => new Date(e.at).getTime());
    const fails = retries.map((e) => new Date(e.at).getTime());
    expect(starts.length).toBeGreaterThanOrEqual(2);
    const sub = await h.hub.ctx.db
      .selectFrom('subtasks')
      .selectAll()
      .where('task_id', '=', task.id)
      .executeTakeFirstOrThrow();
    expect(sub.attempts).toBe(3);
    // The backoff the worker chose grows: the 1st retry waits 80-100 ms (100 ms base, jitter 0.2), the 2nd 160-200.
    const waits = retries.map((e) => Number(e.data?.retryInMs));
    expect(waits[0]).toBeGreaterThanOrEqual(80);
    expect(waits[0]).toBeLessThanOrEqual(100);
    expect(waits[1]).toBeGreaterThanOrEqual(160);
    expect(waits[1]).toBeLessThanOrEqual(200);
    // And BullMQ really waited: the 3rd attempt started at least that long after the hub recorded the 2nd failure
    // (the hub's record trails the worker's, so this is a lower bound whatever the machine's load).
    const gap1 = (job!.processedOn ?? 0) - fails[1]!;
    expect(gap1).toBeGreaterThanOrEqual(110);
  });

  it('demo.fail exhausts attempts -> dead letter -> task FAILED -> user told; reprocess with a fixed input completes it', async () => {
    const task = await h.submit('demo fail please');
    const failed = await h.waitForTask(task.id, (t) => t.status === 'FAILED' && t.final_notified);
    expect(failed.error).toMatch(/Step "main" \(demo\.fail\) failed after 3 attempts: .*always fails/);
    const told = h.chat.forTask(task.id).filter((d) => d.message.kind === 'failure');
    expect(told).toHaveLength(1);
    expect(told[0]!.message.text).toMatch(/failed/);
    const dead = await h.hub.admin.listFailed({ capability: 'demo.fail' });
    const mine = dead.filter((d) => d.task_id === task.id);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.attempts).toBe(3);

    await expect(
      h.hub.admin.reprocess(task.id.slice(0, 8), 'test:alice', { input: { fixed: true } }),
    ).resolves.toBeDefined();
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified);
    expect(done.result).toEqual({ fixed: true });
    const sub = await h.hub.ctx.db
      .selectFrom('subtasks')
      .selectAll()
      .where('task_id', '=', task.id)
      .executeTakeFirstOrThrow();
    expect(sub.generation).toBe(1);
    expect(await h.hub.ctx.queues.forCapability('demo.fail').getJob(jobIdFor(sub.id, 1))).toBeDefined();
    expect((await h.hub.admin.listFailed()).filter((d) => d.task_id === task.id)).toHaveLength(0);
    const audit = await h.hub.ctx.db
      .selectFrom('task_events')
      .selectAll()
      .where('task_id', '=', task.id)
      .where('type', '=', 'admin.reprocess')
      .execute();
    expect(audit.map((a) => a.actor)).toEqual(['test:alice']);
    expect(h.chat.forTask(task.id).filter((d) => d.message.kind === 'result')).toHaveLength(1);
  });

  it('a timeout aborts a hung handler and counts as a failed attempt', async () => {
    const { task } = await h.hub.tasks.submit({ origin: h.origin(), text: 'use test.hang: forever' });
    const failed = await h.waitForTask(task.id, (t) => t.status === 'FAILED');
    const retries = eventsOf(task.id, 'subtask.retrying');
    expect(retries).toHaveLength(1);
    expect(retries[0]!.data?.error).toMatch(/timed out after 300 ms/);
    expect(failed.error).toMatch(/failed after 2 attempts: TimeoutError: timed out after 300 ms/);
    expect(h.hub.workers[0]!.running).toBe(0);
  });

  it('a duplicated completion changes state once', async () => {
    // No worker for this capability: we play the worker and report the same completion twice.
    const { task, subtasks } = await h.hub.tasks.submit({ origin: h.origin(), text: 'use nobody.home: x' });
    const s = subtasks[0]!;
    const result = {
      kind: 'succeeded' as const,
      taskId: task.id,
      subtaskId: s.id,
      generation: 0,
      attempt: 1,
      workerId: 'w1',
      output: { n: 1 },
    };
    const [a, b] = await Promise.all([h.hub.conductor.applyResult(result), h.hub.conductor.applyResult(result)]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    expect(await h.hub.conductor.applyResult({ ...result, output: { n: 2 } })).toBe(false);
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified);
    expect(done.result).toEqual({ n: 1 });
    const rows = await h.hub.ctx.db
      .selectFrom('task_events')
      .select('type')
      .where('task_id', '=', task.id)
      .where('type', 'in', ['completed', 'subtask.succeeded'])
      .execute();
    expect(rows.map((r) => r.type).sort()).toEqual(['completed', 'subtask.succeeded']);
    // A stale generation is ignored too.
    expect(await h.hub.conductor.applyResult({ ...result, generation: 5 })).toBe(false);
    expect(h.chat.forTask(task.id).filter((d) => d.message.kind === 'result')).toHaveLength(1);
  });

  it('retry replays a failed task from the point of failure, keeping succeeded outputs', async () => {
    const { task } = await h.hub.tasks.submit({ origin: h.origin(), text: 'chain: a then toggle then c' });
    const failed = await h.waitForTask(task.id, (t) => t.status === 'FAILED' && t.final_notified);
    expect(failed.error).toMatch(/Step "b" \(test\.toggle\) failed after 1 attempt: .*switched off/);
    const before = await h.hub.ctx.db
      .selectFrom('subtasks')
      .selectAll()
      .where('task_id', '=', task.id)
      .orderBy('key')
      .execute();
    expect(before.map((s) => [s.key, s.status])).toEqual([
      ['a', 'SUCCEEDED'],
      ['b', 'DEAD'],
      ['c', 'SKIPPED'],
    ]);

    await expect(h.hub.tasks.retry(task.id, { userId: 'test:mallory' })).rejects.toThrow(/No task/);
    toggle.on = true;
    await h.hub.tasks.retry(task.id.slice(0, 6), { userId: 'test:alice' });
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified);
    const after = await h.hub.ctx.db
      .selectFrom('subtasks')
      .selectAll()
      .where('task_id', '=', task.id)
      .orderBy('key')
      .execute();
    expect(after.map((s) => [s.key, s.status, s.generation])).toEqual([
      ['a', 'SUCCEEDED', 0],
      ['b', 'SUCCEEDED', 1],
      ['c', 'SUCCEEDED', 1],
    ]);
    expect(after[0]!.finished_at).toEqual(before[0]!.finished_at);
    expect((done.result as { from: { b: { sawA: unknown } } }).from.b.sawA).toEqual(before[0]!.output);
    await expect(h.hub.tasks.retry(task.id, { userId: 'test:alice' })).rejects.toThrow(
      /only a FAILED task can be retried/,
    );
  });
});
