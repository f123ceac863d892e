// Puts ready subtasks on their capability queues, with what the worker needs and nothing more.
import { stageJobArtifacts } from '../artifacts/artifact-transport.ts';
import { publishControl } from '../control-messages.ts';
import type { HubContext } from '../hub-context.ts';
import { jobIdFor, subtaskJobOptions } from '../queues.ts';
import type { SubtaskRow, TaskRow } from '../store/schema.ts';
import type { JobData } from '../types.ts';

/** The job payload of a subtask: its input, its dependencies' outputs by key, and the user scope. */
export function jobDataFor(task: TaskRow, subtask: SubtaskRow, siblings: SubtaskRow[]): JobData {
  const deps: Record<string, unknown> = {};
  for (const key of subtask.depends_on) deps[key] = siblings.find((s) => s.key === key)?.output ?? null;
  return {
    taskId: task.id,
    subtaskId: subtask.id,
    key: subtask.key,
    generation: subtask.generation,
    capability: subtask.capability,
    input: subtask.input,
    deps,
    scope: { userId: task.user_id },
    timeoutMs: subtask.timeout_ms,
  };
}

/** Enqueues the given READY subtasks; a job id that already exists is left alone (idempotent). */
export async function enqueueSubtasks(
  ctx: HubContext,
  task: TaskRow,
  ready: SubtaskRow[],
  siblings: SubtaskRow[],
): Promise<void> {
  const files = await stageJobArtifacts(ctx, task, ready, siblings);
  const byCapability = new Map<string, SubtaskRow[]>();
  for (const s of ready) byCapability.set(s.capability, [...(byCapability.get(s.capability) ?? []), s]);
  // One add per job, not addBulk: its pipeline copies every script BullMQ defined on the connection, and the adds
  // of one turn leave in one socket write anyway (coalesce-writes.ts).
  await Promise.all(
    [...byCapability].map(async ([capability, subs]) => {
      await ctx.announceCapability(capability);
      const queue = ctx.queues.forCapability(capability);
      await Promise.all(
        subs.map((s) =>
          queue.add(
            capability,
            { ...jobDataFor(task, s, siblings), ...(files.has(s.id) ? { artifacts: files.get(s.id) } : {}) },
            subtaskJobOptions({
              jobId: jobIdFor(s.id, s.generation),
              priority: task.priority,
              attempts: s.max_attempts,
              backoffMs: s.backoff_ms,
              jitter: s.jitter,
            }),
          ),
        ),
      );
    }),
  );
}

/** Removes the waiting/delayed jobs of subtasks and tells workers to abort running ones of the task. */
export async function withdrawSubtasks(ctx: HubContext, taskId: string, subtasks: SubtaskRow[]): Promise<void> {
  await Promise.all(
    subtasks.map(async (s) => {
      const job = await ctx.queues.forCapability(s.capability).getJob(jobIdFor(s.id, s.generation));
      const state = job ? await job.getState() : 'missing';
      if (
        job &&
        (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children')
      ) {
        await job.remove().catch(() => {
          /* taken by a worker meanwhile: the cancel broadcast covers it */
        });
      }
    }),
  );
  await publishControl(ctx.redis, ctx.keys.control, { t: 'cancel', taskId });
}
