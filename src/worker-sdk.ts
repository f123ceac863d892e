// The public worker SDK (`import { defineCapability, startWorker, z } from 'switchboard/worker'`): declare
// capabilities in your own project and run them as a worker that joins a hub through its Redis.
import type { Logger } from 'pino';
import { ConfigError } from './core/errors.ts';
import { createLogger } from './core/logger.ts';
import { createRedis } from './core/queues.ts';
import type { CapabilitySpec } from './core/types.ts';
import { ConnectionWatch, assertRedisReachable } from './startup-checks.ts';
import { VERSION } from './version.ts';
import { byName, type CapabilityHandlers } from './workers/capability.ts';
import type { Capability } from './workers/define-capability.ts';
import { WorkerRuntime } from './workers/worker-runtime.ts';

export { UnrecoverableError } from 'bullmq';
export { z } from 'zod';
export { defineCapability, type Capability } from './workers/define-capability.ts';
export type { CapabilityHandler, CapabilityHandlers, HandlerContext } from './workers/capability.ts';
export type { ProgressTracker } from './workers/progress-tracker.ts';
export type { SessionScope } from './workers/session-store.ts';
export type { CapabilitySpec } from './core/types.ts';

/** How to run a worker. Only `capabilities` is required. */
export interface StartWorkerOptions {
  /** What this worker runs: capabilities from `defineCapability` (or handlers keyed by name or pattern). */
  capabilities: Capability<any>[] | CapabilityHandlers;
  /** The hub's Redis (default: the REDIS_URL environment variable). */
  redisUrl?: string;
  /** Jobs run at once (default 8). */
  concurrency?: number;
  /** The hub's QUEUE_PREFIX (default: QUEUE_PREFIX or `sb`). */
  prefix?: string;
  /** pino level (default: LOG_LEVEL or `info`); ignored when `log` is given. */
  logLevel?: string;
  /** Your own pino logger. */
  log?: Logger;
  /** Which of the capabilities to run (default: all of them). */
  patterns?: string[];
  /** Heartbeat interval (default 5000 ms); the hub forgets a worker after three missed beats. */
  heartbeatMs?: number;
  /** Job lock (default 30000 ms): a job whose worker vanished is handed to another after this long. */
  lockMs?: number;
  /** How long stop() waits for running jobs before handing them back (default 10000 ms). */
  shutdownGraceMs?: number;
}

/** A running worker. */
export interface WorkerHandle {
  /** The id the hub lists it under (`switchboard workers`). */
  readonly id: string;
  /** What it advertises to planners: name, description and input JSON schema of each capability. */
  readonly specs: CapabilitySpec[];
  /** The capability names (or family patterns) it runs. */
  readonly capabilities: string[];
  /** Jobs running now. */
  readonly running: number;
  /** Stops taking jobs, lets running ones finish (within the grace period), and disconnects. */
  stop(): Promise<void>;
}

/** Connects to the hub's Redis, advertises the capabilities and runs their jobs until stop(). */
export async function startWorker(opts: StartWorkerOptions): Promise<WorkerHandle> {
  const url = opts.redisUrl ?? process.env.REDIS_URL;
  if (!url)
    throw new ConfigError(
      'The worker needs the Redis of its hub: pass redisUrl or set REDIS_URL (the hub prints it at start), e.g. REDIS_URL=redis://127.0.0.1:6379.',
    );
  const handlers = Array.isArray(opts.capabilities) ? byName(opts.capabilities) : opts.capabilities;
  if (Object.keys(handlers).length === 0) throw new ConfigError('startWorker: no capabilities given.');
  const log = opts.log ?? createLogger(opts.logLevel ?? process.env.LOG_LEVEL ?? 'info');
  await assertRedisReachable(url, opts.redisUrl ? 'redisUrl' : 'REDIS_URL');
  const redis = new ConnectionWatch(log, 'Redis').watch(createRedis(url));
  const runtime = new WorkerRuntime({
    redis,
    prefix: opts.prefix ?? process.env.QUEUE_PREFIX ?? 'sb',
    patterns: opts.patterns ?? Object.keys(handlers),
    handlers,
    concurrency: opts.concurrency ?? 8,
    log,
    heartbeatMs: opts.heartbeatMs,
    lockMs: opts.lockMs,
    shutdownGraceMs: opts.shutdownGraceMs,
    version: VERSION,
  });
  try {
    await runtime.start();
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    id: runtime.id,
    specs: runtime.specs,
    capabilities: runtime.capabilities,
    get running() {
      return runtime.running;
    },
    stop() {
      stopping ??= runtime.stop().finally(() => redis.disconnect());
      return stopping;
    },
  };
}
