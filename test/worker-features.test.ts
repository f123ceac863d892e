// Worker runtime features: task-scoped sessions, cancel of a running job, progress derivation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Planner } from '../src/core/planning/plan.ts';
import { deriveProgress } from '../src/core/tasks/progress.ts';
import { RulePlanner } from '../src/core/planning/rule-planner.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const session = { created: 0, disposed: deferred<number>() };
const block = { started: deferred(), aborted: deferred<number>() };

const planner: Planner = {
  async plan(req) {
    if (req.text === 'session chain') {
      return {
        summary: 'two steps sharing a session',
        steps: [
          { key: 'a', capability: 'test.session', input: {}, dependsOn: [] },
          { key: 'b', capability: 'test.session', input: {}, dependsOn: ['a'] },
        ],
      };
    }
    return new RulePlanner().plan(req);
  },
};

let h: Harness;
beforeAll(async () => {
  h = await createHarness({
    planner,
    handlers: {
      'test.session': async ({ session: s }) => {
        const conn = await s.get(
          'conn',
          () => ({ id: ++session.created }),
          (c) => session.disposed.resolve(c.id),
        );
        return { conn: conn.id };
      },
      'test.block': ({ signal }) =>
        new Promise((_, reject) => {
          block.started.resolve();
          signal.addEventListener(
            'abort',
            () => {
              block.aborted.resolve(Date.now());
              reject(signal.reason);
            },
            { once: true },
          );
        }),
    },
  });
});
afterAll(async () => {
  await h?.close();
});

describe('worker runtime', () => {
  it('subtasks of one task share a session resource, disposed when the task ends', async () => {
    const task = await h.submit('session chain');
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    expect(done.result).toEqual({ conn: 1 });
    expect(session.created).toBe(1);
    expect(await session.disposed.promise).toBe(1);
  });

  it('cancelling a task aborts its running job on the worker within a second; the origin hears CANCELLED once', async () => {
    const { task } = await h.hub.tasks.submit({ origin: h.origin(), text: 'use test.block: forever' });
    await block.started.promise;
    await h.waitForEvent((e) => e.taskId === task.id && e.type === 'subtask.started');
    const t0 = Date.now();
    const { alreadyFinished } = await h.hub.tasks.cancel(task.id, { userId: 'test:alice' });
    expect(alreadyFinished).toBe(false);
    const abortedAt = await block.aborted.promise;
    expect(abortedAt - t0).toBeLessThan(1000);
    const row = await h.waitForTask(task.id, (t) => t.final_notified);
    expect(row.status).toBe('CANCELLED');
    expect(
      h.chat.forTask(task.id).filter((d) => d.message.kind === 'failure' && /cancelled/.test(d.message.text)),
    ).toHaveLength(1);
    const sub = await h.hub.ctx.db
      .selectFrom('subtasks')
      .selectAll()
      .where('task_id', '=', task.id)
      .executeTakeFirstOrThrow();
    expect(sub.status).toBe('CANCELLED');
    expect((await h.hub.tasks.cancel(task.id, { userId: 'test:alice' })).alreadyFinished).toBe(true);
  });
});

describe('progress derivation', () => {
  const at = (ms: number) => new Date(1_000_000 + ms);
  it('derives percent, rate and ETA from item progress', () => {
    const p = deriveProgress(
      [
        { status: 'SUCCEEDED', progress: null, started_at: at(0), updated_at: at(1000) },
        {
          status: 'RUNNING',
          progress: { stage: 'working', done: 500, total: 2000 },
          started_at: at(0),
          updated_at: at(10_000),
        },
      ],
      at(0),
      1_000_000 + 10_000,
    );
    expect(p.percent).toBe(62.5); // (100 + 25) / 2
    expect(p.itemsPerSecond).toBe(50);
    expect(p.etaMs).toBe(30_000);
    expect(p).toMatchObject({
      stage: 'working',
      done: 500,
      total: 2000,
      subtasksDone: 1,
      subtasksTotal: 2,
      elapsedMs: 10_000,
    });
  });

  it('reports zero for work that has not started', () => {
    const p = deriveProgress([{ status: 'READY', progress: null, started_at: null, updated_at: at(0) }], null);
    expect(p).toMatchObject({ percent: 0, elapsedMs: 0, subtasksDone: 0, subtasksTotal: 1 });
    expect(p.etaMs).toBeUndefined();
  });
});
