// Scenario 1: raw BullMQ on the same Redis — the yardstick the hub's numbers are divided by.
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { REDIS_URL, type BenchEnv } from '../lib/env.ts';
import { openLoop, round, summarize, waitUntil, type LatencySummary } from '../lib/stats.ts';

/** What the baseline measured. */
export interface BaselineResult {
  addLatency: LatencySummary;
  addBulkJobsPerSec: number;
  processJobsPerSec: number;
  processedJobs: number;
  addToCompleted: LatencySummary;
}

const jobOpts = { removeOnComplete: { age: 3600, count: 1000 }, removeOnFail: { age: 3600 } };

/** Runs the four baseline measurements on their own prefix. */
export async function runBaseline(env: BenchEnv, opts: { quick: boolean }): Promise<BaselineResult> {
  const prefix = env.prefix('baseline');
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('bench', { connection, prefix });
  await queue.waitUntilReady();
  const singles = opts.quick ? 500 : 2000;
  const bulkJobs = opts.quick ? 5000 : 20_000;
  try {
    // Single add latency (sequential; the first 100 warm up the connection and scripts).
    const addLat: number[] = [];
    for (let i = 0; i < singles + 100; i++) {
      const t = performance.now();
      await queue.add('noop', { i }, jobOpts);
      if (i >= 100) addLat.push(performance.now() - t);
    }
    // addBulk throughput in batches of 1000.
    const t0 = performance.now();
    for (let i = 0; i < bulkJobs; i += 1000) {
      await queue.addBulk(
        Array.from({ length: Math.min(1000, bulkJobs - i) }, (_, k) => ({
          name: 'noop',
          data: { i: i + k },
          opts: jobOpts,
        })),
      );
    }
    const addBulkJobsPerSec = bulkJobs / ((performance.now() - t0) / 1000);

    // No-op processing of the whole backlog at concurrency 50.
    const backlog = singles + 100 + bulkJobs;
    let done = 0;
    let last = 0;
    const start = performance.now();
    const workerConnection = connection.duplicate();
    const worker = new Worker('bench', async () => null, { connection: workerConnection, prefix, concurrency: 50 });
    worker.on('completed', () => {
      done++;
      last = performance.now();
    });
    await waitUntil(() => done >= backlog, 'baseline backlog processed', 120_000, 20);
    const processJobsPerSec = backlog / ((last - start) / 1000);

    // add -> completed through QueueEvents, open loop at 100 jobs/s.
    const eventsConnection = connection.duplicate();
    const events = new QueueEvents('bench', { connection: eventsConnection, prefix });
    await events.waitUntilReady();
    const sent = new Map<string, number>();
    const lat: number[] = [];
    const waiters = new Map<string, () => void>();
    events.on('completed', ({ jobId }) => {
      const at = sent.get(jobId);
      if (at !== undefined) {
        lat.push(performance.now() - at);
        sent.delete(jobId);
        waiters.get(jobId)?.();
      }
    });
    const n = opts.quick ? 200 : 500;
    await openLoop(n, 100, async (i) => {
      const id = `e2e-${i}`;
      const finished = new Promise<void>((resolve) => waiters.set(id, resolve));
      sent.set(id, performance.now());
      await queue.add('noop', { i }, { ...jobOpts, jobId: id });
      await Promise.race([finished, new Promise((r) => setTimeout(r, 10_000))]);
    });
    await worker.close();
    await events.close();
    workerConnection.disconnect();
    eventsConnection.disconnect();
    return {
      addLatency: summarize(addLat),
      addBulkJobsPerSec: round(addBulkJobsPerSec, 0),
      processJobsPerSec: round(processJobsPerSec, 0),
      processedJobs: backlog,
      addToCompleted: summarize(lat),
    };
  } finally {
    await queue.close();
    connection.disconnect();
    await env.deleteKeys(prefix);
  }
}
