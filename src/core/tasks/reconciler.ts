// Repairs divergence between Postgres (the truth) and Redis (the transport), at start and periodically.
import { sql } from 'kysely';
import type { Conductor } from './conductor.ts';
import { admitWaiting } from './admission.ts';
import { enqueueSubtasks } from './dispatcher.ts';
import type { HubContext } from '../hub-context.ts';
import { jobIdFor } from '../queues.ts';
import { loadSubtasks } from '../store/task-store.ts';
import { LIVE_SUBTASK, WORKING_TASK } from './lifecycle.ts';
import { settle } from './settle.ts';
import type { SubtaskRow, TaskRow } from '../store/schema.ts';
import { errorText } from '../errors.ts';

/** What one reconcile pass did. */
export interface ReconcileReport {
  checked: number;
  requeued: number;
  appliedFromRedis: number;
}

/** Re-enqueues due work Redis lost and applies results Redis has but Postgres does not. */
export class Reconciler {
  private timer?: NodeJS.Timeout;
  private running?: Promise<ReconcileReport>;

  constructor(
    private readonly ctx: HubContext,
    private readonly conductor: Conductor,
    private readonly opts: { graceMs?: number; batch?: number } = {},
  ) {}

  /** Runs one pass now, then every RECONCILE_INTERVAL_MS. */
  async start(): Promise<void> {
    await this.runOnce();
    this.timer = setInterval(() => {
      // Not through the Redis outage log: a pass fails on Postgres as often (once per interval is quiet enough).
      void this.runOnce().catch((err) => this.ctx.log.error({ err: errorText(err) }, 'reconcile failed'));
    }, this.ctx.config.RECONCILE_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => {});
  }

  /** One pass; concurrent calls share the pass in progress. */
  runOnce(): Promise<ReconcileReport> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<ReconcileReport> {
    const { db, redis, queues, keys } = this.ctx;
    const graceMs = this.opts.graceMs ?? 2000;
    const report: ReconcileReport = { checked: 0, requeued: 0, appliedFromRedis: 0 };
    // Workers find queues through this set; if Redis lost it, announce again.
    if ((await redis.exists(keys.capabilities)) === 0) this.ctx.forgetAnnouncements();

    // Admission: users with waiting READY subtasks and free capacity (normally admitted as work finishes).
    const waiting = await db
      .selectFrom('subtasks')
      .select('user_id')
      .distinct()
      .where('status', '=', 'READY')
      .where('queued_at', 'is', null)
      .limit(500)
      .execute();
    for (const { user_id } of waiting) {
      const admitted = await db
        .transaction()
        .execute((trx) => admitWaiting(trx, user_id, this.ctx.config.MAX_INFLIGHT_PER_USER));
      await settle(this.ctx, { admitted });
      report.requeued += admitted.length;
    }

    const due = await db
      .selectFrom('subtasks')
      .selectAll()
      .where('status', 'in', LIVE_SUBTASK)
      .where('queued_at', 'is not', null)
      .where('updated_at', '<', sql<Date>`now() - make_interval(secs => ${graceMs / 1000})`)
      .orderBy('updated_at')
      .limit(this.opts.batch ?? 1000)
      .execute();
    report.checked = due.length;
    if (due.length) {
      // One round trip: a job hash without `timestamp` is missing; with `finishedOn` it has finished.
      const pipe = redis.pipeline();
      for (const s of due)
        pipe.hmget(queues.forCapability(s.capability).toKey(jobIdFor(s.id, s.generation)), 'timestamp', 'finishedOn');
      const found = (await pipe.exec()) ?? [];
      const missing: SubtaskRow[] = [];
      for (const [i, s] of due.entries()) {
        const [timestamp, finishedOn] = (found[i]?.[1] ?? [null, null]) as [string | null, string | null];
        if (!timestamp) missing.push(s);
        else if (finishedOn) report.appliedFromRedis += (await this.applyFinished(s)) ? 1 : 0;
      }
      const byTask = new Map<string, SubtaskRow[]>();
      for (const s of missing) byTask.set(s.task_id, [...(byTask.get(s.task_id) ?? []), s]);
      for (const [taskId, subs] of byTask) {
        const task = await db.selectFrom('tasks').selectAll().where('id', '=', taskId).executeTakeFirst();
        if (!task || !WORKING_TASK.includes(task.status)) continue;
        await enqueueSubtasks(this.ctx, task, subs, await loadSubtasks(db, taskId));
        report.requeued += subs.length;
        this.ctx.log.warn(
          { taskId, subtasks: subs.map((s) => s.id) },
          'reconciler re-enqueued subtasks missing from Redis',
        );
      }
    }

    if (report.requeued || report.appliedFromRedis) this.ctx.log.info(report, 'reconciled');
    return report;
  }

  /** A job Redis finished but Postgres still shows as due: apply its outcome through the conductor. */
  private async applyFinished(s: SubtaskRow): Promise<boolean> {
    const job = await this.ctx.queues.forCapability(s.capability).getJob(jobIdFor(s.id, s.generation));
    if (!job) return false;
    const state = await job.getState();
    const base = {
      taskId: s.task_id,
      subtaskId: s.id,
      generation: s.generation,
      attempt: Math.max(1, job.attemptsMade),
      workerId: 'reconciler',
    };
    if (state === 'completed')
      // A subtask still READY never had its start applied: the conductor records it with the result.
      return this.conductor.applyResult({
        kind: 'succeeded',
        ...base,
        output: job.returnvalue,
        startSignalled: s.status !== 'READY',
        ...(job.processedOn ? { startedAt: job.processedOn } : {}),
      });
    if (state === 'failed')
      return this.conductor.applyResult({ kind: 'failed', ...base, error: job.failedReason || 'failed', final: true });
    return false;
  }
}
