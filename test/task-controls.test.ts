// Issue 3 controls on real Redis + Postgres: priority, cancel across processes, review, per-user limits, retention.
import { spawn, type ChildProcess } from 'node:child_process';
import { QueueEvents } from 'bullmq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RateLimitedError } from '../src/core/errors.ts';
import { createLogger } from '../src/core/logger.ts';
import type { Planner, PlanRequest } from '../src/core/planning/plan.ts';
import { capabilityQueueName, createRedis, jobIdFor } from '../src/core/queues.ts';
import { RulePlanner } from '../src/core/planning/rule-planner.ts';
import { builtinCapabilities } from '../src/workers/capabilities/index.ts';
import type { CapabilityHandlers } from '../src/workers/capability.ts';
import { WorkerRuntime } from '../src/workers/worker-runtime.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';
import { redisUrl } from './helpers/test-env.ts';

const open: Harness[] = [];
const runtimes: WorkerRuntime[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.stop();
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  for (const h of open) await h.close();
});

const seenRequests: PlanRequest[] = [];
/** "slow N": N independent test.slow steps; "reviewed chain": a (needs review) -> b; anything else: the rule planner. */
const planner: Planner = {
  async plan(req) {
    seenRequests.push(req);
    const slow = /^slow (\d+)/.exec(req.text);
    if (slow)
      return {
        summary: 'slow',
        steps: Array.from({ length: Number(slow[1]) }, (_, i) => ({
          key: `s${i}`,
          capability: 'test.slow',
          input: { i },
          dependsOn: [],
        })),
      };
    if (req.text === 'reviewed chain') {
      return {
        summary: 'a then b',
        steps: [
          { key: 'a', capability: 'demo.echo', input: { text: 'draft' }, dependsOn: [], review: true },
          { key: 'b', capability: 'demo.echo', input: { text: 'final' }, dependsOn: ['a'] },
        ],
      };
    }
    if (req.feedback)
      return {
        summary: 'revised',
        steps: [{ key: 'main', capability: 'demo.echo', input: { text: `revised: ${req.feedback}` }, dependsOn: [] }],
      };
    return new RulePlanner().plan(req);
  },
};
const slowHandlers: CapabilityHandlers = {
  'test.slow': async ({ signal }) => {
    await new Promise((r, j) => {
      const t = setTimeout(r, 100);
      signal.addEventListener('abort', () => {
        clearTimeout(t);
        j(signal.reason);
      });
    });
    return { ok: true };
  },
};

async function harness(env: Record<string, string> = {}, workers = false): Promise<Harness> {
  const h = await createHarness({ env, workers, planner, handlers: slowHandlers });
  open.push(h);
  return h;
}

function worker(h: Harness, concurrency: number, patterns = ['demo.*', 'test.*']): WorkerRuntime {
  const r = new WorkerRuntime({
    redis: createRedis(redisUrl()),
    prefix: h.env.prefix,
    patterns,
    handlers: { ...builtinCapabilities(h.env.config), ...slowHandlers },
    concurrency,
    log: createLogger('silent'),
    heartbeatMs: 300,
    lockMs: 2000,
  });
  runtimes.push(r);
  return r;
}

const origin = (user: string) => ({ platform: 'test', conversationId: `chat-${user}`, userId: user });

describe('priority', () => {
  it('an urgent task submitted after 20 normal ones starts before the remaining normal ones', async () => {
    const h = await harness({ MAX_INFLIGHT_PER_USER: '100' });
    const normal = [];
    for (let i = 0; i < 20; i++)
      normal.push((await h.hub.tasks.submit({ origin: origin('test:p'), text: `normal ${i}` })).task.id);
    const urgent = (await h.hub.tasks.submit({ origin: origin('test:p'), text: 'urgent one', priority: 'urgent' })).task
      .id;
    await worker(h, 1).start();
    for (const id of [...normal, urgent]) await h.waitForTask(id, (t) => t.status === 'COMPLETED');
    const subs = await h.hub.ctx.db
      .selectFrom('subtasks')
      .select(['task_id', 'started_at'])
      .where('task_id', 'in', [...normal, urgent])
      .execute();
    const order = subs.sort((a, b) => a.started_at!.getTime() - b.started_at!.getTime()).map((s) => s.task_id);
    expect(order.indexOf(urgent)).toBeLessThanOrEqual(1); // at most the one job already taken runs before it
  });

  it('an admin can raise a queued task to urgent, and its waiting job overtakes', async () => {
    const h = await harness({ MAX_INFLIGHT_PER_USER: '100' });
    const ids = [];
    for (let i = 0; i < 6; i++)
      ids.push((await h.hub.tasks.submit({ origin: origin('test:q'), text: `queued ${i}`, priority: 'low' })).task.id);
    const last = ids.at(-1)!;
    expect(await h.hub.admin.setPriority(last.slice(0, 8), 'urgent', 'test:admin')).toMatchObject({
      taskId: last,
      requeued: 1,
    });
    await worker(h, 1).start();
    for (const id of ids) await h.waitForTask(id, (t) => t.status === 'COMPLETED');
    const subs = await h.hub.ctx.db
      .selectFrom('subtasks')
      .select(['task_id', 'started_at'])
      .where('task_id', 'in', ids)
      .execute();
    const first = subs.sort((a, b) => a.started_at!.getTime() - b.started_at!.getTime())[0]!;
    expect(first.task_id).toBe(last);
    const audit = await h.hub.ctx.db
      .selectFrom('task_events')
      .select(['actor', 'data'])
      .where('task_id', '=', last)
      .where('type', '=', 'admin.priority')
      .execute();
    expect(audit).toEqual([{ actor: 'test:admin', data: { from: 'low', to: 'urgent' } }]);
  });
});

describe('cancel', () => {
  it('cancelling a task running on a worker in another process stops it within a second; the worker is free again', async () => {
    const h = await harness({}, false);
    const child = spawn(
      process.execPath,
      ['bin/switchboard.js', 'worker', '--capabilities', 'demo.*', '--concurrency', '1'],
      {
        env: { ...process.env, ...h.env.childEnv, WORKER_HEARTBEAT_MS: '300', LOG_LEVEL: 'warn' },
        stdio: 'ignore',
      },
    );
    children.push(child);
    const { task, subtasks } = await h.hub.tasks.submit({
      origin: origin('test:alice'),
      text: 'long work sleep 20 seconds',
    });
    await h.waitForEvent((e) => e.taskId === task.id && e.type === 'progress', 30_000);
    const events = new QueueEvents(capabilityQueueName('demo.sleep'), {
      connection: createRedis(redisUrl()),
      prefix: h.env.prefix,
    });
    await events.waitUntilReady();
    const jobId = jobIdFor(subtasks[0]!.id, 0);
    const failed = new Promise<number>((resolve) =>
      events.on('failed', ({ jobId: id }) => {
        if (id === jobId) resolve(Date.now());
      }),
    );
    const t0 = Date.now();
    await h.hub.tasks.cancel(task.id, { userId: 'test:alice' });
    expect((await failed) - t0).toBeLessThan(1000);
    await events.close();
    const row = await h.waitForTask(task.id, (t) => t.final_notified);
    expect(row.status).toBe('CANCELLED');
    expect(h.chat.forTask(task.id).filter((d) => /cancelled/i.test(d.message.text) && d.op === 'send')).toHaveLength(1);
    // The single slot is free: a new task runs on the same worker process.
    const next = (await h.hub.tasks.submit({ origin: origin('test:alice'), text: 'after cancel' })).task;
    const done = await h.waitForTask(next.id, (t) => t.status === 'COMPLETED', 30_000);
    const sub = await h.hub.ctx.db
      .selectFrom('subtasks')
      .select('worker_id')
      .where('task_id', '=', done.id)
      .executeTakeFirstOrThrow();
    expect(sub.worker_id).toContain(`-${child.pid}-`);
  });
});

describe('review', () => {
  it('approve: a task requiring review stops in REVIEW with its result; the owner approves and it completes', async () => {
    const h = await harness({}, true);
    const { task } = await h.hub.tasks.submit({
      origin: origin('test:alice'),
      text: 'hello reviewer',
      requiresReview: true,
    });
    const waiting = await h.waitForTask(task.id, (t) => t.status === 'REVIEW');
    expect(waiting.result).toEqual({ text: 'hello reviewer', part: null });
    const ask = await h.chat.waitFor(
      (d) => d.message.taskId === task.id && /waiting for your review/.test(d.message.text),
    );
    expect(ask.message.actions).toEqual(['approve', 'reject']);
    await expect(h.hub.tasks.approve(task.id, { userId: 'test:mallory' })).rejects.toThrow(/No task/);
    await h.hub.tasks.approve(task.id, { userId: 'test:alice' });
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified);
    expect(done.result).toEqual({ text: 'hello reviewer', part: null });
    await expect(h.hub.tasks.approve(task.id, { userId: 'test:alice' })).rejects.toThrow(/not awaiting review/);
  });

  it('reject: the task ends REJECTED with the reason, and the origin is told; an admin may decide too', async () => {
    const h = await harness({}, true);
    const { task } = await h.hub.tasks.submit({
      origin: origin('test:alice'),
      text: 'hello rejecter',
      requiresReview: true,
    });
    await h.waitForTask(task.id, (t) => t.status === 'REVIEW');
    await h.hub.tasks.reject(task.id, { userId: 'test:admin', isAdmin: true }, 'not good enough');
    const done = await h.waitForTask(task.id, (t) => t.status === 'REJECTED' && t.final_notified);
    expect(done.error).toBe('Rejected by test:admin: not good enough');
    expect(h.chat.forTask(task.id).some((d) => /rejected/.test(d.message.text) && d.op === 'send')).toBe(true);
  });

  it('revise: the task goes back to planning with the feedback, runs the new plan, and asks again', async () => {
    const h = await harness({}, true);
    const { task } = await h.hub.tasks.submit({
      origin: origin('test:alice'),
      text: 'write a draft',
      requiresReview: true,
    });
    await h.waitForTask(task.id, (t) => t.status === 'REVIEW');
    await h.hub.tasks.revise(task.id, { userId: 'test:alice' }, 'make it shorter');
    expect(seenRequests.at(-1)).toMatchObject({ text: 'write a draft', feedback: 'make it shorter' });
    const again = await h.waitForTask(
      task.id,
      (t) => t.status === 'REVIEW' && (t.result as { text?: string } | null)?.text === 'revised: make it shorter',
    );
    expect(again.feedback).toBe('make it shorter');
    const types = (
      await h.hub.ctx.db.selectFrom('task_events').select('type').where('task_id', '=', task.id).orderBy('id').execute()
    ).map((e) => e.type);
    expect(types.filter((t) => t === 'review.requested')).toHaveLength(2);
    expect(types).toContain('revised');
    await h.hub.tasks.approve(task.id, { userId: 'test:alice' });
    await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
  });

  it('a plan step can require review: later steps wait for approval', async () => {
    const h = await harness({}, true);
    const { task } = await h.hub.tasks.submit({ origin: origin('test:alice'), text: 'reviewed chain' });
    await h.waitForTask(task.id, (t) => t.status === 'REVIEW');
    const b = await h.hub.ctx.db
      .selectFrom('subtasks')
      .selectAll()
      .where('task_id', '=', task.id)
      .where('key', '=', 'b')
      .executeTakeFirstOrThrow();
    expect(b.status).toBe('PENDING');
    await h.hub.tasks.approve(task.id, { userId: 'test:alice' });
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    expect(done.result).toMatchObject({ text: 'final', from: { a: { text: 'draft' } } });
  });
});

describe('per-user limits', () => {
  it('user A with 50 queued subtasks does not starve user B: B finishes while A is still running', async () => {
    const h = await harness({ MAX_INFLIGHT_PER_USER: '2' });
    const a = (await h.hub.tasks.submit({ origin: origin('test:a'), text: 'slow 50' })).task;
    const queued = await h.hub.ctx.db
      .selectFrom('subtasks')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('task_id', '=', a.id)
      .where('queued_at', 'is not', null)
      .executeTakeFirstOrThrow();
    expect(Number(queued.n)).toBe(2);
    const b = (await h.hub.tasks.submit({ origin: origin('test:b'), text: 'slow 1' })).task;
    await worker(h, 2).start();
    await h.waitForTask(b.id, (t) => t.status === 'COMPLETED', 30_000);
    const aNow = await h.hub.ctx.db
      .selectFrom('tasks')
      .select('status')
      .where('id', '=', a.id)
      .executeTakeFirstOrThrow();
    expect(aNow.status).toBe('IN_PROGRESS');
    const aLeft = await h.hub.ctx.db
      .selectFrom('subtasks')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('task_id', '=', a.id)
      .where('status', '!=', 'SUCCEEDED')
      .executeTakeFirstOrThrow();
    expect(Number(aLeft.n)).toBeGreaterThan(20);
    await h.waitForTask(a.id, (t) => t.status === 'COMPLETED', 60_000);
  });

  it('the hourly rate limit refuses with a retry time; admins are exempt', async () => {
    const h = await harness({ MAX_TASKS_PER_HOUR: '3' });
    for (let i = 0; i < 3; i++) await h.hub.tasks.submit({ origin: origin('test:busy'), text: `ok ${i}` });
    const refused = await h.hub.tasks
      .submit({ origin: origin('test:busy'), text: 'one too many' })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).retryAfterMs).toBeGreaterThan(3_500_000);
    expect((refused as Error).message).toMatch(/3 tasks in the last hour.*Try again in 60 minute/);
    expect(await h.hub.ctx.db.selectFrom('tasks').select('id').where('text', '=', 'one too many').execute()).toEqual(
      [],
    );
    for (let i = 0; i < 5; i++) await h.hub.tasks.submit({ origin: origin('test:admin'), text: `admin ${i}` });
  });
});

describe('retention', () => {
  it('purges exactly the finished tasks older than RETENTION_DAYS, with their subtasks, events and messages', async () => {
    const h = await harness({}, true);
    const make = async (text: string) => (await h.hub.tasks.submit({ origin: origin('test:ret'), text })).task.id;
    const oldDone = await make('old done');
    const oldFailed = await make('demo fail please old');
    const recentDone = await make('recent done');
    const oldActive = (
      await h.hub.tasks.submit({ origin: origin('test:ret'), text: 'use nobody.home: old but active' })
    ).task.id;
    for (const id of [oldDone, recentDone]) await h.waitForTask(id, (t) => t.status === 'COMPLETED');
    await h.waitForTask(oldFailed, (t) => t.status === 'FAILED');
    const old = new Date(Date.now() - 40 * 86_400_000);
    await h.hub.ctx.db
      .updateTable('tasks')
      .set({ finished_at: old, created_at: old })
      .where('id', 'in', [oldDone, oldFailed])
      .execute();
    await h.hub.ctx.db.updateTable('tasks').set({ created_at: old }).where('id', '=', oldActive).execute();
    expect(await h.hub.janitor.purgeOnce()).toBe(2);
    const left = (await h.hub.ctx.db.selectFrom('tasks').select('id').where('user_id', '=', 'test:ret').execute())
      .map((r) => r.id)
      .sort();
    expect(left).toEqual([recentDone, oldActive].sort());
    for (const table of ['subtasks', 'task_events', 'outbox', 'dead_letters'] as const) {
      const rows = await h.hub.ctx.db
        .selectFrom(table)
        .select('task_id')
        .where('task_id', 'in', [oldDone, oldFailed])
        .execute();
      expect(rows).toEqual([]);
    }
    // The tasks kept keep their trail and their messages.
    for (const table of ['task_events', 'outbox'] as const) {
      const rows = await h.hub.ctx.db.selectFrom(table).select('task_id').where('task_id', '=', recentDone).execute();
      expect(rows.length).toBeGreaterThan(0);
    }
    expect(await h.hub.janitor.purgeOnce()).toBe(0);
  });

  it('bounds what BullMQ keeps of finished jobs by age and count', async () => {
    const h = await harness({}, true);
    const { task, subtasks } = await h.hub.tasks.submit({ origin: origin('test:ret'), text: 'hello bounded' });
    await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    const job = await h.hub.ctx.queues.forCapability('demo.echo').getJob(jobIdFor(subtasks[0]!.id, 0));
    expect(job!.opts.removeOnComplete).toEqual({ age: 86_400, count: 5000 });
    expect(job!.opts.removeOnFail).toEqual({ age: 604_800, count: 5000 });
  });
});
