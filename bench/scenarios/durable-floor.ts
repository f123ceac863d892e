// Scenario 0: the durable floor — what any durable task system must do per one-step task, on raw BullMQ: an INSERT
// at submit, a job, and an UPDATE at completion, both statements through one pg pool (like the hub's). The hub's
// single-step throughput is judged as a ratio of this, measured in the same run on the same Redis and Postgres.
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { cpuWindow, REDIS_URL, type BenchEnv } from '../lib/env.ts';
import { nowMs, pool, round, waitUntil } from '../lib/stats.ts';
import { perTask } from './throughput.ts';

/** What the durable floor measured. */
export interface DurableFloorResult {
  tasks: number;
  seconds: number;
  tasksPerSec: number;
  /** CPU ms per task: this process (submit + apply), Redis, Postgres (this pool's backends), and their total. */
  cpuMsPerTask: Record<string, number>;
}

/**
 * Submits `tasks` tasks (32 submit calls in flight, as the hub scenario does) and waits until every row is done.
 * `name` keeps each round's schema and keys apart.
 */
export async function runDurableFloor(
  env: BenchEnv,
  opts: { quick: boolean; name?: string },
): Promise<DurableFloorResult> {
  const tasks = opts.quick ? 1000 : 5000;
  const name = opts.name ?? 'floor';
  const db = await env.openDatabase(name, 10);
  const prefix = env.prefix(name);
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const workerConnection = connection.duplicate();
  const queue = new Queue('floor', { connection, prefix });
  const jobOpts = { removeOnComplete: { age: 3600, count: 1000 }, removeOnFail: { age: 3600 } };
  let done = 0;
  const worker = new Worker(
    'floor',
    async (job) => {
      // Guarded like a real state change: a redelivered job changes nothing.
      await db.pool.query(
        `update floor_tasks set status = 'done', output = $2, finished_at = now() where id = $1 and status = 'queued'`,
        [job.id, JSON.stringify({ echo: job.data.text })],
      );
      done++;
      return null;
    },
    { connection: workerConnection, prefix, concurrency: 50 },
  );
  try {
    await db.pool.query(
      `create table floor_tasks (id text primary key, user_id text not null, status text not null, input jsonb not null,
         output jsonb, created_at timestamptz not null default now(), finished_at timestamptz)`,
    );
    await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
    const submit = async (i: number, label: string) => {
      const id = `${label}-${i}`;
      const input = { text: `floor #${i}` };
      await db.pool.query(`insert into floor_tasks (id, user_id, status, input) values ($1, $2, 'queued', $3)`, [
        id,
        `u${i % 100}`,
        JSON.stringify(input),
      ]);
      await queue.add('task', input, { ...jobOpts, jobId: id });
    };
    // Warm-up (connections, scripts, JIT), not measured.
    await pool(200, 32, (i) => submit(i, 'warm'));
    await waitUntil(() => done >= 200, 'durable floor warm-up', 30_000, 10);
    await db.pool.query('analyze floor_tasks'); // steady state, as the hub's scenarios (see throughput.ts)
    done = 0;
    const endCpu = await cpuWindow(db.schema!);
    const t0 = nowMs();
    await pool(tasks, 32, (i) => submit(i, 'run'));
    await waitUntil(() => done >= tasks, 'durable floor tasks', 120_000, 5);
    const seconds = (nowMs() - t0) / 1000;
    const cpu = await endCpu();
    delete cpu.workers; // the floor's jobs run in this process
    return {
      tasks,
      seconds: round(seconds, 2),
      tasksPerSec: round(tasks / seconds, 1),
      cpuMsPerTask: perTask(cpu, tasks),
    };
  } finally {
    await worker.close();
    await queue.close();
    workerConnection.disconnect();
    connection.disconnect();
    await db.close();
    await env.deleteKeys(prefix);
    await env.dropSchema(db.schema!);
  }
}
