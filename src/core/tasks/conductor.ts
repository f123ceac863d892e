// Consumes worker results (the results stream; the results queue for older workers) and signals (the signals
// channel) and applies them to Postgres: results in batches (group commit, result-batcher.ts) through
// apply-result.ts, signals here; settle() acts on what committed.
import { context, type Context } from '@opentelemetry/api';
import { randomUUID } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { taskEvent, type HubEvent, type NewTaskEvent } from '../events.ts';
import type { HubContext } from '../hub-context.ts';
import { duplicateRedis, hubWorkerOptions, RESULTS_QUEUE, telemetryOption } from '../queues.ts';
import { insertEvents, json, lockTask, now } from '../store/task-store.ts';
import { PREPARED } from '../store/prepared.ts';
import type { TaskRow } from '../store/schema.ts';
import type { JobResult, WorkerSignal } from '../types.ts';
import { applyResults, markInProgress } from './apply-result.ts';
import { ResultBatcher, type ItemResult } from './result-batcher.ts';
import { ResultStream } from './result-stream.ts';
import { LIVE_SUBTASK } from './lifecycle.ts';
import { settle, type Outcome } from './settle.ts';
import { SignalLeases } from './signal-leases.ts';
import { STEP } from './transitions.ts';
import { outageLogFor } from '../outage-log.ts';

/**
 * Results applied in one transaction at most. The results worker holds up to this many jobs, so a full batch is
 * ready when the previous one commits; one batch is in flight per hub, so results take one pool connection.
 */
const BATCH_MAX = 64;

/** Consumes the results stream (and queue) and the workers' signal channel. */
export class Conductor {
  /** Result transactions committed and the results they held (for metrics and tests). */
  readonly stats = { transactions: 0, results: 0 };
  private worker?: Worker;
  private connection?: Redis;
  private subscriber?: Redis;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly leases: SignalLeases;
  /** The trace context each result arrived in, while it waits for its batch. */
  private readonly traces = new Map<JobResult, Context>();
  private readonly batcher = new ResultBatcher<JobResult, boolean>((results) => this.applyBatch(results), BATCH_MAX);
  /** Results from the workers' stream (the results queue carries those of older workers). */
  readonly stream: ResultStream;

  constructor(
    private readonly ctx: HubContext,
    private readonly opts: { concurrency?: number } = {},
  ) {
    this.leases = new SignalLeases(ctx.redis, ctx.keys.signals, randomUUID());
    this.stream = new ResultStream(ctx, (r) => this.applyResult(r));
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
        concurrency: this.opts.concurrency ?? BATCH_MAX,
        ...hubWorkerOptions(),
        removeOnComplete: { age: 3600, count: 1000 },
        removeOnFail: { age: 7 * 24 * 3600 },
        ...telemetryOption(),
      },
    );
    const outage = outageLogFor(this.ctx.redis, this.ctx.log);
    this.worker.on('error', (err) => outage.report(err, 'results worker error'));
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
    await this.stream.start();
  }

  /** Stops consuming; in-flight results finish first. */
  async stop(): Promise<void> {
    await this.stream.stop();
    await this.worker?.close();
    this.connection?.disconnect();
    this.subscriber?.disconnect();
    await Promise.all(this.chains.values());
    await this.leases.releaseAll().catch((err) => this.ctx.log.warn({ err }, 'signal leases not released'));
  }

  /**
   * Applies a worker's result once: a duplicate or stale (older generation) result changes nothing (false). Results
   * arriving while a batch is in flight go together in the next one; this resolves after its batch settled.
   */
  applyResult(result: JobResult): Promise<boolean> {
    this.traces.set(result, context.active());
    return this.batcher.push(result).finally(() => this.traces.delete(result));
  }

  /**
   * Applies a batch in one transaction and settles it. If the transaction throws (one poisoned result), each result
   * is applied alone, so the others still go through and only the bad one fails (BullMQ retries it).
   */
  private async applyBatch(results: JobResult[]): Promise<ItemResult<boolean>[]> {
    let committed: Awaited<ReturnType<typeof applyResults>>;
    try {
      committed = await this.ctx.db.transaction().execute((trx) => applyResults(trx, this.ctx.config, results));
    } catch (error) {
      if (results.length === 1) return [{ ok: false, error }];
      this.ctx.log.warn({ err: error, size: results.length }, 'result batch failed; applying its results one by one');
      const out: ItemResult<boolean>[] = [];
      for (const r of results) out.push(...(await this.applyBatch([r])));
      return out;
    }
    this.stats.transactions++;
    this.stats.results += results.length;
    results.forEach((r, i) => {
      if (!committed.applied[i]) {
        this.ctx.log.debug({ subtaskId: r.subtaskId, generation: r.generation }, 'duplicate or stale result ignored');
      } else if (r.kind === 'succeeded' || r.final) this.forget(r.subtaskId);
    });
    for (const o of committed.outcomes) for (const s of o.withdraw ?? []) this.forget(s.id);
    // Each task's messages and jobs carry the trace of its own result, not of the job that started the flush.
    const traces = new Map(results.map((r) => [r.taskId, this.traces.get(r)]));
    await settle(
      this.ctx,
      committed.outcomes.map((o) => (o.task ? { ...o, trace: traces.get(o.task.id) } : o)),
    );
    return committed.applied.map((value) => ({ ok: true, value }));
  }

  /** Applies a start or progress signal; stale ones (other generation, finished subtask) are ignored. */
  async applySignal(signal: WorkerSignal): Promise<void> {
    const out = signal.t === 'started' ? await this.applyStart(signal) : await this.applyProgress(signal);
    if (out) await settle(this.ctx, out);
  }

  /**
   * READY -> RUNNING with `subtask.started`. A run the worker says was redelivered (BullMQ ran the job again after
   * its worker stopped mid-run) may find the subtask still RUNNING from the lost run: that run counts as an
   * attempt, and `subtask.redelivered` names both workers.
   */
  private async applyStart(signal: Extract<WorkerSignal, { t: 'started' }>): Promise<Outcome | null> {
    return this.ctx.db.transaction().execute(async (trx) => {
      // Lock order is always task row, then subtask rows (as in applyResult), so the two never deadlock.
      const task = await lockTask(trx, signal.taskId);
      const startedAt = new Date(signal.at);
      const again = signal.redelivered === true;
      const before = again
        ? await trx.selectFrom('subtasks').select('worker_id').where('id', '=', signal.subtaskId).executeTakeFirst()
        : undefined;
      // Runs finished so far: BullMQ's count, or more when a run was redelivered (the lost one counts too).
      const finished = sql<number>`greatest(attempts, ${Math.max(0, signal.attempt - 1)}) + ${again ? 1 : 0}`;
      const sub = await trx
        .updateTable('subtasks')
        .set({
          status: 'RUNNING',
          worker_id: signal.workerId,
          attempts: finished,
          started_at: startedAt,
          updated_at: now,
        })
        .where('id', '=', signal.subtaskId)
        .where('generation', '=', signal.generation)
        .where('status', 'in', again ? [...STEP.start, ...STEP.redeliver] : STEP.start)
        // Not a duplicate of this very run's signal (the same worker and start).
        .where((eb) =>
          eb.or([
            eb('worker_id', 'is distinct from', signal.workerId),
            eb('started_at', 'is distinct from', startedAt),
          ]),
        )
        .returningAll()
        .executeTakeFirst();
      if (!sub) return null;
      const step = { key: sub.key, attempt: signal.attempt };
      const events: NewTaskEvent[] = [
        again
          ? taskEvent(
              'subtask.redelivered',
              task.id,
              signal.workerId,
              { key: sub.key, attempt: sub.attempts + 1, previousWorker: before?.worker_id ?? null },
              sub.id,
            )
          : taskEvent('subtask.started', task.id, signal.workerId, step, sub.id),
      ];
      const moved = await markInProgress(trx, task, events);
      return { task: moved, events: await insertEvents(trx, events) };
    });
  }

  /** Stores a progress report (one statement with the task read), recording a `progress.stage` when it changes. */
  private async applyProgress(signal: Extract<WorkerSignal, { t: 'progress' }>): Promise<Outcome | null> {
    const {
      rows: [row],
    } = await sql<TaskRow & { subtask_id: string; key: string }>`${PREPARED}
      with sub as (update subtasks set progress = ${json(signal.progress)}::jsonb, updated_at = now()
        where id = ${signal.subtaskId} and generation = ${signal.generation}::int
          and status in (${sql.join(LIVE_SUBTASK)})
        returning id as subtask_id, task_id, key)
      select t.*, sub.subtask_id, sub.key from sub join tasks t on t.id = sub.task_id`.execute(this.ctx.db);
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
