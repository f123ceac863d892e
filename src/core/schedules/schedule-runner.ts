// Fires schedule runs from the `schedules` queue (once per fire time), counts failed runs, and repairs Redis from Postgres.
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { errorText, InvalidInputError } from '../errors.ts';
import { taskEvent, type HubEvent } from '../events.ts';
import type { EventSink, HubContext } from '../hub-context.ts';
import { duplicateRedis, hubWorkerOptions } from '../queues.ts';
import type { TaskRow } from '../store/schema.ts';
import { settle } from '../tasks/settle.ts';
import type { TaskService } from '../tasks/task-service.ts';
import { insertEvents, now as sqlNow } from '../store/task-store.ts';
import type { ConversationRef } from '../types.ts';
import { toSchedule, type RunOutcome, type Schedule } from '../store/schedule-rows.ts';
import {
  atJobIdOf,
  endParent,
  SCHEDULES_QUEUE,
  schedulerIdOf,
  specOf,
  type FireJobData,
  type ScheduleService,
} from './schedule-service.ts';
import { nextRunOf } from './time-spec.ts';
import { outageLogFor } from '../outage-log.ts';

/** Options of the runner. */
export interface ScheduleRunnerOptions {
  /** Failed runs in a row after which a schedule is paused (default: config SCHEDULE_MAX_FAILURES, else 3). */
  maxFailures?: number;
  /** Fire jobs handled at once by this process (default 8). */
  concurrency?: number;
  /** How often reconcile runs after start (default RECONCILE_INTERVAL_MS). */
  reconcileIntervalMs?: number;
}

/** What firing one run did. */
export interface FireResult {
  status: 'created' | 'adopted' | 'duplicate' | 'skipped' | 'refused';
  taskId?: string | undefined;
  reason?: string | undefined;
}

/** What one reconcile pass repaired. */
export interface ScheduleReconcileReport {
  registered: number;
  removed: number;
  outcomes: number;
  paused: number;
}

/** Origin key that marks a child task as the run of (schedule, fire time): lets a redelivered fire find it. */
export const RUN_MARKER = 'scheduleRun';

const OUTCOME_EVENTS = new Set(['completed', 'failed', 'approved', 'rejected']);
const ENDED_RUN_STATUSES = ['COMPLETED', 'FAILED', 'REJECTED'] as const;

/** The BullMQ consumer of the schedules queue, the failure-counting event sink, and the Postgres -> Redis reconcile. */
export class ScheduleRunner {
  /** Failed runs in a row that pause a schedule. */
  readonly maxFailures: number;
  private worker?: Worker<FireJobData>;
  private connection?: Redis;
  private timer?: NodeJS.Timeout;
  private reconciling?: Promise<ScheduleReconcileReport>;

  constructor(
    private readonly ctx: HubContext,
    private readonly tasks: TaskService,
    private readonly schedules: ScheduleService,
    private readonly opts: ScheduleRunnerOptions = {},
  ) {
    const fromConfig = ctx.config.SCHEDULE_MAX_FAILURES;
    this.maxFailures = Math.max(1, opts.maxFailures ?? fromConfig ?? 3);
  }

  private get db() {
    return this.schedules.db;
  }

  /** Register with `ctx.onEvents`: counts how runs end, pauses failing schedules, deletes a schedule whose parent was cancelled. */
  readonly sink: EventSink = async (events: HubEvent[], task: TaskRow): Promise<void> => {
    if (task.parent_task_id) {
      if (events.some((e) => OUTCOME_EVENTS.has(e.type))) await this.applyOutcome(task);
    } else {
      const cancelled = events.find((e) => e.type === 'cancelled');
      if (cancelled) await this.schedules.onParentCancelled(task, cancelled.actor);
    }
  };

  /** Starts consuming fire jobs, reconciles once, then every interval. */
  async start(): Promise<void> {
    this.connection = duplicateRedis(this.ctx.redis, (err) =>
      this.ctx.log.warn({ err: err.message }, 'schedule runner redis error'),
    );
    this.worker = new Worker<FireJobData>(SCHEDULES_QUEUE, (job) => this.process(job), {
      connection: this.connection,
      prefix: this.ctx.config.QUEUE_PREFIX,
      concurrency: this.opts.concurrency ?? 8,
      ...hubWorkerOptions(),
    });
    const outage = outageLogFor(this.ctx.redis, this.ctx.log);
    this.worker.on('error', (err) => outage.report(err, 'schedule worker error'));
    this.worker.on('failed', (job, err) =>
      this.ctx.log.warn({ err: errorText(err), jobId: job?.id }, 'firing a schedule run failed; BullMQ retries it'),
    );
    await this.worker.waitUntilReady();
    await this.reconcile();
    this.timer = setInterval(() => {
      void this.reconcile().catch((err) => this.ctx.log.error({ err: errorText(err) }, 'schedule reconcile failed'));
    }, this.opts.reconcileIntervalMs ?? this.ctx.config.RECONCILE_INTERVAL_MS);
    this.timer.unref();
  }

  /** Stops consuming (a run being fired finishes first). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.worker?.close();
    this.connection?.disconnect();
    await this.reconciling?.catch(() => {});
  }

  private async process(job: Job<FireJobData>): Promise<FireResult> {
    // A scheduler's job carries the iteration's scheduled time; its id ends with it too (repeat:<scheduler>:<millis>).
    const fromId = Number(
      String(job.id ?? '')
        .split(':')
        .pop(),
    );
    const fireMs = job.opts.prevMillis ?? (Number.isFinite(fromId) && fromId > 0 ? fromId : job.timestamp);
    const out = await this.fire(job.data.scheduleId, fireMs);
    if (out.status !== 'created')
      this.ctx.log.debug({ scheduleId: job.data.scheduleId, jobId: job.id, ...out }, 'schedule fire');
    return out;
  }

  /**
   * Fires the run of a schedule for one fire time, at most once: the (schedule, fire time) row is claimed first;
   * a redelivered job finds it and, if the previous consumer died after creating the child task, adopts that task.
   */
  async fire(scheduleId: string, fireTimeMs: number): Promise<FireResult> {
    const s = await this.schedules.load(scheduleId);
    if (!s) return { status: 'skipped', reason: 'no such schedule' };
    const fireTime = s.kind === 'at' ? s.run_at! : new Date(fireTimeMs);
    const seen = await this.db
      .selectFrom('schedule_runs')
      .select(['task_id', 'outcome'])
      .where('schedule_id', '=', s.id)
      .where('fire_time', '=', fireTime)
      .executeTakeFirst();
    if (seen?.task_id || seen?.outcome) return { status: 'duplicate', taskId: seen.task_id ?? undefined };
    if (s.status !== 'active') return { status: 'skipped', reason: `schedule is ${s.status}` };
    const claimed = await this.db
      .insertInto('schedule_runs')
      .values({ schedule_id: s.id, fire_time: fireTime, task_id: null, outcome: null })
      .onConflict((oc) => oc.columns(['schedule_id', 'fire_time']).doNothing())
      .returning('schedule_id')
      .executeTakeFirst();
    const key = `${s.id}@${fireTime.toISOString()}`;
    let taskId: string | undefined;
    let status: FireResult['status'] = 'created';
    if (!claimed) {
      const run = await this.db
        .selectFrom('schedule_runs')
        .selectAll()
        .where('schedule_id', '=', s.id)
        .where('fire_time', '=', fireTime)
        .executeTakeFirstOrThrow();
      if (run.task_id || run.outcome) return { status: 'duplicate', taskId: run.task_id ?? undefined };
      const orphan = await this.db
        .selectFrom('tasks')
        .select('id')
        .where('parent_task_id', '=', s.parent_task_id)
        .where(sql<string>`origin->>${RUN_MARKER}`, '=', key)
        .executeTakeFirst();
      if (orphan) {
        taskId = orphan.id;
        status = 'adopted';
      }
    }
    if (!taskId) {
      const fresh = await this.schedules.load(s.id);
      if (fresh?.status !== 'active') {
        await this.db
          .deleteFrom('schedule_runs')
          .where('schedule_id', '=', s.id)
          .where('fire_time', '=', fireTime)
          .where('task_id', 'is', null)
          .execute();
        return { status: 'skipped', reason: `schedule is ${fresh?.status ?? 'gone'}` };
      }
      try {
        const parent = await this.db
          .selectFrom('tasks')
          .select(['priority', 'notify_policy'])
          .where('id', '=', s.parent_task_id)
          .executeTakeFirst();
        const { task } = await this.tasks.submit({
          origin: runOrigin(s, key),
          text: s.text,
          parentTaskId: s.parent_task_id,
          priority: parent?.priority,
          notifyPolicy: parent?.notify_policy,
        });
        taskId = task.id;
      } catch (err) {
        if (!(err instanceof InvalidInputError)) throw err;
        // The request itself is refused (e.g. the planner no longer accepts it): retrying cannot help.
        await this.db
          .updateTable('schedule_runs')
          .set({ outcome: 'failed' })
          .where('schedule_id', '=', s.id)
          .where('fire_time', '=', fireTime)
          .execute();
        await this.schedules.pauseAutomatically(s, `Its request was refused when it ran: ${err.message}`, {
          fireTime: fireTime.toISOString(),
          error: err.message,
        });
        return { status: 'refused', reason: err.message };
      }
    }
    await this.db
      .updateTable('schedule_runs')
      .set({ task_id: taskId })
      .where('schedule_id', '=', s.id)
      .where('fire_time', '=', fireTime)
      .where('task_id', 'is', null)
      .execute();
    const now = new Date();
    const next =
      s.kind === 'at'
        ? null
        : s.cron
          ? nextRunOf(specOf(s), { now: new Date(Math.max(now.getTime(), fireTime.getTime())), zone: s.timezone })
          : new Date(Math.max(fireTime.getTime() + s.every_ms!, now.getTime()));
    const events = await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('schedules')
        .set({
          last_run_at: sql<Date>`greatest(coalesce(last_run_at, ${fireTime}), ${fireTime})`,
          next_run_at: sql<Date | null>`case when status = 'active' then ${next}::timestamptz else next_run_at end`,
          updated_at: sqlNow,
        })
        .where('id', '=', s.id)
        .execute();
      const data = { scheduleId: s.id, taskId, fireTime: fireTime.toISOString() };
      return insertEvents(trx, [taskEvent('schedule.fired', s.parent_task_id, 'scheduler', data)]);
    });
    const parentRow = await this.db
      .selectFrom('tasks')
      .selectAll()
      .where('id', '=', s.parent_task_id)
      .executeTakeFirst();
    this.ctx.log.info({ scheduleId: s.id, taskId, fireTime: fireTime.toISOString(), status }, 'schedule run fired');
    if (parentRow) await settle(this.ctx, { task: parentRow, events });
    return { status, taskId };
  }

  /**
   * Records how a run ended (once per outcome), resets or bumps the failure count, finishes a one-shot schedule,
   * and pauses a schedule that failed `maxFailures` runs in a row. Returns whether anything changed.
   */
  async applyOutcome(child: TaskRow): Promise<boolean> {
    const outcome: RunOutcome | null =
      child.status === 'COMPLETED'
        ? 'succeeded'
        : child.status === 'FAILED' || child.status === 'REJECTED'
          ? 'failed'
          : null;
    if (!outcome || !child.parent_task_id) return false;
    const row = await this.db
      .selectFrom('schedules')
      .selectAll()
      .where('parent_task_id', '=', child.parent_task_id)
      .executeTakeFirst();
    if (!row) return false;
    const applied = await this.db.transaction().execute(async (trx) => {
      // Serialises outcomes of one schedule across hub processes.
      await trx.selectFrom('schedules').select('id').where('id', '=', row.id).forUpdate().executeTakeFirst();
      // The child can end before the fire that created it has linked it to its run: then its origin marker names the run.
      const marker = (child.origin as unknown as Record<string, unknown> | null)?.[RUN_MARKER];
      const markedAt =
        typeof marker === 'string' && marker.startsWith(`${row.id}@`)
          ? new Date(marker.slice(row.id.length + 1))
          : null;
      const run = await trx
        .updateTable('schedule_runs')
        .set({ outcome, task_id: child.id })
        .where('schedule_id', '=', row.id)
        .where((eb) =>
          markedAt && !Number.isNaN(markedAt.getTime())
            ? eb.or([eb('task_id', '=', child.id), eb.and([eb('task_id', 'is', null), eb('fire_time', '=', markedAt)])])
            : eb('task_id', '=', child.id),
        )
        .where((eb) => eb.or([eb('outcome', 'is', null), eb('outcome', '!=', outcome)]))
        .returningAll()
        .executeTakeFirst();
      if (!run) return null;
      if (row.kind === 'at') {
        const done = await trx
          .updateTable('schedules')
          .set({ status: 'done', next_run_at: null, updated_at: sqlNow })
          .where('id', '=', row.id)
          .where('status', 'in', ['active', 'paused'])
          .returningAll()
          .executeTakeFirst();
        if (!done) return { schedule: toSchedule(row), events: [] as HubEvent[], parent: null };
        const parent = await endParent(trx, row.parent_task_id, 'COMPLETED', null, {
          taskId: child.id,
          status: child.status,
        });
        const data = { scheduleId: row.id, status: 'COMPLETED' as const, taskId: child.id, outcome };
        const events = await insertEvents(trx, [taskEvent('schedule.done', row.parent_task_id, 'scheduler', data)]);
        return { schedule: toSchedule(done), events, parent };
      }
      const updated = await trx
        .updateTable('schedules')
        .set((eb) => ({
          consecutive_failures: outcome === 'succeeded' ? 0 : eb('consecutive_failures', '+', 1),
          updated_at: sqlNow,
        }))
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      return { schedule: toSchedule(updated), events: [] as HubEvent[], parent: null };
    });
    if (!applied) return false;
    if (applied.parent) await settle(this.ctx, { task: applied.parent, events: applied.events });
    const s = applied.schedule;
    if (s.kind === 'every' && s.status === 'active' && s.consecutive_failures >= this.maxFailures) {
      await this.pauseForFailures(s, child);
    }
    return true;
  }

  private async pauseForFailures(s: Schedule, lastRun: Pick<TaskRow, 'id' | 'error'> | null): Promise<void> {
    const n = s.consecutive_failures;
    const lastError = lastRun?.error ?? null;
    const paused = await this.schedules.pauseAutomatically(
      s,
      `${n} runs failed in a row${lastError ? ` (last error: ${lastError.slice(0, 300)})` : ''}.`,
      {
        failures: n,
        maxFailures: this.maxFailures,
        lastTaskId: lastRun?.id ?? null,
        lastError,
      },
    );
    if (paused) this.ctx.log.warn({ scheduleId: s.id, failures: n }, 'schedule paused after repeated failures');
  }

  /** Makes Redis match Postgres: registers active schedules Redis lost, drops timers of inactive ones, applies missed outcomes. */
  reconcile(): Promise<ScheduleReconcileReport> {
    this.reconciling ??= this.reconcilePass().finally(() => {
      this.reconciling = undefined;
    });
    return this.reconciling;
  }

  private async reconcilePass(): Promise<ScheduleReconcileReport> {
    const report: ScheduleReconcileReport = { registered: 0, removed: 0, outcomes: 0, paused: 0 };
    const q = this.schedules.queue;
    const active = (await this.db.selectFrom('schedules').selectAll().where('status', '=', 'active').execute()).map(
      toSchedule,
    );
    const inRedis = new Set((await q.getJobSchedulers(0, -1)).map((js) => js.key));
    for (const s of active) {
      if (s.kind === 'every') {
        if (inRedis.has(schedulerIdOf(s.id))) continue;
      } else {
        const run = await this.db
          .selectFrom('schedule_runs')
          .select(['task_id', 'outcome'])
          .where('schedule_id', '=', s.id)
          .executeTakeFirst();
        if (run?.task_id || run?.outcome) continue;
        const job = await q.getJob(atJobIdOf(s.id));
        const state = job ? await job.getState() : 'missing';
        if (state === 'failed' && job) {
          await job.retry();
          report.registered++;
          continue;
        }
        if (state !== 'missing' && state !== 'completed' && state !== 'unknown') continue;
      }
      await this.schedules.register(s);
      report.registered++;
      this.ctx.log.warn({ scheduleId: s.id }, 'reconcile registered a schedule Redis did not have');
    }
    // Timers of schedules that are no longer active (paused or deleted while Redis was unreachable).
    const stale = [...inRedis]
      .filter((k) => k.startsWith('sched-'))
      .map((k) => k.slice('sched-'.length))
      .filter((id) => !active.some((s) => s.id === id));
    if (stale.length) {
      const rows = await this.db.selectFrom('schedules').select(['id', 'status']).where('id', 'in', stale).execute();
      for (const id of stale) {
        const status = rows.find((r) => r.id === id)?.status;
        if (status === 'active') continue; // created since the list above
        await q.removeJobScheduler(schedulerIdOf(id));
        report.removed++;
      }
    }
    // Outcomes a hub missed (it died between a run's end and its event sink).
    const missed = await this.db
      .selectFrom('schedule_runs as r')
      .innerJoin('tasks as t', 't.id', 'r.task_id')
      .selectAll('t')
      .where('r.outcome', 'is', null)
      .where('t.status', 'in', [...ENDED_RUN_STATUSES])
      .limit(500)
      .execute();
    for (const t of missed) if (await this.applyOutcome(t)) report.outcomes++;
    // Pauses a hub missed after counting the last failure.
    const overdue = (
      await this.db
        .selectFrom('schedules')
        .selectAll()
        .where('status', '=', 'active')
        .where('kind', '=', 'every')
        .where('consecutive_failures', '>=', this.maxFailures)
        .execute()
    ).map(toSchedule);
    for (const s of overdue) {
      const last = await this.db
        .selectFrom('tasks')
        .select(['id', 'error'])
        .where('parent_task_id', '=', s.parent_task_id)
        .where('status', 'in', ['FAILED', 'REJECTED'])
        .orderBy('finished_at', 'desc')
        .executeTakeFirst();
      await this.pauseForFailures(s, last ?? null);
      report.paused++;
    }
    if (report.registered || report.removed || report.outcomes || report.paused)
      this.ctx.log.info(report, 'schedules reconciled');
    return report;
  }
}

/** The conversation a run answers in: the schedule's, as a fresh request (no progress message of its own yet), marked with the run. */
function runOrigin(s: Schedule, key: string): ConversationRef {
  const o = s.origin as ConversationRef;
  const origin: ConversationRef & { [RUN_MARKER]: string } = {
    platform: o.platform,
    conversationId: o.conversationId,
    userId: o.userId,
    [RUN_MARKER]: key,
    ...(o.threadId !== undefined ? { threadId: o.threadId } : {}),
  };
  return origin;
}
