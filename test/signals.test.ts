// Worker signals: applied once when several hubs listen, and a job run again after its worker died is recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubEvent } from '../src/core/events.ts';
import { HubContext } from '../src/core/hub-context.ts';
import { newId } from '../src/core/ids.ts';
import { createLogger } from '../src/core/logger.ts';
import { createRedis } from '../src/core/queues.ts';
import { json, newTaskValues } from '../src/core/store/task-store.ts';
import { Conductor } from '../src/core/tasks/conductor.ts';
import type { WorkerSignal } from '../src/core/types.ts';
import { createTestEnv, redisUrl, type TestEnv } from './helpers/test-env.ts';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.close();
});

/** A task in ASSIGNED with one queued READY step. */
async function oneStepTask(): Promise<{ taskId: string; subtaskId: string }> {
  const taskId = newId();
  const subtaskId = newId();
  const user = 'test:alice';
  await env.ctx.db
    .insertInto('tasks')
    .values(
      newTaskValues({
        id: taskId,
        user_id: user,
        origin: json({ platform: 'test', conversationId: 'c', userId: user })!,
        text: 'x',
        status: 'ASSIGNED',
        priority: 'normal',
        notify_policy: 'silent',
      }),
    )
    .execute();
  await env.ctx.db
    .insertInto('subtasks')
    .values({
      id: subtaskId,
      task_id: taskId,
      user_id: user,
      key: 'main',
      capability: 'demo.echo',
      input: json({}),
      depends_on: [],
      status: 'READY',
      max_attempts: 3,
      backoff_ms: 10,
      jitter: 0,
      timeout_ms: 10_000,
      output: null,
      error: null,
      progress: null,
      worker_id: null,
      queued_at: new Date(),
      started_at: null,
      finished_at: null,
    })
    .execute();
  return { taskId, subtaskId };
}

/** A subtask's row as stored now. */
const subtaskRow = (id: string) =>
  env.ctx.db.selectFrom('subtasks').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

const eventTypes = async (taskId: string) =>
  (await env.ctx.db.selectFrom('task_events').select('type').where('task_id', '=', taskId).orderBy('id').execute()).map(
    (e) => e.type,
  );

describe('signals', () => {
  it('two hubs on one prefix: each signal is applied once (one progress.stage event, one update per report)', async () => {
    const other = new HubContext(env.config, env.database.db, createRedis(redisUrl()), createLogger('silent'));
    const hubs = [env.ctx, other];
    const seen = hubs.map(() => [] as HubEvent[]);
    hubs.forEach((ctx, i) => ctx.onEvents((events) => void seen[i]!.push(...events)));
    const conductors = hubs.map((ctx) => new Conductor(ctx));
    await Promise.all(conductors.map((c) => c.start()));
    const { taskId, subtaskId } = await oneStepTask();
    const base = { taskId, subtaskId, generation: 0 };
    const signals: WorkerSignal[] = [
      { t: 'started', ...base, workerId: 'w1', attempt: 1, at: Date.now() },
      ...[1, 2, 3].map((done) => ({
        t: 'progress' as const,
        ...base,
        progress: { stage: 'fetch', done, total: 3 },
        at: Date.now(),
      })),
    ];
    for (const s of signals) await env.ctx.redis.publish(env.ctx.keys.signals, JSON.stringify(s));
    const progress = () => seen.flat().filter((e) => e.type === 'progress');
    await expect.poll(() => progress().length, { timeout: 10_000 }).toBe(3);
    // Stopping waits for every signal each hub has taken: what the other hub would apply is counted too.
    await Promise.all(conductors.map((c) => c.stop()));
    expect(progress().map((e) => e.data?.done)).toEqual([1, 2, 3]);
    expect(seen.filter((s) => s.length > 0)).toHaveLength(1);
    expect(await eventTypes(taskId)).toEqual(['subtask.started', 'started', 'progress.stage']);
    // A stopped hub gives its lease back: another hub takes the subtask's signals over at once.
    expect(await env.ctx.redis.exists(`${env.ctx.keys.signals}:lease:${subtaskId}`)).toBe(0);
    other.redis.disconnect();
  });

  it('a job run again after its worker died is recorded as redelivered and counted as an attempt', async () => {
    const conductor = new Conductor(env.ctx);
    const { taskId, subtaskId } = await oneStepTask();
    const base = { taskId, subtaskId, generation: 0, attempt: 1 };
    await conductor.applySignal({ t: 'started', ...base, workerId: 'w1', at: Date.now() - 5000 });
    const again: WorkerSignal = { t: 'started', ...base, workerId: 'w2', at: Date.now(), redelivered: true };
    await conductor.applySignal(again);
    await conductor.applySignal(again); // a duplicate of the same run changes nothing
    const sub = () => subtaskRow(subtaskId);
    expect(await sub()).toMatchObject({ status: 'RUNNING', worker_id: 'w2', attempts: 1 });
    const redelivered = await env.ctx.db
      .selectFrom('task_events')
      .selectAll()
      .where('task_id', '=', taskId)
      .where('type', '=', 'subtask.redelivered')
      .execute();
    expect(redelivered.map((e) => e.data)).toEqual([{ key: 'main', attempt: 2, previousWorker: 'w1' }]);
    await conductor.applyResult({ kind: 'succeeded', ...base, workerId: 'w2', output: { ok: true } });
    expect(await sub()).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
    expect(await eventTypes(taskId)).toEqual([
      'subtask.started',
      'started',
      'subtask.redelivered',
      'subtask.succeeded',
      'completed',
    ]);
  });

  it('a redelivered run stays counted through a retry: every run is an attempt', async () => {
    const conductor = new Conductor(env.ctx);
    const { taskId, subtaskId } = await oneStepTask();
    const base = { taskId, subtaskId, generation: 0 };
    await conductor.applySignal({ t: 'started', ...base, attempt: 1, workerId: 'w1', at: Date.now() - 5000 });
    await conductor.applySignal({
      t: 'started',
      ...base,
      attempt: 1,
      workerId: 'w2',
      at: Date.now() - 4000,
      redelivered: true,
    });
    const failed = { kind: 'failed' as const, ...base, attempt: 1, workerId: 'w2', error: 'x', final: false };
    await conductor.applyResult(failed);
    await conductor.applySignal({ t: 'started', ...base, attempt: 2, workerId: 'w3', at: Date.now() });
    await conductor.applyResult({ kind: 'succeeded', ...base, attempt: 2, workerId: 'w3', output: 1 });
    const sub = await subtaskRow(subtaskId);
    expect(sub).toMatchObject({ status: 'SUCCEEDED', attempts: 3 });
  });

  it('a start signal that arrives after its failed result is no redelivery: the count stays with BullMQ', async () => {
    const conductor = new Conductor(env.ctx);
    const { taskId, subtaskId } = await oneStepTask();
    const base = { taskId, subtaskId, generation: 0 };
    await conductor.applyResult({ kind: 'failed', ...base, attempt: 1, workerId: 'w1', error: 'x', final: false });
    await conductor.applySignal({ t: 'started', ...base, attempt: 1, workerId: 'w1', at: Date.now() - 1000 });
    await conductor.applySignal({ t: 'started', ...base, attempt: 2, workerId: 'w1', at: Date.now() });
    await conductor.applyResult({ kind: 'succeeded', ...base, attempt: 2, workerId: 'w1', output: 1 });
    const sub = await subtaskRow(subtaskId);
    expect(sub).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
    expect(await eventTypes(taskId)).not.toContain('subtask.redelivered');
  });
});
