// The outbox's delivery: committed events -> the per-kind delivery of each outbox row they wrote -> the row marked
// delivered with the message ref. The hub that committed an event delivers its rows itself, at once (no queue job);
// a failed attempt, or a row beyond what this hub delivers at once, goes to the notify queue (one BullMQ job per row,
// deterministic ids, so duplicates collapse and several hubs are safe), which retries with backoff. A periodic sweep
// re-relays rows left undelivered (a crash between commit and delivery, retries exhausted). A platform outage is
// logged once per platform (an OutageLog each), Redis errors through the hub's Redis outage log.
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../core/config.ts';
import { errorText, PermanentError, RateLimitedError } from '../core/errors.ts';
import type { HubContext, HubEvent } from '../core/hub-context.ts';
import { OutageLog, outageLogFor } from '../core/outage-log.ts';
import { duplicateRedis, hubWorkerOptions, NOTIFY_QUEUE, telemetryOption } from '../core/queues.ts';
import {
  claimProgress,
  loadOutboxRow,
  markDelivered,
  recordFailure,
  type DeliveryMark,
  undeliveredRows,
  type OutboxDelivery,
} from '../core/store/outbox.ts';
import type { MessageKind, OutboxRow } from '../core/store/outbox-rows.ts';
import { messageFor } from '../core/store/outbox-rules.ts';
import type { SubtaskRow, TaskRow } from '../core/store/schema.ts';
import { insertEvents } from '../core/store/task-store.ts';
import type { ConversationRef, MessageRef } from '../core/types.ts';
import type { FrontendRegistry } from '../frontends/registry.ts';
import { TASK_ID_ATTR } from '../ops/task-tracer.ts';
import { ResultBatcher } from '../core/tasks/result-batcher.ts';
import { DELIVERIES, type Delivered } from './deliveries.ts';

/** A delivery job: the outbox row it delivers (by its event, or by id); a progress job takes the pending one. */
interface NotifyJob {
  kind: MessageKind;
  taskId: string;
  eventId?: string | undefined;
  rowId?: string | undefined;
  platform?: string | undefined;
  /** A notice without an outbox row (monitor runs queue these themselves). */
  text?: string;
}

/**
 * Messages this process delivers at once, at most; beyond that, rows wait on the notify queue. A delivery is in
 * flight until its mark commits, so at 1,000 tasks/s (two messages each) about 64 are: at 64, a third of the messages
 * went through the queue (a BullMQ job each, several times the CPU of a direct delivery).
 */
const DIRECT_MAX = 512;

/** Acknowledgements remembered at most (a task whose final message another hub sends is forgotten this way). */
const MAX_REMEMBERED_ACKS = 10_000;

/** Delivery marks written in one statement at most. */
const MARK_BATCH = 64;

/** How long a stopping notifier waits for the deliveries it makes itself. */
const STOP_WAIT_MS = 10_000;

/** How long a direct delivery runs before other hubs' sweeps are told to leave its row alone (see markWhileSlow). */
const MARK_AFTER_MS = 1_000;

/** How long other hubs' sweeps leave a row alone while this hub delivers it itself. */
const DIRECT_MARK_MS = 30_000;

/** Subscribes to task events and delivers their outbox rows through the frontends. */
export class Notifier {
  private worker?: Worker<NotifyJob>;
  private connection?: Redis;
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<number>;
  /** Whether this notifier delivers (started, not stopped); a stopped one leaves events' rows to the queue. */
  private running = false;
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Deliveries this process makes itself, by job id, while in flight. */
  private readonly direct = new Map<string, Promise<void>>();
  /** The progress message of tasks whose acknowledgement this process sent (see withProgressMessage). */
  private readonly acks = new Map<string, MessageRef>();
  /** Tasks with a progress edit due (and its timer when PROGRESS_INTERVAL_MS delays it). */
  private readonly progressDue = new Map<string, NodeJS.Timeout | undefined>();
  /** One outage log per platform: a platform that is down is reported once, not once per failed message. */
  private readonly platformOutages = new Map<string, OutageLog>();
  private readonly jobOpts: ReturnType<typeof deliveryJobOptions>;
  /** Group commit of delivery marks: marks made while a batch is being written go together in the next one. */
  private readonly marks = new ResultBatcher<DeliveryMark, void>(async (marks) => {
    await markDelivered(this.ctx.db, marks);
    return marks.map(() => ({ ok: true, value: undefined }));
  }, MARK_BATCH);

  constructor(
    private readonly ctx: HubContext,
    private readonly frontends: FrontendRegistry,
    private readonly opts: { concurrency?: number; onDelivery?: (report: DeliveryReport) => void } = {},
  ) {
    this.jobOpts = deliveryJobOptions(ctx.config);
  }

  /**
   * The event sink to register with `ctx.onEvents`: relays the outbox rows the events wrote (the same rules
   * table decided which). A worker's transient progress report (id null, no row) makes a progress edit due.
   */
  readonly sink = async (events: HubEvent[], task: TaskRow, subtasks?: SubtaskRow[]): Promise<void> => {
    const platform = (task.origin as ConversationRef).platform;
    // Progress rows are not written in a batch with the acknowledgement or a final message (they render it all).
    const settles = events.some((e) => ['ack', 'final'].includes(messageFor(e.type, task.notify_policy) ?? ''));
    let progress = false;
    for (const e of events) {
      const kind = messageFor(e.type, task.notify_policy);
      if (!kind) continue;
      if (kind !== 'progress') {
        const row = { kind, task_id: task.id, event_id: e.id, id: '' };
        // What the committing transaction returned is what a read would give now: rendered without one.
        const known = kind === 'final' || (kind === 'ack' && subtasks) ? { task, subtasks: subtasks ?? [] } : undefined;
        await this.dispatch(row, platform, known);
      } else if (!settles && !progress) {
        progress = true;
        await this.dispatchProgress(task.id, platform);
      }
    }
  };

  /** Starts delivering, and sweeps now and every RECONCILE_INTERVAL_MS for rows left undelivered. */
  async start(): Promise<void> {
    const outage = outageLogFor(this.ctx.redis, this.ctx.log);
    this.connection = duplicateRedis(this.ctx.redis, (err) => outage.report(err, 'notifier redis error'));
    this.worker = new Worker<NotifyJob>(
      NOTIFY_QUEUE,
      (job, token) =>
        this.serial(job.data.taskId, () =>
          this.deliver(job.data, job.id, async (err) => {
            if (!token) throw err;
            await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
            throw new DelayedError();
          }),
        ).then(
          () => this.report(job),
          (err) => {
            this.report(job, err);
            throw err;
          },
        ),
      {
        connection: this.connection,
        prefix: this.ctx.config.QUEUE_PREFIX,
        concurrency: this.opts.concurrency ?? 16,
        ...hubWorkerOptions(),
        ...telemetryOption(),
      },
    );
    this.worker.on('error', (err) => outage.report(err, 'notify worker error'));
    await this.worker.waitUntilReady();
    this.running = true;
    const sweep = () => void this.sweep().catch((err) => this.ctx.log.error({ err }, 'outbox sweep failed'));
    sweep();
    this.timer = setInterval(sweep, this.ctx.config.RECONCILE_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    // A due progress edit is dropped (edits are best-effort; its row is swept); messages in flight finish.
    for (const t of this.progressDue.values()) clearTimeout(t);
    this.progressDue.clear();
    // A platform call that hangs does not hold the stop up for long: its row is swept if it never finishes.
    let wait: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.direct.values()]),
      new Promise((r) => (wait = setTimeout(r, STOP_WAIT_MS))),
    ]);
    clearTimeout(wait);
    await this.worker?.close();
    this.connection?.disconnect();
  }

  /**
   * Re-relays outbox rows undelivered for longer than `graceMs` whose job is gone or finished: a crash between
   * commit and relay, Redis losing the job, or a job that exhausted its retries in a platform outage (a finished
   * job under the same id must be removed first, or BullMQ ignores the add). Returns how many it relayed.
   */
  sweep(graceMs = this.ctx.config.OUTBOX_GRACE_MS): Promise<number> {
    // One pass at a time (passes queued behind a Redis outage would otherwise all run at once when it is back, and
    // race each other removing and re-adding the same jobs); none while Redis is away.
    if (this.ctx.redis.status !== 'ready') return Promise.resolve(0);
    this.sweeping ??= this.sweepOnce(graceMs).finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce(graceMs: number): Promise<number> {
    const queue = this.ctx.queues.get(NOTIFY_QUEUE);
    let relayed = 0;
    for (const row of await undeliveredRows(this.ctx.db, graceMs)) {
      // Being delivered by this hub or, by its marker, another one.
      if (this.direct.has(jobIdOf(row)) || (await this.ctx.redis.exists(this.ctx.keys.delivering(jobIdOf(row)))))
        continue;
      const previous = await queue.getJob(jobIdOf(row));
      if (previous) {
        const state = await previous.getState();
        if (state !== 'completed' && state !== 'failed' && state !== 'unknown') continue;
        await previous.remove();
      }
      await this.relay(row);
      relayed++;
    }
    if (relayed) this.ctx.log.warn({ relayed }, 'outbox sweep re-relayed undelivered messages');
    return relayed;
  }

  /**
   * Delivers a row now, in this process; the notify queue retries it if that fails. A stopped notifier, or one with
   * DIRECT_MAX deliveries in flight, queues it instead.
   */
  private async dispatch(
    row: Pick<OutboxRow, 'kind' | 'task_id' | 'event_id' | 'id'>,
    platform: string,
    known?: Omit<OutboxDelivery, 'row'>,
  ) {
    const id = jobIdOf(row);
    if (!this.running || this.direct.size >= DIRECT_MAX) return this.relay(row, platform);
    if (this.direct.has(id)) return;
    const marker = this.markWhileSlow(id);
    const data = jobData(row, platform);
    const since = Date.now();
    this.track(
      id,
      this.serial(row.task_id, () =>
        traced(id, data, () => this.deliver(data, id, undefined, known && { ...known, row: freshRow(row) })),
      )
        .then(
          () => this.reportDirect(data, 'delivered', since),
          (err) => this.retryQueued(row, platform, err, since),
        )
        .finally(marker),
    );
  }

  /**
   * Other hubs' sweeps look only at rows older than OUTBOX_GRACE_MS: a delivery still running at half that (at most
   * MARK_AFTER_MS) gets a Redis marker that keeps them off it. Most deliveries take a few milliseconds and need
   * none. Returns what to call when the delivery is over.
   */
  private markWhileSlow(id: string): () => void {
    const key = this.ctx.keys.delivering(id);
    let marked = false;
    const mark = () => {
      marked = true;
      this.ctx.redis.set(key, '1', 'PX', DIRECT_MARK_MS).catch(() => {});
    };
    const after = Math.min(MARK_AFTER_MS, this.ctx.config.OUTBOX_GRACE_MS / 2);
    const timer = after > 0 ? setTimeout(mark, after) : undefined;
    if (!timer) mark();
    return () => {
      clearTimeout(timer);
      if (marked) this.ctx.redis.del(key).catch(() => {});
    };
  }

  /** A direct delivery that failed: handed to the notify queue (after the platform's wait, or the first backoff). */
  private async retryQueued(
    row: Pick<OutboxRow, 'kind' | 'task_id' | 'event_id' | 'id'>,
    platform: string,
    err: unknown,
    since: number,
  ): Promise<void> {
    const data = jobData(row, platform);
    if (err instanceof UnrecoverableError) return this.reportDirect(data, 'failed', since);
    this.reportDirect(data, 'retried', since);
    const delay = err instanceof RateLimitedError ? err.retryAfterMs : this.ctx.config.NOTIFY_BACKOFF_MS;
    // The direct attempt was the first of NOTIFY_ATTEMPTS. If this add fails (Redis away), the sweep relays the row.
    await this.relay(row, platform, { delay, attempts: Math.max(1, this.jobOpts.attempts - 1) }).catch((e) =>
      this.ctx.log.warn(
        { err: errorText(e), taskId: row.task_id },
        'could not queue a failed delivery; the sweep will',
      ),
    );
  }

  /** Queues the delivery of one row under its deterministic job id. */
  private async relay(
    row: Pick<OutboxRow, 'kind' | 'task_id' | 'event_id' | 'id'>,
    platform?: string,
    opts: { delay?: number; attempts?: number } = {},
  ): Promise<void> {
    await this.ctx.queues
      .get(NOTIFY_QUEUE)
      .add(row.kind, jobData(row, platform), { ...this.jobOpts, ...opts, jobId: jobIdOf(row) });
  }

  /**
   * Trailing-edge throttle: one progress edit per PROGRESS_INTERVAL_MS and task, rendering the latest state when it
   * runs (a timer per task only while an edit is due). A stopped notifier queues it.
   */
  private async dispatchProgress(taskId: string, platform: string): Promise<void> {
    if (!this.running) return this.relayProgress(taskId, platform);
    if (this.progressDue.has(taskId)) return; // the edit that is due renders this state too
    const interval = this.ctx.config.PROGRESS_INTERVAL_MS;
    const edit = () => {
      const since = Date.now();
      const data: NotifyJob = { kind: 'progress', taskId, platform };
      const id = `progress-${taskId}`;
      this.track(
        `${id}-${Date.now()}-${Math.random()}`,
        this.serial(taskId, () => {
          this.progressDue.delete(taskId); // a report from now on needs an edit of its own
          return traced(id, data, () => this.deliver(data, id));
        }).then(
          () => this.reportDirect(data, 'delivered', since),
          (err) => {
            // Best-effort: retried through the queue, as a queued edit would have been.
            this.reportDirect(data, 'retried', since);
            if (!(err instanceof UnrecoverableError)) return this.relayProgress(taskId, platform).catch(() => {});
          },
        ),
      );
    };
    if (interval === 0) {
      this.progressDue.set(taskId, undefined);
      edit();
    } else {
      const timer = setTimeout(edit, interval);
      timer.unref();
      this.progressDue.set(taskId, timer);
    }
  }

  /** Keeps a direct delivery in `direct` while it runs. */
  private track(id: string, run: Promise<void>): void {
    const tracked = run
      .catch((err) => this.ctx.log.error({ err }, 'direct delivery failed'))
      .finally(() => {
        if (this.direct.get(id) === tracked) this.direct.delete(id);
      });
    this.direct.set(id, tracked);
  }

  /** Queues a progress edit (a stopped notifier's, or a failed direct edit's retry). */
  private async relayProgress(taskId: string, platform: string): Promise<void> {
    const interval = this.ctx.config.PROGRESS_INTERVAL_MS;
    await this.ctx.queues.get(NOTIFY_QUEUE).add(
      'progress',
      { kind: 'progress', taskId, platform },
      {
        ...this.jobOpts,
        delay: interval,
        ...(interval > 0 ? { deduplication: { id: `progress-${taskId}`, ttl: interval } } : {}),
      },
    );
  }

  /**
   * Delivers one row (a queued job's, `jobId`, or one this hub delivers itself), marks it delivered, and handles a
   * platform's refusal: a permanent one settles the row and throws UnrecoverableError; a rate limit goes to
   * `onRateLimit` (a queued job waits as told), else it throws like any other failure.
   */
  private async deliver(
    data: NotifyJob,
    jobId: string | undefined,
    onRateLimit: (err: RateLimitedError) => Promise<never> = (err) => Promise.reject(err),
    known?: OutboxDelivery,
  ): Promise<void> {
    const { db } = this.ctx;
    const { kind, eventId, rowId, taskId } = data;
    if (known && kind === 'final') known = this.withProgressMessage(known);
    const found = known
      ? known
      : kind === 'progress'
        ? await claimProgress(db, taskId)
        : eventId || rowId
          ? await loadOutboxRow(db, eventId ? { eventId } : { id: rowId! })
          : await this.looseNotice(data);
    if (!found || (found.row?.delivered_at && kind !== 'progress')) return;
    // A progress edit a transient report made due has no row; nor has a loose notice (id '').
    const row = found.row ?? UNSTORED_PROGRESS;
    const loaded = { ...found, row };
    const { task } = loaded;
    const stored = row.id !== '' || row.event_id !== null;
    const origin = originOf(task);
    const frontend = this.frontends.get(origin.platform);
    // Bindings on each line, not a child logger: pino's child re-runs its redaction per call (~25 KB per delivery).
    const ids = { taskId, jobId, platform: origin.platform };
    if (!frontend) {
      this.ctx.log.warn(ids, 'no frontend for the origin platform in this process; message dropped');
      if (stored) await recordFailure(db, row, `no frontend for ${origin.platform}`, true);
      return;
    }
    const outage = this.platformOutage(origin.platform);
    let done: Delivered;
    try {
      done = await DELIVERIES[kind]({ ...loaded, ctx: this.ctx, origin, frontend, outage });
      if (done.ref) outage.recovered();
    } catch (err) {
      if (err instanceof RateLimitedError) await onRateLimit(err);
      if (!(err instanceof PermanentError)) outage.report(err, 'delivery failed; retried', { taskId, kind });
      if (!stored) throw err;
      if (err instanceof PermanentError) {
        this.ctx.log.warn({ ...ids, err: errorText(err) }, 'permanent delivery failure; not retried');
        const recorded = await insertEvents(db, [
          {
            task_id: taskId,
            subtask_id: null,
            type: 'notify.failed',
            actor: 'notifier',
            data: { kind, error: errorText(err) },
          },
        ]);
        const settled = await recordFailure(db, row, errorText(err), true);
        await this.ctx.emit(recorded, settled ?? task);
        throw new UnrecoverableError(errorText(err));
      }
      await recordFailure(db, row, errorText(err), false);
      throw err;
    }
    // A progress row was marked when claimed; the others are marked now (an acknowledgement's ref becomes the
    // progress message where the platform can edit).
    if (!stored || kind === 'progress') return;
    // The message is out: a failed mark would send it again, so a lost connection is retried here first.
    const progressMessage = kind === 'ack' && frontend.limits.canEdit;
    await persist(
      () => this.marks.push({ row, ref: done.ref, progressMessage }),
      (fields, msg) => this.ctx.log.warn({ ...ids, ...fields }, msg),
    );
    if (progressMessage && done.ref) this.rememberAck(taskId, done.ref);
    if (kind === 'final') this.acks.delete(taskId);
    if (kind === 'final' && done.ref)
      await this.ctx.emit([delivered(taskId, done.parts ?? 1)], { ...task, final_notified: true });
  }

  /**
   * A final message rendered from the row its transaction returned must still settle the progress message, which
   * that row may predate: the acknowledgement this process sent gives it; without one, where the task has an
   * acknowledgement (another hub's, or one not sent yet), the row is read back (undefined).
   */
  private withProgressMessage(known: OutboxDelivery): OutboxDelivery | undefined {
    const { task } = known;
    if (task.progress_message) return known;
    const ack = this.acks.get(task.id);
    if (ack) return { ...known, task: { ...task, progress_message: ack } };
    return messageFor('accepted', task.notify_policy) === 'ack' ? undefined : known;
  }

  /** The acknowledgements this process sent, while their tasks run (bounded: the oldest go first). */
  private rememberAck(taskId: string, ref: MessageRef): void {
    this.acks.set(taskId, ref);
    if (this.acks.size > MAX_REMEMBERED_ACKS) this.acks.delete(this.acks.keys().next().value!);
  }

  /** The outage log of a platform's deliveries. */
  private platformOutage(platform: string): OutageLog {
    let outage = this.platformOutages.get(platform);
    if (!outage) this.platformOutages.set(platform, (outage = new OutageLog(this.ctx.log, `${platform} platform`)));
    return outage;
  }

  /** A notice queued without an outbox row (monitor runs): sent once per job, not tracked. */
  private async looseNotice(data: NotifyJob): Promise<OutboxDelivery | null> {
    if (data.kind !== 'info' || data.text === undefined) return null;
    const task = await this.ctx.db.selectFrom('tasks').selectAll().where('id', '=', data.taskId).executeTakeFirst();
    if (!task) return null;
    const row = { id: '', task_id: task.id, event_id: null, kind: 'info', payload: { text: data.text } } as const;
    return {
      row: { ...row, created_at: new Date(), delivered_at: null, message_ref: null, attempts: 0, last_error: null },
      task,
      subtasks: [],
    };
  }

  /** Tells `onDelivery` how a delivery this hub made itself went (retried: handed to the queue). */
  private reportDirect(data: NotifyJob, outcome: DeliveryReport['outcome'], since: number): void {
    this.opts.onDelivery?.({ taskId: data.taskId, platform: data.platform, outcome, latencyMs: Date.now() - since });
  }

  /** Tells `onDelivery` how a job went: delivered, retried later, or failed for good (a delay is neither). */
  private report(job: Job<NotifyJob>, err?: unknown): void {
    if (!this.opts.onDelivery || err instanceof DelayedError) return;
    const outcome = !err
      ? 'delivered'
      : err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)
        ? 'failed'
        : 'retried';
    const latencyMs = Date.now() - job.timestamp - (job.opts.delay ?? 0);
    this.opts.onDelivery({ taskId: job.data.taskId, platform: job.data.platform, outcome, latencyMs });
  }

  /** Deliveries for one task run one at a time in this process, so edits land in order. */
  private serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    this.chains.set(key, next);
    void next
      .catch(() => {})
      .finally(() => {
        if (this.chains.get(key) === next) this.chains.delete(key);
      });
    return next;
  }
}

/**
 * Runs a write that must not be lost after a platform call (a retry of the job would send again): up to
 * MARK_ATTEMPTS tries with a short backoff, riding out a dropped connection or a Postgres restart.
 */
async function persist<T>(write: () => Promise<T>, warn: (fields: object, msg: string) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (attempt >= MARK_ATTEMPTS) throw err;
      warn({ err: errorText(err), attempt }, 'could not mark a sent message delivered; retrying');
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}

const MARK_ATTEMPTS = 6;

/** How one notification job went, for metrics. */
export interface DeliveryReport {
  taskId: string;
  platform?: string | undefined;
  outcome: 'delivered' | 'retried' | 'failed';
  /** From queueing (after any intended delay) to the end of this attempt. */
  latencyMs: number;
}

/** A row just committed, as its delivery sees it without reading it back (marked by its event). */
function freshRow(row: Pick<OutboxRow, 'kind' | 'task_id' | 'event_id'>): OutboxRow {
  return { ...UNSTORED_PROGRESS, ...row, id: '', created_at: new Date() };
}

/** The stand-in row of a progress edit without one (nothing to mark). */
const UNSTORED_PROGRESS: OutboxRow = {
  id: '',
  task_id: '',
  event_id: null,
  kind: 'progress',
  payload: null,
  created_at: new Date(0),
  delivered_at: null,
  message_ref: null,
  attempts: 0,
  last_error: null,
};

/**
 * A delivery this hub makes itself, as a `deliver <kind>` span in the task's trace (a queued one has BullMQ's
 * `process notify` span instead).
 */
function traced(id: string, data: NotifyJob, fn: () => Promise<void>): Promise<void> {
  const attributes = { [TASK_ID_ATTR]: data.taskId, 'switchboard.delivery_id': id };
  return trace.getTracer('switchboard').startActiveSpan(`deliver ${data.kind}`, { attributes }, async (span) => {
    try {
      await fn();
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorText(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** What a queued delivery of the row carries. */
function jobData(row: Pick<OutboxRow, 'kind' | 'task_id' | 'event_id' | 'id'>, platform?: string): NotifyJob {
  return {
    kind: row.kind,
    taskId: row.task_id,
    ...(row.event_id ? { eventId: row.event_id } : { rowId: row.id }),
    ...(platform ? { platform } : {}),
  };
}

/** The job id of a row's delivery: one acknowledgement per task, else one per causing event (or per row). */
function jobIdOf(row: Pick<OutboxRow, 'kind' | 'task_id' | 'event_id' | 'id'>): string {
  return row.kind === 'ack' ? `ack-${row.task_id}` : `${row.kind}-${row.task_id}-${row.event_id ?? `r${row.id}`}`;
}

/** The transient event that says a task's final message went out (tracing and tests listen for it). */
function delivered(taskId: string, parts: number): HubEvent {
  const at = new Date().toISOString();
  return { id: null, taskId, subtaskId: null, type: 'delivered', data: { parts }, actor: 'notifier', at };
}

/** Delivery job options: NOTIFY_ATTEMPTS tries with exponential backoff from NOTIFY_BACKOFF_MS. */
function deliveryJobOptions(config: Config) {
  return {
    attempts: config.NOTIFY_ATTEMPTS,
    backoff: { type: 'exponential', delay: config.NOTIFY_BACKOFF_MS, jitter: 0.3 },
    removeOnComplete: { age: 3600, count: 2000 },
    removeOnFail: { age: 7 * 24 * 3600 },
  } as const;
}

function originOf(task: TaskRow): ConversationRef {
  const origin = task.origin as ConversationRef;
  // The progress message travels with the origin: a frontend may answer through it (Discord's interaction webhook).
  const progress = (task.progress_message as MessageRef | null)?.messageId;
  return progress ? { ...origin, progressMessageId: progress } : origin;
}
