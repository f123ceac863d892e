// A benchmark child process hosting many WorkerRuntime instances (one shared base Redis connection),
// driven over IPC by bench/run.ts. Handlers: `bench.progress` (timed progress reports) and `scale.*` (routing check).
import { Redis } from 'ioredis';
import { createLogger } from '../src/core/logger.ts';
import type { CapabilityHandlers } from '../src/workers/capability.ts';
import { WorkerRuntime } from '../src/workers/worker-runtime.ts';
import { nowMs, sleep } from './lib/stats.ts';

/** One runtime to start. */
export interface RuntimeSpec {
  id: string;
  patterns: string[];
  concurrency: number;
  progressIntervalMs?: number;
}

/** Messages from the parent. */
export type PoolCommand = { t: 'add'; specs: RuntimeSpec[] } | { t: 'stop' };
/** Messages to the parent. */
export type PoolMessage =
  | { t: 'added'; count: number; rss: number }
  | { t: 'reports'; taskId: string; reports: Array<[done: number, at: number]> }
  | { t: 'stopped' };

/** Capabilities of the scale scenario (each runtime advertises a pattern over some of them). */
export const SCALE_CAPABILITIES = ['scale.alpha', 'scale.beta', 'scale.gamma.fast', 'scale.delta'];

const prefix = process.env.QUEUE_PREFIX ?? 'sb';
const log = createLogger(process.env.LOG_LEVEL ?? 'silent', 'bench-pool');
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
redis.on('error', () => {});
const runtimes: WorkerRuntime[] = [];
const send = (m: PoolMessage) => process.send?.(m);

function handlersFor(workerId: string): CapabilityHandlers {
  // Every scale capability gets an exact handler key, so the heartbeat advertises exactly what the patterns allow.
  const scale = async () => ({ worker: workerId });
  return {
    ...Object.fromEntries(SCALE_CAPABILITIES.map((c) => [c, scale])),
    // Input text "<reports>x<everyMs>": reports items 1..n, timestamping each at the call to progress.items().
    'bench.progress': async ({ input, progress, job, signal }) => {
      const [n, every] = String((input as { text?: string })?.text ?? '20x50')
        .split('x')
        .map(Number) as [number, number];
      const reports: Array<[number, number]> = [];
      progress.stage('working', n);
      for (let i = 1; i <= n && !signal.aborted; i++) {
        await sleep(every);
        reports.push([i, nowMs()]);
        progress.items(i, n);
      }
      send({ t: 'reports', taskId: job.taskId, reports });
      await sleep(300); // lets the last report's edit land before the final message owns the progress line
      return { reports: n };
    },
  };
}

process.on('message', (cmd: PoolCommand) => {
  void (async () => {
    if (cmd.t === 'add') {
      const added = cmd.specs.map(
        (s) =>
          new WorkerRuntime({
            redis,
            prefix,
            patterns: s.patterns,
            handlers: handlersFor(s.id),
            concurrency: s.concurrency,
            log,
            id: s.id,
            progressIntervalMs: s.progressIntervalMs,
            heartbeatMs: 5000,
            lockMs: 30_000,
            version: 'bench',
          }),
      );
      // Start in small batches so hundreds of connections do not open in one burst.
      for (let i = 0; i < added.length; i += 25) await Promise.all(added.slice(i, i + 25).map((r) => r.start()));
      runtimes.push(...added);
      send({ t: 'added', count: runtimes.length, rss: process.memoryUsage().rss });
    } else if (cmd.t === 'stop') {
      await stopAll();
      send({ t: 'stopped' });
      process.exit(0);
    }
  })().catch((err) => {
    process.stderr.write(`worker-pool: ${String(err?.stack ?? err)}\n`);
    process.exit(1);
  });
});

async function stopAll(): Promise<void> {
  await Promise.all(runtimes.map((r) => r.stop().catch(() => {})));
  redis.disconnect();
}

process.on('SIGTERM', () => {
  void stopAll().finally(() => process.exit(0));
});
process.on('disconnect', () => {
  void stopAll().finally(() => process.exit(0));
});
