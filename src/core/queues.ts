// Queue names, job ids and job options shared by the hub and the workers.
import { Queue, type JobsOptions, type Telemetry } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { coalesceWrites } from './coalesce-writes.ts';
import { isConnectionError, outageLogOf, shareOutageLog } from './outage-log.ts';
import type { Priority } from './types.ts';

/** Queue that carried worker results to the conductor (workers of older versions; now the results stream). */
export const RESULTS_QUEUE = 'results';
/** Queue of notifications to deliver to origin conversations. */
export const NOTIFY_QUEUE = 'notify';
const CAP_PREFIX = 'cap-';

/** The BullMQ queue name of a capability. */
export function capabilityQueueName(capability: string): string {
  return `${CAP_PREFIX}${capability}`;
}

/** The capability a queue name belongs to, or null for the hub's own queues. */
export function capabilityOfQueue(queueName: string): string | null {
  return queueName.startsWith(CAP_PREFIX) ? queueName.slice(CAP_PREFIX.length) : null;
}

/** BullMQ job id of a subtask run: the subtask id, plus the generation for admin replays. */
export function jobIdFor(subtaskId: string, generation: number): string {
  return generation === 0 ? subtaskId : `${subtaskId}-g${generation}`;
}

const PRIORITY_VALUE: Record<Priority, number> = { urgent: 1, normal: 50, low: 100 };

/** BullMQ priority (lower runs first) of a task priority. */
export function priorityValue(p: Priority): number {
  return PRIORITY_VALUE[p];
}

/** Job options for a subtask run: attempts, exponential backoff with jitter, bounded retention. */
export function subtaskJobOptions(o: {
  jobId: string;
  priority: Priority;
  attempts: number;
  backoffMs: number;
  jitter: number;
}): JobsOptions {
  return {
    jobId: o.jobId,
    priority: priorityValue(o.priority),
    attempts: o.attempts,
    backoff: { type: 'exponential', delay: o.backoffMs, jitter: o.jitter },
    // Kept a while so the reconciler can read results the conductor has not applied yet.
    removeOnComplete: { age: 24 * 3600, count: 5000 },
    removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
  };
}

/**
 * Lock of a job on the hub's own queues (results, notify, schedules). BullMQ renews it every half lock while the
 * hub works on the job; after a hub crash the lock lapses and the stalled check (same interval) hands the job to
 * another hub process: a pending result or message waits at most about three locks (lapse + two checks).
 */
export const HUB_LOCK_MS = 4_000;

/** Worker options of the hub's own queues: short renewed locks and a stalled check to match (see HUB_LOCK_MS). */
export function hubWorkerOptions(): { lockDuration: number; stalledInterval: number; maxStalledCount: number } {
  // A few stalls are tolerated (each is a hub crash or a long pause): the job is then run again, not failed.
  return { lockDuration: HUB_LOCK_MS, stalledInterval: HUB_LOCK_MS, maxStalledCount: 3 };
}

let telemetry: Telemetry | undefined;

/** Sets (or clears) BullMQ's telemetry for queues and workers created from now on (composition does, when tracing). */
export function setQueueTelemetry(t: Telemetry | undefined): void {
  telemetry = t;
}

/** `{ telemetry }` to spread into BullMQ Queue and Worker options: empty unless tracing is on. */
export function telemetryOption(): { telemetry?: Telemetry } {
  return telemetry ? { telemetry } : {};
}

/** Opens an ioredis connection suitable for BullMQ (workers need maxRetriesPerRequest: null). */
export function createRedis(url: string, extra: RedisOptions = {}, onError: (err: Error) => void = () => {}): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false, ...extra });
  // ioredis reconnects by itself; without a listener a refused connection would be an unhandled 'error' event.
  redis.on('error', onError);
  return coalesceWrites(redis);
}

/**
 * A second connection like `redis` (for a blocking consumer or a subscriber); its errors are reported, never unhandled.
 * When `redis` is watched by an outage log, a lost connection is that log's one outage (not one line per connection
 * and retry): only other errors reach `onError`.
 */
export function duplicateRedis(redis: Redis, onError: (err: Error) => void = () => {}): Redis {
  const dup = redis.duplicate();
  const outage = outageLogOf(redis);
  dup.on('error', (err: Error) => (outage && isConnectionError(err) ? outage.report(err) : onError(err)));
  shareOutageLog(redis, dup);
  return coalesceWrites(dup);
}

/** Lazily created BullMQ queues (one per name) sharing one connection. */
export class QueueSet {
  private readonly queues = new Map<string, Queue>();
  constructor(
    private readonly connection: Redis,
    readonly prefix: string,
  ) {}

  /** The queue of this name, created on first use. */
  get(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.prefix, ...telemetryOption() });
      q.on('error', () => {
        /* connection errors are retried by ioredis; surfaced by /ready */
      });
      this.queues.set(name, q);
    }
    return q;
  }

  /** The queue of a capability. */
  forCapability(capability: string): Queue {
    return this.get(capabilityQueueName(capability));
  }

  /** Closes every queue (not the shared connection). */
  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
