// Replays a failed task from the point of failure: succeeded subtasks keep their outputs.
import { ConflictError } from '../errors.ts';
import type { HubContext } from '../hub-context.ts';
import { admitWaiting } from './admission.ts';
import { settle } from './settle.ts';
import { canMove, replay, STEP } from './transitions.ts';
import { insertEvents, json, loadSubtasks, lockTask, now } from '../store/task-store.ts';
import type { SubtaskRow, TaskRow } from '../store/schema.ts';

/** What a replay is for, recorded in the audit trail. */
export interface ReplayRequest {
  taskId: string;
  actor: string;
  /** `retry` by the owner, or `admin.reprocess` by an admin. */
  eventType: 'retried' | 'admin.reprocess';
  /** Replace the input of these subtasks (by id) for the new generation. */
  inputOverrides?: Record<string, unknown> | undefined;
}

/** Resets every unfinished subtask to a new generation, reopens the task, and enqueues what is ready. */
export async function replayTask(
  ctx: HubContext,
  req: ReplayRequest,
): Promise<{ task: TaskRow; replayed: SubtaskRow[] }> {
  const { task, subtasks, replayed, events, admitted } = await ctx.db.transaction().execute(async (trx) => {
    const current = await lockTask(trx, req.taskId);
    if (!canMove('replay', current.status)) {
      throw new ConflictError(
        `Task ${current.id.slice(0, 8)} is ${current.status}; only a FAILED task can be retried.`,
      );
    }
    const all = await loadSubtasks(trx, current.id);
    const succeeded = new Set(all.filter((s) => s.status === 'SUCCEEDED').map((s) => s.key));
    const again: SubtaskRow[] = [];
    for (const s of all.filter((x) => x.status !== 'SUCCEEDED')) {
      const ready = s.depends_on.every((d) => succeeded.has(d));
      const override =
        req.inputOverrides && s.id in req.inputOverrides ? { input: json(req.inputOverrides[s.id]) } : {};
      const row = await trx
        .updateTable('subtasks')
        .set({
          status: ready ? 'READY' : 'PENDING',
          generation: s.generation + 1,
          attempts: 0,
          error: null,
          output: null,
          progress: null,
          worker_id: null,
          started_at: null,
          finished_at: null,
          updated_at: now,
          queued_at: null,
          ...override,
        })
        .where('id', '=', s.id)
        .where('status', 'in', STEP.replay)
        .returningAll()
        .executeTakeFirst();
      if (row) again.push(row);
    }
    const moved = await replay(trx, current.id, req.actor, req.eventType, again);
    if (!moved) throw new ConflictError(`Task ${current.id.slice(0, 8)} changed meanwhile; look at it again.`);
    const { task } = moved;
    await trx
      .updateTable('dead_letters')
      .set({ resolved_at: now, resolved_by: req.actor, resolution: 'reprocessed' })
      .where('task_id', '=', current.id)
      .where('resolved_at', 'is', null)
      .execute();
    const events = await insertEvents(trx, [moved.event]);
    const admitted = await admitWaiting(trx, task.user_id, ctx.config.MAX_INFLIGHT_PER_USER);
    return { task, subtasks: await loadSubtasks(trx, task.id), replayed: again, events, admitted };
  });
  await settle(ctx, { task, events, admitted, siblings: subtasks });
  return { task, replayed };
}
