// Consumes worker results (the results queue) and signals (the signals channel) and applies them to Postgres:
// results through apply-result.ts, signals here; settle() acts on what committed.
import { randomUUID } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { taskEvent, type HubEvent, type NewTaskEvent } from '../events.ts';
import type { HubContext } from '../hub-context.ts';
import { duplicateRedis, hubWorkerOptions, RESULTS_QUEUE, telemetryOption } from '../queues.ts';
import { insertEvents, json, lockTask, now } from '../store/task-store.ts';
import { lockTaskAndAdmission } from '../store/task-writes.ts';
import type { JobResult, SubtaskStatus, WorkerSignal } from '../types.ts';
import { applyDead, applyRetrying, applySucceeded, markInProgress } from './apply-result.ts';
import { LIVE_SUBTASK } from './lifecycle.ts';
import { settle, type Outcome } from './settle.ts';
import { SignalLeases } from './signal-leases.ts';
import { STEP } from './transitions.ts';

/** Consumes the results queue and the workers' signal channel. */
export class Conductor {
  private worker?: Worker;
  private connection?: Redis;
  private subscriber?: Redis;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly leases: SignalLeases;

  constructor(
    private readonly ctx: HubContext,
    private readonly opts: { concurrency?: number } = {},
  ) {
    this.leases = new SignalLeases(ctx.redis, ctx.keys.signals, randomUUID());
  }

  /** Starts consuming results and signals. */
  async start(): Promise<void> {
    const onError = (err: Error) => this.ctx.log.warn({ err: err.message }, 'conductor redis error');
    this.connection = duplicateRedis(this.ctx.redis, onError);
    this.worker = new Worker<JobResult>(
      RESULTS_QUEUE,
      async (job: Job<JobResult>) => {
        await this.applyResult(job.data);
      },
      {
        connection: this.connection,
        prefix: this.ctx.config.QUEUE_PREFIX,
        concurrency: this.opts.concurrency ?? 16,
        ...hubWorkerOptions(),
        removeOnComplete: { age: 3600, count: 1000 },
        removeOnFail: { age: 7 * 24 * 3600 },
        ...telemetryOption(),
      },
    );
    this.worker.on('error', (err) => this.ctx.log.error({ err }, 'results worker error'));
    this.worker.on('failed', (job, err) =>
      this.ctx.log.error({ err, jobId: job?.id }, 'applying a result failed; BullMQ retries it'),
    );
    this.subscriber = duplicateRedis(this.ctx.redis, onError);
    await this.subscriber.subscribe(this.ctx.keys.signals);
    this.subscriber.on('message', (_ch, raw) => {
      let signal: WorkerSignal;
      try {
        signal = JSON.parse(raw) as WorkerSignal;
      } catch {
        return;
      }
      // Every hub hears every signal; the one holding the subtask's lease applies it (in order, once).
      this.serial(signal.subtaskId, async () => {
        if (await this.leases.claim(signal.subtaskId)) await this.applySignal(signal);
      });
    });
    await this.worker.waitUntilReady();
  }

  /** Stops consuming; in-flight results finish first. */
  async stop(): Promise<void> {
    await this.worker?.close();
    this.connection?.disconnect();
    this.subscriber?.disconnect();
    await Promise.all(this.chains.values());
    await this.leases.releaseAll().catch((err) => this.ctx.log.warn({ err }, 'signal leases not released'));
  }

  /** Applies a worker's result once: a duplicate or stale (older generation) result changes nothing. */
  async applyResult(result: JobResult): Promise<boolean> {
    const { config } = this.ctx;
    const applied = await this.ctx.db.transaction().execute(async (trx) => {
      // The task row, then its owner's admission lock (every outcome admits when a slot frees up).
      const task = await lockTaskAndAdmission(trx, result.taskId);
      if (result.kind === 'succeeded') return applySucceeded(trx, config, task, result);
      return result.final ? applyDead(trx, config, task, result) : applyRetrying(trx, task, result);
    });
    if (!applied) {
      this.ctx.log.debug(
        { subtaskId: result.subtaskId, generation: result.generation },
        'duplicate or stale result ignored',
      );
      return false;
    }
    if (result.kind === 'succeeded' || result.final) this.forget(result.subtaskId);
    for (const s of applied.withdraw ?? []) this.forget(s.id);
    await settle(this.ctx, applied);
    return true;
  }

  /** Applies a start or progress signal; stale ones (other generation, finished subtask) are ignored. */
  async applySignal(signal: WorkerSignal): Promise<void> {
    const out = signal.t === 'started' ? await this.applyStart(signal) : await this.applyProgress(signal);
    if (out) await settle(this.ctx, out);
  }

  /** READY -> RUNNING with `subtask.started`; a RUNNING subtask started again by another run was redelivered. */
  private async applyStart(signal: Extract<WorkerSignal, { t: 'started' }>): Promise<Outcome | null> {
    return this.ctx.db.transaction().execute(async (trx) => {
      // Lock order is always task row, then subtask rows (as in applyResult), so the two never deadlock.
      const task = await lockTask(trx, signal.taskId);
      const startedAt = new Date(signal.at);
      const guard = (from: readonly SubtaskStatus[]) =>
        trx
          .updateTable('subtasks')
          .where('id', '=', signal.subtaskId)
          .where('generation', '=', signal.generation)
          .where('status', 'in', from);
      const sub = await guard(STEP.start)
        .set({
          status: 'RUNNING',
          worker_id: signal.workerId,
          attempts: Math.max(0, signal.attempt - 1),
          started_at: startedAt,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirst();
      const events: NewTaskEvent[] = [];
      if (sub) {
        events.push(
          taskEvent('subtask.started', task.id, signal.workerId, { key: sub.key, attempt: signal.attempt }, sub.id),
        );
      } else {
        // Not READY: a duplicate of this run's signal (same worker and start), or a job BullMQ ran again after its
        // worker stopped mid-run (stalled): that run counts as an attempt and is recorded.
        const before = await trx
          .selectFrom('subtasks')
          .select(['worker_id', 'attempts'])
          .where('id', '=', signal.subtaskId)
          .executeTakeFirst();
        const again = await guard(STEP.redeliver)
          .where((eb) =>
            eb.or([
              eb('worker_id', 'is distinct from', signal.workerId),
              eb('started_at', 'is distinct from', startedAt),
            ]),
          )
          .set({
            worker_id: signal.workerId,
            attempts: sql<number>`attempts + 1`,
            started_at: startedAt,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirst();
        if (!again) return null;
        events.push(
          taskEvent(
            'subtask.redelivered',
            task.id,
            signal.workerId,
            { key: again.key, attempt: again.attempts + 1, previousWorker: before?.worker_id ?? null },
            again.id,
          ),
        );
      }
      const moved = await markInProgress(trx, task, events);
      return { task: moved, events: await insertEvents(trx, events) };
    });
  }

  /** Stores a progress report (one statement with the task read), recording a `progress.stage` when it changes. */
  private async applyProgress(signal: Extract<WorkerSignal, { t: 'progress' }>): Promise<Outcome | null> {
    const row = await this.ctx.db
      .with('sub', (db) =>
        db
          .updateTable('subtasks')
          .set({ progress: json(signal.progress), updated_at: now })
          .where('id', '=', signal.subtaskId)
          .where('generation', '=', signal.generation)
          .where('status', 'in', LIVE_SUBTASK)
          .returning(['id as subtask_id', 'task_id', 'key']),
      )
      .selectFrom('sub')
      .innerJoin('tasks', 'tasks.id', 'sub.task_id')
      .selectAll('tasks')
      .select(['sub.subtask_id', 'sub.key'])
      .executeTakeFirst();
    if (!row) return null;
    const { subtask_id: subtaskId, key, ...task } = row;
    const events: HubEvent[] = [];
    const stage = signal.progress.stage;
    if (stage !== undefined && this.leases.stageChanged(subtaskId, stage)) {
      events.push(
        ...(await insertEvents(this.ctx.db, [
          taskEvent('progress.stage', task.id, 'worker', { key, stage }, subtaskId),
        ])),
      );
    }
    events.push({
      id: null,
      taskId: task.id,
      subtaskId,
      type: 'progress',
      data: { key, ...signal.progress },
      actor: 'worker',
      at: new Date(signal.at).toISOString(),
    });
    return { task, events };
  }

  /** Drops what this hub keeps for a finished subtask. */
  private forget(subtaskId: string): void {
    this.leases.forget(subtaskId);
  }

  /** Runs signal handlers for one subtask one after another, so progress is applied in order. */
  private serial(key: string, fn: () => Promise<void>): void {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn).catch((err) => this.ctx.log.warn({ err, subtaskId: key }, 'signal not applied'));
    this.chains.set(key, next);
    void next.finally(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }
}
