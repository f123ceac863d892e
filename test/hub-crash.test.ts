// A hub killed with SIGKILL while results and messages are pending: the next hub picks them up within the bound.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { QueueEvents, Worker } from 'bullmq';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { HubEvent } from '../src/core/hub-context.ts';
import { createRedis, HUB_LOCK_MS, NOTIFY_QUEUE, RESULTS_QUEUE } from '../src/core/queues.ts';
import { RulePlanner } from '../src/core/planning/rule-planner.ts';
import { TaskService } from '../src/core/tasks/task-service.ts';
import type { JobResult } from '../src/core/types.ts';
import { startHub, type Hub } from '../src/main.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';
import { createTestEnv, databaseUrl, redisUrl, type TestEnv } from './helpers/test-env.ts';

/** A crashed hub's job waits for its lock to lapse and for two stalled checks at most (plus start-up slack). */
const RECOVERY_BOUND_MS = 3 * HUB_LOCK_MS + 2_000;

const children: ChildProcess[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
});

/** Starts a hub as a child process on `env`; resolves once it is ready. */
async function spawnHub(env: TestEnv): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--experimental-transform-types', '--no-warnings', 'test/helpers/hub-child.ts'],
    {
      env: { ...process.env, ...env.childEnv, PORT: '0', HUB_SCHEMA: env.schema, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  child.stderr!.on('data', (d) => process.stderr.write(`[hub ${child.pid}] ${d}`));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += String(d);
      if (out.includes('ready ')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the child hub exited (${code}) before it was ready`)));
  });
  return child;
}

describe.skipIf(!databaseUrl())('hub crash', () => {
  it('a hub killed with SIGKILL while applying a result: the next hub applies it within the bound', async () => {
    const env = await createTestEnv({ PORT: '0' });
    closers.push(() => env.close());
    const first = await spawnHub(env);
    const tasks = new TaskService(env.ctx, new RulePlanner());
    const { task, subtasks } = await tasks.submit({
      origin: { platform: 'test', conversationId: 'c1', userId: 'test:alice' },
      text: 'echo before the crash',
    });
    const sub = subtasks[0]!;

    // Hold the task row, so the child hub's conductor takes the result and waits inside applyResult.
    const holder = new pg.Client({ connectionString: databaseUrl() });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query(`SELECT id FROM ${env.schema}.tasks WHERE id = $1 FOR UPDATE`, [task.id]);
    const events = new QueueEvents(RESULTS_QUEUE, { connection: createRedis(redisUrl()), prefix: env.prefix });
    await events.waitUntilReady();
    const active = new Promise<void>((resolve) => events.on('active', () => resolve()));
    const result: JobResult = {
      kind: 'succeeded',
      taskId: task.id,
      subtaskId: sub.id,
      generation: 0,
      attempt: 1,
      workerId: 'test-worker',
      output: { text: 'done' },
    };
    await env.ctx.queues.get(RESULTS_QUEUE).add('succeeded', result, { jobId: `${sub.id}-result` });
    await active;
    await events.close();

    first.kill('SIGKILL');
    await once(first, 'exit');
    const killedAt = performance.now();
    await holder.query('ROLLBACK');
    await holder.end();

    const hub: Hub = await startHub({ config: env.config, database: env.database, frontendFactories: [] });
    closers.push(() => hub.stop());
    const completed = new Promise<void>((resolve) =>
      hub.ctx.onEvents((evs: HubEvent[]) => {
        if (evs.some((e) => e.taskId === task.id && e.type === 'completed')) resolve();
      }),
    );
    const done = await env.ctx.db.selectFrom('tasks').select('status').where('id', '=', task.id).executeTakeFirst();
    if (done?.status !== 'COMPLETED') await completed;
    const recoveryMs = performance.now() - killedAt;
    process.stdout.write(`result applied ${Math.round(recoveryMs)} ms after the hub's SIGKILL\n`);
    expect(recoveryMs).toBeLessThan(RECOVERY_BOUND_MS);
    const row = await env.ctx.db.selectFrom('subtasks').select('status').where('id', '=', sub.id).executeTakeFirst();
    expect(row?.status).toBe('SUCCEEDED');
    // The notify and schedule queues run with the same short lock.
    for (const w of [
      (hub.notifier as unknown as { worker: Worker }).worker,
      (hub.scheduleRunner as unknown as { worker: Worker }).worker,
      (hub.conductor as unknown as { worker: Worker }).worker,
    ])
      expect([w.opts.lockDuration, w.opts.stalledInterval]).toEqual([HUB_LOCK_MS, HUB_LOCK_MS]);
  }, 60_000);
});

describe('a recovered acknowledgement', () => {
  let h: Harness;
  afterAll(async () => {
    await h?.close();
  });

  it('an ack job stalled by a hub crash and run again after the task finished sends nothing', async () => {
    h = await createHarness();
    await h.hub.notifier.stop(); // the "crashed" hub's notifier: nothing delivers while we take the ack
    const task = await h.submit('echo acked after a crash');
    await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');

    // The crashed hub had taken the acknowledgement (active, locked) and died before finishing it.
    const taker = new Worker(NOTIFY_QUEUE, null, {
      connection: createRedis(redisUrl()),
      prefix: h.env.prefix,
      lockDuration: 1_000,
    });
    const job = await taker.getNextJob('crashed-hub');
    expect(job?.id).toBe(`ack-${task.id}`);
    await taker.close();

    const events = new QueueEvents(NOTIFY_QUEUE, { connection: createRedis(redisUrl()), prefix: h.env.prefix });
    await events.waitUntilReady();
    const ackDone = new Promise<void>((resolve) =>
      events.on('completed', ({ jobId }) => {
        if (jobId === `ack-${task.id}`) resolve();
      }),
    );
    await h.hub.notifier.start(); // the next hub: delivers the final message, then recovers the stalled ack
    await h.waitForTask(task.id, (t) => t.final_notified);
    await ackDone;
    await events.close();
    const recovered = await h.hub.ctx.queues.get(NOTIFY_QUEUE).getJob(`ack-${task.id}`);
    expect(recovered?.stalledCounter).toBe(1);
    const kinds = h.chat.deliveries.filter((d) => d.message.taskId === task.id).map((d) => d.message.kind);
    expect(kinds).not.toContain('ack');
    expect(kinds.filter((k) => k === 'result')).toHaveLength(1);
  }, 60_000);
});
