// Nothing is lost when a worker dies or Redis loses its data; workers register, discover and stop cleanly.
import { spawn, type ChildProcess } from 'node:child_process';
import { Queue, Worker } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { capabilityQueueName, createRedis, jobIdFor } from '../src/core/queues.ts';
import { listLiveWorkers } from '../src/core/worker-registry.ts';
import { createLogger } from '../src/core/logger.ts';
import { WorkerRuntime } from '../src/workers/worker-runtime.ts';
import { builtinCapabilities } from '../src/workers/capabilities/index.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';
import { redisUrl } from './helpers/test-env.ts';

let h: Harness;
const children: ChildProcess[] = [];
const runtimes: WorkerRuntime[] = [];

beforeAll(async () => {
  h = await createHarness({ workers: false, env: { WORKER_LOCK_MS: '1000' } });
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const r of runtimes.splice(0)) await r.stop();
});
afterAll(async () => {
  await h?.close();
});

/** Starts `switchboard worker` as a real child process sharing the harness's Redis prefix. */
function spawnWorker(extra: Record<string, string> = {}): ChildProcess {
  const child = spawn(
    process.execPath,
    ['bin/switchboard.js', 'worker', '--capabilities', 'demo.*', '--concurrency', '2'],
    {
      env: {
        ...process.env,
        ...h.env.childEnv,
        WORKER_LOCK_MS: '1000',
        WORKER_HEARTBEAT_MS: '300',
        LOG_LEVEL: 'warn',
        ...extra,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  child.stderr!.on('data', (d) => process.stderr.write(`[worker ${child.pid}] ${d}`));
  children.push(child);
  return child;
}

function inProcessWorker(handlers = builtinCapabilities(h.env.config), patterns = ['demo.*']): WorkerRuntime {
  const r = new WorkerRuntime({
    redis: createRedis(redisUrl()),
    prefix: h.env.prefix,
    patterns,
    handlers,
    concurrency: 4,
    log: createLogger('silent'),
    heartbeatMs: 300,
    lockMs: 1000,
    discoverMs: 100,
  });
  runtimes.push(r);
  return r;
}

const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) => {
    if (c.exitCode !== null) r(c.exitCode);
    else c.once('exit', (code) => r(code));
  });

describe('recovery', () => {
  it('a worker killed with SIGKILL mid-job: the job is recovered and the task completes once', async () => {
    const a = spawnWorker();
    const task = await h.submit('long work sleep 2 seconds 100 items');
    const started = await h.waitForEvent((e) => e.taskId === task.id && e.type === 'subtask.started', 30_000);
    expect(String(started.actor)).toContain(`-${a.pid}-`);
    await h.waitForEvent((e) => e.taskId === task.id && e.type === 'progress' && Number(e.data?.done) > 0);
    a.kill('SIGKILL');
    await exited(a);
    const b = spawnWorker();
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified, 30_000);
    expect(done.result).toEqual({ items: 100, durationMs: 2000 });
    const sub = await h.hub.ctx.db
      .selectFrom('subtasks')
      .selectAll()
      .where('task_id', '=', task.id)
      .executeTakeFirstOrThrow();
    expect(sub.worker_id).toContain(`-${b.pid}-`);
    const rows = await h.hub.ctx.db
      .selectFrom('task_events')
      .select('type')
      .where('task_id', '=', task.id)
      .where('type', 'in', ['completed', 'subtask.succeeded'])
      .execute();
    expect(rows).toHaveLength(2);
    expect(h.chat.forTask(task.id).filter((d) => d.message.kind === 'result')).toHaveLength(1);
    // The run on the second worker is recorded, and counted: two runs.
    const again = await h.hub.ctx.db
      .selectFrom('task_events')
      .select(['actor', 'data'])
      .where('task_id', '=', task.id)
      .where('type', '=', 'subtask.redelivered')
      .execute();
    expect(again).toHaveLength(1);
    expect(String(again[0]!.actor)).toContain(`-${b.pid}-`);
    expect(String((again[0]!.data as { previousWorker: string }).previousWorker)).toContain(`-${a.pid}-`);
    expect(sub.attempts).toBe(2);
  });

  it('Redis flushed while tasks are queued: the reconciler restores them from Postgres, none lost', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await h.submit(`queued task ${i}`)).id);
    ids.push((await h.submit('fan out in 3 steps')).id);
    // Lose every key of this hub's namespace, as a FLUSHALL or a Redis restart without persistence would.
    const keys = await h.hub.ctx.redis.keys(`${h.env.prefix}:*`);
    await h.hub.ctx.redis.del(...keys);
    const q = h.hub.ctx.queues.forCapability('demo.echo');
    expect(await q.getJobCounts('waiting', 'prioritized')).toEqual({ waiting: 0, prioritized: 0 });
    await h.hub.ctx.db
      .updateTable('subtasks')
      .set({ updated_at: new Date(Date.now() - 60_000) })
      .where('task_id', 'in', ids)
      .execute();

    const report = await h.hub.reconciler.runOnce();
    expect(report.requeued).toBe(8); // 5 single steps + 3 branches (the join is still PENDING)
    expect(await h.hub.ctx.redis.sismember(h.hub.ctx.keys.capabilities, 'demo.echo')).toBe(1);
    await inProcessWorker().start();
    for (const id of ids) await h.waitForTask(id, (t) => t.status === 'COMPLETED');
    expect(await h.hub.reconciler.runOnce()).toMatchObject({ requeued: 0 });
  });

  it('a result Redis has but Postgres never applied is applied by the reconciler', async () => {
    const { task, subtasks } = await h.hub.tasks.submit({ origin: h.origin(), text: 'use orphan.cap: x' });
    const s = subtasks[0]!;
    // A worker that finished the job but whose report never reached the conductor.
    const conn = createRedis(redisUrl());
    const raw = new Worker(capabilityQueueName('orphan.cap'), async () => ({ recovered: true }), {
      connection: conn,
      prefix: h.env.prefix,
    });
    const q = new Queue(capabilityQueueName('orphan.cap'), { connection: conn, prefix: h.env.prefix });
    const job = (await q.getJob(jobIdFor(s.id, 0)))!;
    await new Promise<void>((resolve) =>
      raw.on('completed', (j) => {
        if (j.id === job.id) resolve();
      }),
    );
    await raw.close();
    await q.close();
    conn.disconnect();
    await h.hub.ctx.db
      .updateTable('subtasks')
      .set({ updated_at: new Date(Date.now() - 60_000) })
      .where('id', '=', s.id)
      .execute();
    const report = await h.hub.reconciler.runOnce();
    expect(report.appliedFromRedis).toBe(1);
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    expect(done.result).toEqual({ recovered: true });
    // Its start was never signalled: the reconciler's application records it, as the conductor does.
    const types = await h.hub.ctx.db
      .selectFrom('task_events')
      .select('type')
      .where('task_id', '=', task.id)
      .orderBy('id')
      .execute();
    expect(types.map((e) => e.type)).toEqual(
      expect.arrayContaining(['subtask.started', 'started', 'subtask.succeeded', 'completed']),
    );
  });

  it('workers heartbeat their registration, pick up capability queues created after they start, and deregister', async () => {
    const r = inProcessWorker({ 'late.*': async ({ input }) => ({ late: input }) }, ['late.*']);
    await r.start();
    const live = await listLiveWorkers(h.hub.ctx.redis, h.hub.ctx.keys);
    const me = live.find((w) => w.id === r.id)!;
    expect(me).toMatchObject({ patterns: ['late.*'], capabilities: ['late.*'], state: 'IDLE', running: 0 });
    const { task, warnings } = await h.hub.tasks.submit({ origin: h.origin(), text: 'use late.arrival: hi' });
    expect(warnings).toEqual([]);
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    expect(done.result).toEqual({ late: { text: 'hi' } });
    await r.stop();
    runtimes.splice(runtimes.indexOf(r), 1);
    expect((await listLiveWorkers(h.hub.ctx.redis, h.hub.ctx.keys)).some((w) => w.id === r.id)).toBe(false);
  });

  it('SIGTERM: a worker process stops taking jobs, finishes the running one and exits 0', async () => {
    const a = spawnWorker();
    const task = await h.submit('long work sleep 1 seconds 50 items');
    await h.waitForEvent((e) => e.taskId === task.id && e.type === 'subtask.started', 30_000);
    a.kill('SIGTERM');
    expect(await exited(a)).toBe(0);
    const t = await h.waitForTask(task.id, (x) => x.status === 'COMPLETED');
    expect(t.status).toBe('COMPLETED');
    expect((await listLiveWorkers(h.hub.ctx.redis, h.hub.ctx.keys)).some((w) => w.pid === a.pid)).toBe(false);
  });
});
