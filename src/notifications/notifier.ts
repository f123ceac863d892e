// Delivers task events to the origin conversation: durable (BullMQ), coalesced progress, final message once.
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import { errorText, PermanentError, RateLimitedError } from '../core/errors.ts';
import type { Config } from '../core/config.ts';
import type { HubContext, HubEvent } from '../core/hub-context.ts';
import type { Redis } from 'ioredis';
import { duplicateRedis, hubWorkerOptions, NOTIFY_QUEUE, telemetryOption } from '../core/queues.ts';
import type { TaskRow } from '../core/store/schema.ts';
import { insertEvents, json, loadSubtasks, loadTaskWithSubtasks } from '../core/store/task-store.ts';
import { progressOf } from '../core/tasks/task-service.ts';
import { isTerminalTask } from '../core/tasks/lifecycle.ts';
import type { ConversationRef, MessageRef } from '../core/types.ts';
import type { OutboundMessage } from '../frontends/frontend.ts';
import type { FrontendRegistry } from '../frontends/registry.ts';
import { splitText } from '../core/text.ts';
import { outboundFiles } from './outbound-files.ts';
import { renderAck, renderFinal, renderFinalLine, renderProgress, renderReview } from './render.ts';

/** A delivery job: what to render for which task. */
interface NotifyJob {
  kind: 'ack' | 'progress' | 'final' | 'info' | 'review';
  taskId: string;
  text?: string;
  /** Where an acknowledgement rendered at submit time goes (its first attempt then needs no database read). */
  origin?: ConversationRef;
  /** How often a final delivery has waited for the frontend's reply to be attached. */
  waits?: number;
}

const PROGRESS_TYPES = new Set([
  'planned',
  'started',
  'subtask.started',
  'subtask.succeeded',
  'subtask.retrying',
  'progress',
  'progress.stage',
  'retried',
  'admin.reprocess',
  'approved',
  'resumed',
  'revised',
]);
const FINAL_TYPES = new Set(['completed', 'failed', 'cancelled', 'rejected']);

/** Subscribes to task events and delivers them through the frontends. */
export class Notifier {
  private worker?: Worker<NotifyJob>;
  private connection?: Redis;
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly jobOpts: ReturnType<typeof deliveryJobOptions>;

  constructor(
    private readonly ctx: HubContext,
    private readonly frontends: FrontendRegistry,
    private readonly opts: { concurrency?: number; onDelivery?: (report: DeliveryReport) => void } = {},
  ) {
    this.jobOpts = deliveryJobOptions(ctx.config);
  }

  /** The event sink to register with `ctx.onEvents`: decides what to send under the task's notify policy. */
  readonly sink = async (events: HubEvent[], task: TaskRow): Promise<void> => {
    if (task.notify_policy === 'silent') return;
    const full = task.notify_policy === 'state_changes';
    const q = this.ctx.queues.get(NOTIFY_QUEUE);
    // Progress jobs a final message in the same batch supersedes (it owns the last edit) are not queued, nor the
    // edit for `planned` when the acknowledgement, rendered from that plan, is queued with it.
    const finalInBatch = events.some((e) => FINAL_TYPES.has(e.type));
    const planned = events.find((e) => e.type === 'planned');
    const ackInBatch = full && !originOf(task).ackedByFrontend && events.some((e) => e.type === 'accepted');
    for (const e of events) {
      if (FINAL_TYPES.has(e.type)) {
        await q.add(
          'final',
          { kind: 'final', taskId: task.id },
          { ...this.jobOpts, jobId: `final-${task.id}-${e.id ?? e.at}` },
        );
      } else if (e.type === 'review.requested') {
        // Sent under every policy but silent: without it the task would wait for a decision nobody knows about.
        await q.add('review', { kind: 'review', taskId: task.id }, { ...this.jobOpts, jobId: `review-${e.id}` });
      } else if (e.type === 'schedule.paused') {
        await q.add(
          'info',
          { kind: 'info', taskId: task.id, text: String(e.data?.message ?? 'A schedule was paused.') },
          { ...this.jobOpts, jobId: `info-${e.id}` },
        );
      } else if (e.type === 'no_worker') {
        const caps = (e.data?.capabilities as string[] | undefined)?.join(', ') ?? 'a needed capability';
        await q.add(
          'info',
          {
            kind: 'info',
            taskId: task.id,
            text: `No worker is online for ${caps}; task ${task.id.slice(0, 8)} waits until one connects (or cancel it).`,
          },
          { ...this.jobOpts, jobId: `info-${e.id}` },
        );
      } else if (full && e.type === 'accepted' && !originOf(task).ackedByFrontend) {
        const steps = planned?.data?.steps as Array<{ capability: string }> | undefined;
        await q.add(
          'ack',
          { kind: 'ack', taskId: task.id, ...(steps ? { text: renderAck(task, steps), origin: originOf(task) } : {}) },
          { ...this.jobOpts, jobId: `ack-${task.id}` },
        );
      } else if (finalInBatch || (ackInBatch && e.type === 'planned')) {
        continue;
      } else if (full && PROGRESS_TYPES.has(e.type) && this.frontends.get(originOf(task).platform)?.limits.canEdit) {
        const interval = this.ctx.config.PROGRESS_INTERVAL_MS;
        // Trailing-edge throttle: one delivery per interval, rendering the latest state when it runs.
        await q.add(
          'progress',
          { kind: 'progress', taskId: task.id },
          {
            ...this.jobOpts,
            delay: interval,
            ...(interval > 0 ? { deduplication: { id: `progress-${task.id}`, ttl: interval } } : {}),
          },
        );
      }
    }
  };

  /** Starts delivering. */
  async start(): Promise<void> {
    this.connection = duplicateRedis(this.ctx.redis, (err) =>
      this.ctx.log.warn({ err: err.message }, 'notifier redis error'),
    );
    this.worker = new Worker<NotifyJob>(
      NOTIFY_QUEUE,
      (job, token) =>
        this.serial(job.data.taskId, () => this.deliver(job, token)).then(
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
    this.worker.on('error', (err) => this.ctx.log.error({ err }, 'notify worker error'));
    await this.worker.waitUntilReady();
  }

  async stop(): Promise<void> {
    await this.worker?.close();
    this.connection?.disconnect();
  }

  /** Queues the final message of a terminal task again (the reconciler calls this when delivery was never confirmed). */
  async renotify(task: TaskRow): Promise<void> {
    const last = await this.ctx.db
      .selectFrom('task_events')
      .select('id')
      .where('task_id', '=', task.id)
      .where('type', 'in', [...FINAL_TYPES])
      .orderBy('id', 'desc')
      .executeTakeFirst();
    const queue = this.ctx.queues.get(NOTIFY_QUEUE);
    const jobId = `final-${task.id}-${last?.id ?? 'x'}`;
    // A finished job under that id (it exhausted its retries in an outage, or it sent but the hub died before
    // recording it) would make BullMQ ignore the add: remove it first. A job still pending is left alone.
    const previous = await queue.getJob(jobId);
    if (previous) {
      const state = await previous.getState();
      if (state !== 'completed' && state !== 'failed') return;
      await previous.remove();
    }
    await queue.add('final', { kind: 'final', taskId: task.id }, { ...this.jobOpts, jobId });
  }

  /**
   * First attempt of an acknowledgement rendered at submit time: send it and keep its ref without reading the
   * task first (nothing can have set the ref yet: progress edits for the task are queued after it). Retries and a
   * job recovered after a hub crash (stalled, run again) take the full path, which reads the task and skips the send
   * if an earlier run got as far as saving the ref or the task has already finished.
   */
  private async deliverAck(job: Job<NotifyJob>, origin: ConversationRef, text: string, token?: string): Promise<void> {
    const frontend = this.frontends.get(origin.platform);
    if (!frontend) return this.deliver(job, token, true);
    try {
      const ref = await frontend.send(origin, {
        taskId: job.data.taskId,
        kind: 'ack',
        text: text.slice(0, frontend.limits.maxLength),
        actions: ['cancel'],
      });
      await this.ctx.db
        .updateTable('tasks')
        .set({ progress_message: json(ref) })
        .where('id', '=', job.data.taskId)
        .where('progress_message', 'is', null)
        .execute();
    } catch (err) {
      if (err instanceof RateLimitedError && token) {
        await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
        throw new DelayedError();
      }
      if (err instanceof PermanentError) return this.deliver(job, token, true, err);
      throw err;
    }
  }

  /** Delivers one job; `failure` replays an error of the fast acknowledgement path through the full handling. */
  private async deliver(job: Job<NotifyJob>, token?: string, full = false, failure?: Error): Promise<void> {
    const { origin: ackOrigin, text: ackText } = job.data;
    const firstRun = job.attemptsMade === 0 && !job.stalledCounter;
    if (!full && job.data.kind === 'ack' && ackOrigin && ackText !== undefined && firstRun)
      return this.deliverAck(job, ackOrigin, ackText, token);
    // A progress edit renders from the subtasks too: it reads both in one statement.
    const withSubtasks =
      job.data.kind === 'progress' ? await loadTaskWithSubtasks(this.ctx.db, job.data.taskId) : undefined;
    const task =
      withSubtasks !== undefined
        ? withSubtasks?.task
        : await this.ctx.db.selectFrom('tasks').selectAll().where('id', '=', job.data.taskId).executeTakeFirst();
    if (!task) return;
    const origin = originOf(task);
    const frontend = this.frontends.get(origin.platform);
    if (!frontend) {
      this.ctx.log.warn(
        { taskId: task.id, platform: origin.platform },
        'no frontend for the origin platform in this process; message dropped',
      );
      return;
    }
    const log = this.ctx.log.child({ taskId: task.id, jobId: job.id, platform: origin.platform });
    const msg = (kind: OutboundMessage['kind'], text: string): OutboundMessage => ({
      taskId: task.id,
      kind,
      text: text.slice(0, frontend.limits.maxLength),
    });
    try {
      if (failure) throw failure;
      const { kind } = job.data;
      if (kind === 'info') {
        await frontend.send(origin, msg('info', job.data.text ?? ''));
        return;
      }
      if (kind === 'review') {
        if (task.status !== 'REVIEW') return;
        await frontend.send(origin, { ...msg('info', renderReview(task)), actions: ['approve', 'reject'] });
        return;
      }
      const progressRef = task.progress_message as MessageRef | null;
      if (kind === 'ack') {
        // Already acknowledged, or finished (the final message says everything; a late "accepted" would confuse).
        if (progressRef || task.final_notified || isTerminalTask(task.status)) return;
        const text = job.data.text ?? renderAck(task, await loadSubtasks(this.ctx.db, task.id));
        const ref = await frontend.send(origin, { ...msg('ack', text), actions: ['cancel'] });
        await this.saveProgressRef(task.id, ref);
        return;
      }
      if (kind === 'progress') {
        if (isTerminalTask(task.status)) return; // the final job owns the last edit
        const text = renderProgress(
          task,
          progressOf(task, withSubtasks?.subtasks ?? (await loadSubtasks(this.ctx.db, task.id))),
        );
        if (progressRef && frontend.edit)
          await frontend.edit(progressRef, { ...msg('progress', text), actions: ['cancel'] });
        // When the frontend answered the request itself, its reply becomes the progress message once attached.
        else if (frontend.limits.canEdit && !origin.ackedByFrontend)
          await this.saveProgressRef(
            task.id,
            await frontend.send(origin, { ...msg('progress', text), actions: ['cancel'] }),
          );
        return;
      }
      // final: settle the progress message, then send the result as a new message (new messages notify people; edits do not).
      const waits = job.data.waits ?? 0;
      if (
        !task.final_notified &&
        !progressRef &&
        origin.ackedByFrontend &&
        frontend.limits.canEdit &&
        waits < MAX_ATTACH_WAITS &&
        token
      ) {
        // The frontend's own reply is still on its way to becoming the progress message: let it land first.
        await job.updateData({ ...job.data, waits: waits + 1 });
        await job.moveToDelayed(Date.now() + ATTACH_WAIT_MS, token);
        throw new DelayedError();
      }
      if (!task.final_notified) {
        if (progressRef && frontend.edit)
          await frontend
            .edit(progressRef, msg('progress', renderFinalLine(task)))
            .catch((err) => log.warn({ err: errorText(err) }, 'could not settle the progress message'));
        const parts = splitText(renderFinal(task, frontend.limits.markup), frontend.limits.maxLength);
        const actions = task.status === 'FAILED' ? ['retry' as const] : undefined;
        const files = task.status === 'COMPLETED' && task.has_outputs ? await outboundFiles(this.ctx, task.id) : [];
        for (const [i, part] of parts.entries()) {
          await frontend.send(origin, {
            taskId: task.id,
            kind: task.status === 'COMPLETED' ? 'result' : 'failure',
            text: part,
            ...(i === parts.length - 1 && actions ? { actions } : {}),
            ...(i === parts.length - 1 && files.length ? { files } : {}),
          });
        }
        const settled = await this.ctx.db
          .updateTable('tasks')
          .set({ final_notified: true })
          .where('id', '=', task.id)
          .returningAll()
          .executeTakeFirst();
        await this.ctx.emit(
          [
            {
              id: null,
              taskId: task.id,
              subtaskId: null,
              type: 'delivered',
              data: { parts: parts.length },
              actor: 'notifier',
              at: new Date().toISOString(),
            },
          ],
          settled ?? task,
        );
      }
    } catch (err) {
      if (err instanceof RateLimitedError && token) {
        await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
        throw new DelayedError();
      }
      if (err instanceof PermanentError) {
        log.warn({ err: errorText(err) }, 'permanent delivery failure; not retried');
        const recorded = await insertEvents(this.ctx.db, [
          {
            task_id: task.id,
            subtask_id: null,
            type: 'notify.failed',
            actor: 'notifier',
            data: { kind: job.data.kind, error: errorText(err) },
          },
        ]);
        const settled =
          job.data.kind === 'final'
            ? await this.ctx.db
                .updateTable('tasks')
                .set({ final_notified: true })
                .where('id', '=', task.id)
                .returningAll()
                .executeTakeFirst()
            : undefined;
        await this.ctx.emit(recorded, settled ?? task);
        throw new UnrecoverableError(errorText(err));
      }
      throw err;
    }
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
    this.opts.onDelivery({ taskId: job.data.taskId, platform: job.data.origin?.platform, outcome, latencyMs });
  }

  private async saveProgressRef(taskId: string, ref: MessageRef): Promise<void> {
    await this.ctx.db
      .updateTable('tasks')
      .set({ progress_message: json(ref) })
      .where('id', '=', taskId)
      .execute();
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

/** How one notification job went, for metrics. */
export interface DeliveryReport {
  taskId: string;
  platform?: string | undefined;
  outcome: 'delivered' | 'retried' | 'failed';
  /** From queueing (after any intended delay) to the end of this attempt. */
  latencyMs: number;
}

/** A final delivery waits at most MAX_ATTACH_WAITS x ATTACH_WAIT_MS for the frontend's reply to be attached. */
const ATTACH_WAIT_MS = 500;
const MAX_ATTACH_WAITS = 10;

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
