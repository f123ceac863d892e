// Admin operations behind the CLI, the /api/admin routes and (later) chat admin commands.
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from '../errors.ts';
import { isBigintId } from '../ids.ts';
import { jobIdFor, priorityValue } from '../queues.ts';
import { PRIORITIES, type Priority } from '../types.ts';
import { taskEvent } from '../events.ts';
import type { HubContext } from '../hub-context.ts';
import { isActiveTask } from './lifecycle.ts';
import { settle } from './settle.ts';
import { capabilityOfQueue } from '../queues.ts';
import { replayTask } from './replay.ts';
import type { DeadLetterRow } from '../store/schema.ts';
import { findVisibleTask, insertEvents, lockTask, now } from '../store/task-store.ts';
import type { WorkerInfo } from '../types.ts';
import { listLiveWorkers } from '../worker-registry.ts';

/** One open dead letter with the task it belongs to. */
export interface FailedEntry extends DeadLetterRow {
  task_text: string;
  task_user: string;
  subtask_key: string;
}

/** Counts of one capability queue. */
export interface QueueCounts {
  capability: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
  prioritized: number;
}

/** Admin operations; every mutating one is recorded in task_events with the admin's identity. */
export class AdminService {
  constructor(private readonly ctx: HubContext) {}

  /** Refuses anyone not listed in HUB_ADMINS. */
  assertAdmin(userId: string): void {
    if (!this.ctx.isAdmin(userId)) throw new ForbiddenError('That command is for admins only.');
  }

  /** Open dead letters, newest first, optionally for one capability. */
  async listFailed(opts: { capability?: string | undefined; limit?: number } = {}): Promise<FailedEntry[]> {
    let q = this.ctx.db
      .selectFrom('dead_letters as d')
      .innerJoin('tasks as t', 't.id', 'd.task_id')
      .innerJoin('subtasks as s', 's.id', 'd.subtask_id')
      .selectAll('d')
      .select(['t.text as task_text', 't.user_id as task_user', 's.key as subtask_key'])
      .where('d.resolved_at', 'is', null);
    if (opts.capability) q = q.where('d.capability', '=', opts.capability);
    return q
      .orderBy('d.id', 'desc')
      .limit(Math.min(opts.limit ?? 100, 1000))
      .execute();
  }

  /**
   * Runs a dead-lettered subtask (by subtask or task id, or a dead letter id) again as a fresh generation,
   * with the rest of its task's unfinished work. `input` replaces the dead subtask's input.
   */
  async reprocess(
    id: string,
    actor: string,
    opts: { input?: unknown } = {},
  ): Promise<{ taskId: string; subtasks: number }> {
    const dl = await this.findOpenDeadLetter(id);
    const overrides = opts.input === undefined ? undefined : { [dl.subtask_id]: opts.input };
    const { task, replayed } = await replayTask(this.ctx, {
      taskId: dl.task_id,
      actor,
      eventType: 'admin.reprocess',
      inputOverrides: overrides,
    });
    this.ctx.log.info({ taskId: task.id, actor }, 'admin reprocess');
    return { taskId: task.id, subtasks: replayed.length };
  }

  /** Reprocesses every task with an open dead letter (optionally of one capability). */
  async reprocessAll(
    actor: string,
    opts: { capability?: string | undefined } = {},
  ): Promise<{ tasks: string[]; errors: string[] }> {
    const open = await this.listFailed({ capability: opts.capability, limit: 1000 });
    const taskIds = [...new Set(open.map((d) => d.task_id))];
    const tasks: string[] = [];
    const errors: string[] = [];
    for (const taskId of taskIds) {
      try {
        await replayTask(this.ctx, { taskId, actor, eventType: 'admin.reprocess' });
        tasks.push(taskId);
      } catch (err) {
        errors.push(`${taskId.slice(0, 8)}: ${(err as Error).message}`);
      }
    }
    return { tasks, errors };
  }

  /** Closes a dead letter without running it again; the task stays FAILED. */
  async purge(id: string, actor: string): Promise<{ taskId: string }> {
    const dl = await this.findOpenDeadLetter(id);
    const events = await this.ctx.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('dead_letters')
        .set({ resolved_at: now, resolved_by: actor, resolution: 'purged' })
        .where('id', '=', dl.id)
        .where('resolved_at', 'is', null)
        .execute();
      return insertEvents(trx, [taskEvent('admin.purge', dl.task_id, actor, { deadLetter: dl.id }, dl.subtask_id)]);
    });
    const task = await this.ctx.db
      .selectFrom('tasks')
      .selectAll()
      .where('id', '=', dl.task_id)
      .executeTakeFirstOrThrow();
    await settle(this.ctx, { task, events });
    return { taskId: dl.task_id };
  }

  /** Changes an active task's priority, re-prioritising its jobs still waiting on their queues. */
  async setPriority(taskId: string, priority: Priority, actor: string): Promise<{ taskId: string; requeued: number }> {
    if (!PRIORITIES.includes(priority))
      throw new InvalidInputError(`Priority must be one of ${PRIORITIES.join(', ')}.`);
    const visible = await findVisibleTask(this.ctx.db, taskId, { userId: actor, isAdmin: true });
    const out = await this.ctx.db.transaction().execute(async (trx) => {
      const task = await lockTask(trx, visible.id);
      // A schedule's waiting task has no jobs to re-prioritise.
      if (!isActiveTask(task.status) || task.status === 'SCHEDULED')
        throw new ConflictError(
          `Task ${task.id.slice(0, 8)} is ${task.status}; only an active task's priority can change.`,
        );
      const updated = await trx
        .updateTable('tasks')
        .set({ priority, updated_at: now })
        .where('id', '=', task.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      const queued = await trx
        .selectFrom('subtasks')
        .selectAll()
        .where('task_id', '=', task.id)
        .where('status', '=', 'READY')
        .where('queued_at', 'is not', null)
        .execute();
      const events = await insertEvents(trx, [
        taskEvent('admin.priority', task.id, actor, { from: task.priority, to: priority }),
      ]);
      return { updated, queued, events };
    });
    let requeued = 0;
    for (const s of out.queued) {
      const job = await this.ctx.queues.forCapability(s.capability).getJob(jobIdFor(s.id, s.generation));
      if (job && ['waiting', 'prioritized'].includes(await job.getState())) {
        await job.changePriority({ priority: priorityValue(priority) }).then(
          () => {
            requeued++;
          },
          () => {
            /* taken by a worker meanwhile */
          },
        );
      }
    }
    await settle(this.ctx, { task: out.updated, events: out.events });
    return { taskId: out.updated.id, requeued };
  }

  /** Live workers with their state and patterns. */
  async workers(): Promise<WorkerInfo[]> {
    return listLiveWorkers(this.ctx.redis, this.ctx.keys);
  }

  /** Job counts of every capability queue. */
  async queues(): Promise<QueueCounts[]> {
    const caps = (await this.ctx.redis.smembers(this.ctx.keys.capabilities)).sort();
    return Promise.all(
      caps.map(async (capability) => {
        const c = await this.ctx.queues
          .forCapability(capability)
          .getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
        return {
          capability,
          waiting: c.waiting ?? 0,
          active: c.active ?? 0,
          delayed: c.delayed ?? 0,
          failed: c.failed ?? 0,
          completed: c.completed ?? 0,
          prioritized: c.prioritized ?? 0,
        };
      }),
    );
  }

  /** An open dead letter by its own id, its subtask id, its task id, or a unique prefix of those. */
  private async findOpenDeadLetter(id: string): Promise<DeadLetterRow> {
    const key = String(id ?? '')
      .trim()
      .toLowerCase();
    if (!/^[0-9a-f-]{1,36}$/.test(key))
      throw new InvalidInputError(`"${id}" is not a task, subtask or dead-letter id.`);
    if (/^\d+$/.test(key) && !isBigintId(key))
      throw new InvalidInputError(
        `"${id}" is not a dead-letter id: dead-letter ids are numbers up to 9223372036854775807.`,
      );
    if (/^\d+$/.test(key)) {
      // An all-digit key names a dead letter by its own id first.
      const byId = await this.ctx.db
        .selectFrom('dead_letters')
        .selectAll()
        .where('resolved_at', 'is', null)
        .where('id', '=', key)
        .executeTakeFirst();
      if (byId) return byId;
    }
    const rows = await this.ctx.db
      .selectFrom('dead_letters')
      .selectAll()
      .where('resolved_at', 'is', null)
      .where((eb) => eb.or([eb('subtask_id', 'like', `${key}%`), eb('task_id', 'like', `${key}%`)]))
      .orderBy('id', 'desc')
      .limit(20)
      .execute();
    if (rows.length === 0) throw new NotFoundError(`No open dead letter for ${id}.`);
    if (new Set(rows.map((r) => r.task_id)).size > 1)
      throw new InvalidInputError(`${id} matches dead letters of several tasks; give more characters.`);
    return rows[0]!;
  }
}
