// Everything the core services share in one process: config, database, Redis, queues, events, logger.
import type { Kysely } from 'kysely';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { QueueSet } from './queues.ts';
import { redisKeys, type RedisKeys } from './redis-keys.ts';
import type { Database, SubtaskRow, TaskRow } from './store/schema.ts';
import type { HubEvent } from './events.ts';
import { publishControl } from './control-messages.ts';
import { WorkerDirectory } from './worker-registry.ts';

/** Re-exported where frontends and the notifier have always found them. */
export { toHubEvent, type HubEvent } from './events.ts';

/** Receives committed events (notifier, SSE fan-out). Composition registers sinks; core knows none. */
/**
 * Receives committed events with their task as committed, and all its subtasks when the caller has them (so the
 * notifier renders an acknowledgement without reading them back).
 */
export type EventSink = (events: HubEvent[], task: TaskRow, subtasks?: SubtaskRow[]) => Promise<void> | void;

/** How long the hub gathers ended tasks into one notice to the workers (session cleanup, on no task's path). */
const ENDED_NOTICE_MS = 200;

/** Most task ids in one tasks-ended notice (a larger gathering is sent at once). */
const ENDED_NOTICE_MAX = 1000;

/** Shared state of the core services. */
export class HubContext {
  readonly keys: RedisKeys;
  readonly queues: QueueSet;
  /** Cached view of which capabilities live workers serve (for the submit-time warning). */
  readonly workers: WorkerDirectory;
  private readonly sinks: EventSink[] = [];
  private unpublished: HubEvent[] = [];
  private publishing: Promise<void> | undefined;
  private ended: string[] = [];
  private endedTimer: NodeJS.Timeout | undefined;
  private readonly knownCapabilities = new Set<string>();

  constructor(
    readonly config: Config,
    readonly db: Kysely<Database>,
    readonly redis: Redis,
    readonly log: Logger,
  ) {
    this.keys = redisKeys(config.QUEUE_PREFIX);
    this.queues = new QueueSet(redis, config.QUEUE_PREFIX);
    this.workers = new WorkerDirectory(redis, this.keys, config.WORKER_HEARTBEAT_MS);
  }

  /** Registers a receiver of committed task events. */
  onEvents(sink: EventSink): void {
    this.sinks.push(sink);
  }

  /** Hands committed events to every sink and to other hub processes; sink failures are logged, not thrown. */
  async emit(events: HubEvent[], task: TaskRow, subtasks?: SubtaskRow[]): Promise<void> {
    if (events.length === 0) return;
    await Promise.all(
      this.sinks.map(async (sink) => {
        try {
          await sink(events, task, subtasks);
        } catch (err) {
          this.log.error({ err, taskId: task.id }, 'event sink failed');
        }
      }),
    );
    await this.publish(events);
  }

  /**
   * Publishes events on the events channel, together with those emitted in the same turn of the event loop (a
   * batch of results settles many tasks at once): one message for all of them. Resolves once the message is handed
   * to the shared connection, not when Redis answers: commands on one connection run in the order they were sent,
   * so what the caller sends next (the queue adds, on the same connection) still comes after it.
   */
  private publish(events: HubEvent[]): Promise<void> {
    this.unpublished.push(...events);
    this.publishing ??= new Promise<void>((r) => setImmediate(r)).then(() => {
      const batch = this.unpublished;
      this.unpublished = [];
      this.publishing = undefined;
      this.redis
        .publish(this.keys.events, JSON.stringify(batch))
        .catch((err) => this.log.warn({ err }, 'event publish failed'));
    });
    return this.publishing;
  }

  /**
   * Tells workers that tasks ended, so they drop what they keep for them (sessions): one control message for all
   * tasks that ended within ENDED_NOTICE_MS. Every worker process hears every control message; one per task would
   * wake each of them for each task.
   */
  announceEnded(taskIds: string[]): void {
    this.ended.push(...taskIds);
    if (this.ended.length >= ENDED_NOTICE_MAX) void this.flushEnded();
    else if (!this.endedTimer) {
      this.endedTimer = setTimeout(() => void this.flushEnded(), ENDED_NOTICE_MS);
      this.endedTimer.unref();
    }
  }

  /** Sends the gathered tasks-ended notice now (the hub does when it stops). */
  async flushEnded(): Promise<void> {
    clearTimeout(this.endedTimer);
    this.endedTimer = undefined;
    const taskIds = this.ended;
    this.ended = [];
    if (taskIds.length === 0) return;
    await publishControl(this.redis, this.keys.control, { t: 'tasks-ended', taskIds }).catch((err) =>
      this.log.warn({ err }, 'tasks-ended notice failed'),
    );
  }

  /** Records that a capability has a queue, so workers whose patterns match start consuming it. */
  async announceCapability(capability: string): Promise<void> {
    if (this.knownCapabilities.has(capability)) return;
    await this.redis.sadd(this.keys.capabilities, capability);
    // Workers poll the set only now and then; this tells them at once.
    await publishControl(this.redis, this.keys.control, { t: 'capability', capability });
    this.knownCapabilities.add(capability);
  }

  /** Forgets which capabilities were announced (after Redis lost its data). */
  forgetAnnouncements(): void {
    this.knownCapabilities.clear();
  }

  /** Whether a user id is an admin. */
  isAdmin(userId: string): boolean {
    return this.config.HUB_ADMINS.includes(userId);
  }
}
