// Applies worker results and signals to Postgres: releases dependents, finishes tasks, dead-letters.
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { enqueueAdmitted } from './admission.ts';
import { insertArtifacts } from '../artifacts/artifact-store.ts';
import { splitOutputFiles } from '../artifacts/artifact-transport.ts';
import { endStep, lockTaskAndAdmission, updateSubtaskWithSiblings } from '../store/task-writes.ts';
import { withdrawSubtasks } from './dispatcher.ts';
import { isTerminalTask } from './lifecycle.ts';
import { finishOrReview, releaseDependents, resultOf, toReview } from './task-flow.ts';
import { recordLlm, splitLlmOutput } from '../traces/llm-accounting.ts';
import type { HubContext, HubEvent } from '../hub-context.ts';
import { duplicateRedis, hubWorkerOptions, RESULTS_QUEUE, telemetryOption } from '../queues.ts';
import type { SubtaskRow, TaskRow } from '../store/schema.ts';
import { insertEvents, json, loadSubtasks, lockTask, now } from '../store/task-store.ts';
import type { JobResult, SubtaskStatus, WorkerSignal } from '../types.ts';
import type { NewTaskEvent } from '../store/schema.ts';

/** What applying one result changed, for the caller to act on after commit. */
interface Applied {
  task: TaskRow;
  events: HubEvent[];
  ready: SubtaskRow[];
  siblings: SubtaskRow[];
  withdraw: SubtaskRow[];
  ended: boolean;
}

/** Consumes the results queue and the workers' signal channel. */
export class Conductor {
  private worker?: Worker;
  private connection?: Redis;
  private subscriber?: Redis;
  private readonly lastStage = new Map<string, string | undefined>();
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly ctx: HubContext,
    private readonly opts: { concurrency?: number } = {},
  ) {}

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
      this.serial(signal.subtaskId, () => this.applySignal(signal));
    });
    await this.worker.waitUntilReady();
  }

  /** Stops consuming; in-flight results finish first. */
  async stop(): Promise<void> {
    await this.worker?.close();
    this.connection?.disconnect();
    this.subscriber?.disconnect();
    await Promise.all(this.chains.values());
  }

  /** Applies a worker's result once: a duplicate or stale (older generation) result changes nothing. */
  async applyResult(result: JobResult): Promise<boolean> {
    const admit = { cap: this.ctx.config.MAX_INFLIGHT_PER_USER, locked: true };
    const applied = await this.ctx.db.transaction().execute((trx) =>
      (async () => {
        // The task row, then its owner's admission lock (every path below admits when a slot frees up).
        const task = await lockTaskAndAdmission(trx, result.taskId);
        const guard = trx
          .updateTable('subtasks')
          .where('id', '=', result.subtaskId)
          .where('generation', '=', result.generation)
          .where('status', 'in', ['READY', 'RUNNING']);
        const events: NewTaskEvent[] = [];
        if (result.kind === 'succeeded') {
          // Usage and traces travel under a reserved key, files as bytes: both are stored apart from the output.
          const { output: reported, llm } = splitLlmOutput(result.output);
          const { output, files } = splitOutputFiles(reported, this.ctx.config.MAX_ARTIFACT_BYTES);
          const settled = await updateSubtaskWithSiblings(
            trx,
            task.id,
            result.subtaskId,
            result.generation,
            ['READY', 'RUNNING'],
            {
              status: 'SUCCEEDED',
              output: json(output),
              attempts: result.attempt,
              error: null,
              worker_id: result.workerId,
              finished_at: now,
              updated_at: now,
              ...(result.startedAt
                ? { started_at: (eb) => eb.fn.coalesce('started_at', eb.val(new Date(result.startedAt!))) }
                : {}),
            },
          );
          if (!settled) return null;
          const { sub, siblings } = settled;
          if (llm)
            await recordLlm(
              trx,
              { taskId: task.id, subtaskId: sub.id, userId: task.user_id, purpose: sub.capability },
              llm,
            );
          await insertArtifacts(trx, this.ctx.config, task.id, files, sub.id);
          // A job that finished before its start was signalled: its start is recorded here, in the same order.
          const startHere = result.startSignalled === false;
          if (startHere)
            events.push({
              task_id: task.id,
              subtask_id: sub.id,
              type: 'subtask.started',
              actor: result.workerId,
              data: { key: sub.key, attempt: result.attempt },
            });
          events.push({
            task_id: task.id,
            subtask_id: sub.id,
            type: 'subtask.succeeded',
            actor: result.workerId,
            data: { key: sub.key, attempt: result.attempt },
          });
          if (
            (task.status === 'ASSIGNED' || task.status === 'IN_PROGRESS') &&
            !task.requires_review &&
            siblings.every((s) => s.status === 'SUCCEEDED')
          ) {
            // The last step of a task without review: complete it, admit and record in one statement. The row lock
            // makes the completion's guard certain, so its events are known beforehand.
            if (startHere && task.status === 'ASSIGNED')
              events.splice(1, 0, {
                task_id: task.id,
                subtask_id: null,
                type: 'started',
                actor: 'hub',
                data: { status: 'IN_PROGRESS' },
              });
            events.push({
              task_id: task.id,
              subtask_id: null,
              type: 'completed',
              actor: 'hub',
              data: { status: 'COMPLETED' },
            });
            const end = await endStep(trx, {
              complete: { taskId: task.id, result: resultOf(siblings), from: ['ASSIGNED', 'IN_PROGRESS'] },
              admit: { userId: task.user_id, cap: admit.cap },
              events,
            });
            return {
              task: end.task ?? task,
              events: end.events,
              ready: end.admitted,
              siblings,
              withdraw: [],
              ended: true,
            };
          }
          let current = startHere ? await this.markInProgress(trx, task, events, 1) : task;
          if (current.status === 'REVIEW') {
            // Waiting for a decision: keep the output; approve releases what depends on it.
          } else if (siblings.every((s) => s.status === 'SUCCEEDED')) {
            current = await finishOrReview(trx, current, siblings, events);
          } else if (sub.requires_review) {
            current = await toReview(trx, current, events, { key: sub.key, output });
          } else {
            await releaseDependents(trx, siblings);
            current = await this.markInProgress(trx, current, events);
          }
          const end = await endStep(trx, { admit: { userId: task.user_id, cap: admit.cap }, events });
          return {
            task: current,
            events: end.events,
            ready: end.admitted,
            siblings,
            withdraw: [],
            ended: isTerminalTask(current.status),
          };
        }
        if (!result.final) {
          const sub = await guard
            .set({ status: 'READY', attempts: result.attempt, error: result.error, updated_at: now })
            .returningAll()
            .executeTakeFirst();
          if (!sub) return null;
          events.push({
            task_id: task.id,
            subtask_id: sub.id,
            type: 'subtask.retrying',
            actor: result.workerId,
            data: {
              key: sub.key,
              attempt: result.attempt,
              of: sub.max_attempts,
              error: result.error,
              retryInMs: result.retryInMs,
            },
          });
          return { task, events: await insertEvents(trx, events), ready: [], siblings: [], withdraw: [], ended: false };
        }
        const sub = await guard
          .set({
            status: 'DEAD',
            attempts: result.attempt,
            error: result.error,
            worker_id: result.workerId,
            finished_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirst();
        if (!sub) return null;
        await trx
          .insertInto('dead_letters')
          .values({
            subtask_id: sub.id,
            task_id: task.id,
            capability: sub.capability,
            generation: sub.generation,
            attempts: result.attempt,
            error: result.error,
            resolved_at: null,
            resolved_by: null,
            resolution: null,
          })
          .execute();
        const reason = `Step "${sub.key}" (${sub.capability}) failed after ${result.attempt} attempt${result.attempt === 1 ? '' : 's'}: ${result.error}`;
        events.push({
          task_id: task.id,
          subtask_id: sub.id,
          type: 'subtask.dead',
          actor: result.workerId,
          data: { key: sub.key, attempt: result.attempt, error: result.error },
        });
        const withdraw = await trx
          .updateTable('subtasks')
          .set((eb) => ({
            status: eb
              .case()
              .when('status', '=', 'PENDING')
              .then(eb.val<SubtaskStatus>('SKIPPED'))
              .else(eb.val<SubtaskStatus>('CANCELLED'))
              .end(),
            finished_at: now,
            updated_at: now,
          }))
          .where('task_id', '=', task.id)
          .where('status', 'in', ['PENDING', 'READY', 'RUNNING'])
          .returningAll()
          .execute();
        const failed = await trx
          .updateTable('tasks')
          .set({ status: 'FAILED', error: reason, finished_at: now, updated_at: now })
          .where('id', '=', task.id)
          .where('status', 'in', ['ASSIGNED', 'IN_PROGRESS', 'REVIEW'])
          .returningAll()
          .executeTakeFirst();
        if (failed)
          events.push({
            task_id: task.id,
            subtask_id: null,
            type: 'failed',
            actor: 'hub',
            data: { status: 'FAILED', reason },
          });
        const end = await endStep(trx, { admit: { userId: task.user_id, cap: admit.cap }, events });
        return {
          task: failed ?? task,
          events: end.events,
          ready: end.admitted,
          siblings: [],
          withdraw: withdraw.filter((s) => s.status === 'CANCELLED'),
          ended: Boolean(failed),
        };
      })(),
    );
    if (!applied) {
      this.ctx.log.debug(
        { subtaskId: result.subtaskId, generation: result.generation },
        'duplicate or stale result ignored',
      );
      return false;
    }
    await this.afterCommit(applied);
    return true;
  }

  /** Applies a start or progress signal; stale ones (other generation, finished subtask) are ignored. */
  async applySignal(signal: WorkerSignal): Promise<void> {
    if (signal.t === 'started') {
      const out = await this.ctx.db.transaction().execute(async (trx) => {
        // Lock order is always task row, then subtask rows (as in applyResult), so the two never deadlock.
        const task = await lockTask(trx, signal.taskId);
        const sub = await trx
          .updateTable('subtasks')
          .set({
            status: 'RUNNING',
            worker_id: signal.workerId,
            attempts: Math.max(0, signal.attempt - 1),
            started_at: new Date(signal.at),
            updated_at: now,
          })
          .where('id', '=', signal.subtaskId)
          .where('generation', '=', signal.generation)
          .where('status', '=', 'READY')
          .returningAll()
          .executeTakeFirst();
        if (!sub) return null;
        const events: NewTaskEvent[] = [
          {
            task_id: task.id,
            subtask_id: sub.id,
            type: 'subtask.started',
            actor: signal.workerId,
            data: { key: sub.key, attempt: signal.attempt },
          },
        ];
        const moved = await this.markInProgress(trx, task, events);
        return { task: moved, events: await insertEvents(trx, events) };
      });
      if (out) await this.ctx.emit(out.events, out.task);
      return;
    }
    // One statement: store the report and read the task it belongs to (for the notifier and SSE).
    const row = await this.ctx.db
      .with('sub', (db) =>
        db
          .updateTable('subtasks')
          .set({ progress: json(signal.progress), updated_at: now })
          .where('id', '=', signal.subtaskId)
          .where('generation', '=', signal.generation)
          .where('status', 'in', ['RUNNING', 'READY'])
          .returning(['id as subtask_id', 'task_id', 'key']),
      )
      .selectFrom('sub')
      .innerJoin('tasks', 'tasks.id', 'sub.task_id')
      .selectAll('tasks')
      .select(['sub.subtask_id', 'sub.key'])
      .executeTakeFirst();
    if (!row) return;
    const { subtask_id: subtaskId, key, ...task } = row;
    const sub = { id: subtaskId, key };
    const events: HubEvent[] = [];
    const stage = signal.progress.stage;
    if (stage !== undefined && this.lastStage.get(sub.id) !== stage) {
      this.lastStage.set(sub.id, stage);
      events.push(
        ...(await insertEvents(this.ctx.db, [
          {
            task_id: task.id,
            subtask_id: sub.id,
            type: 'progress.stage',
            actor: 'worker',
            data: { key: sub.key, stage },
          },
        ])),
      );
    }
    events.push({
      id: null,
      taskId: task.id,
      subtaskId: sub.id,
      type: 'progress',
      data: { key: sub.key, ...signal.progress },
      actor: 'worker',
      at: new Date(signal.at).toISOString(),
    });
    await this.ctx.emit(events, task);
  }

  /** ASSIGNED -> IN_PROGRESS with its `started` event, inserted at `at` (default: after the events so far). */
  private async markInProgress(
    trx: Parameters<typeof lockTask>[0],
    task: TaskRow,
    events: NewTaskEvent[],
    at = events.length,
  ): Promise<TaskRow> {
    if (task.status !== 'ASSIGNED') return task;
    const moved = await trx
      .updateTable('tasks')
      .set({ status: 'IN_PROGRESS', started_at: task.started_at ?? now, updated_at: now })
      .where('id', '=', task.id)
      .where('status', '=', 'ASSIGNED')
      .returningAll()
      .executeTakeFirst();
    if (!moved) return task;
    events.splice(at, 0, {
      task_id: task.id,
      subtask_id: null,
      type: 'started',
      actor: 'hub',
      data: { status: 'IN_PROGRESS' },
    });
    return moved;
  }

  private async afterCommit(a: Applied): Promise<void> {
    if (a.ready.length)
      await enqueueAdmitted(this.ctx, a.ready, a.siblings.length ? [{ task: a.task, siblings: a.siblings }] : []);
    if (a.withdraw.length) await withdrawSubtasks(this.ctx, a.task.id, a.withdraw);
    if (a.ended) {
      await this.ctx.redis.publish(this.ctx.keys.control, JSON.stringify({ t: 'task-ended', taskId: a.task.id }));
      for (const s of a.siblings) this.lastStage.delete(s.id);
    }
    await this.ctx.emit(a.events, a.task);
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
