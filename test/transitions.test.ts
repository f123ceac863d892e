// Every named move on real Postgres: it moves a task from each legal source, leaves every other status alone, and
// yields its event; subtask guards come from the same table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../src/core/ids.ts';
import { json, newTaskValues } from '../src/core/store/task-store.ts';
import type { TaskRow } from '../src/core/store/schema.ts';
import { canMoveSubtask, canMoveTask, subtaskSourcesFor, taskSourcesFor } from '../src/core/tasks/lifecycle.ts';
import * as moves from '../src/core/tasks/transitions.ts';
import { MOVES, STEP, type MoveName, type Moved } from '../src/core/tasks/transitions.ts';
import { SUBTASK_STATUSES, TASK_STATUSES, type TaskStatus } from '../src/core/types.ts';
import { createTestEnv, type TestEnv } from './helpers/test-env.ts';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.close();
});

/** A task stored directly in `status` (every status, also the never-stored ones, to prove the guards). */
async function taskIn(status: TaskStatus): Promise<TaskRow> {
  return env.ctx.db
    .insertInto('tasks')
    .values(
      newTaskValues({
        id: newId(),
        user_id: 'test:alice',
        origin: json({ platform: 'test', conversationId: 'c', userId: 'test:alice' })!,
        text: 'x',
        status,
        priority: 'normal',
        notify_policy: 'done_only',
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Each move as a call, with the event type it must yield. */
const CALLS: Record<MoveName, { event: string; run: (t: TaskRow) => Promise<Moved | undefined> }> = {
  plan: { event: 'planned', run: (t) => moves.plan(env.ctx.db, t.id, { steps: [] }) },
  start: { event: 'started', run: (t) => moves.start(env.ctx.db, t) },
  complete: { event: 'completed', run: (t) => moves.complete(env.ctx.db, t.id, { ok: 1 }) },
  fail: { event: 'failed', run: (t) => moves.fail(env.ctx.db, t.id, 'broke') },
  toReview: { event: 'review.requested', run: (t) => moves.toReview(env.ctx.db, t, { key: 'a' }) },
  resume: { event: 'resumed', run: (t) => moves.resume(env.ctx.db, t.id, 'test:alice') },
  revise: { event: 'revised', run: (t) => moves.revise(env.ctx.db, t.id, 'test:alice', 'shorter') },
  cancel: { event: 'cancelled', run: (t) => moves.cancel(env.ctx.db, t.id, 'test:alice', 'Cancelled.') },
  reject: { event: 'rejected', run: (t) => moves.reject(env.ctx.db, t.id, 'test:alice', 'no') },
  replay: { event: 'retried', run: (t) => moves.replay(env.ctx.db, t.id, 'test:alice', 'retried', []) },
};

describe('task moves', () => {
  it.each(Object.keys(MOVES) as MoveName[])(
    '%s moves from its legal sources only, and yields its event',
    async (name) => {
      const { to, from } = MOVES[name];
      // The sources are the lifecycle table's (narrowed for some moves), never a list of their own.
      for (const s of from) expect(canMoveTask(s, to)).toBe(true);
      expect(taskSourcesFor(to)).toEqual(expect.arrayContaining([...from]));
      for (const status of TASK_STATUSES) {
        const task = await taskIn(status);
        const moved = await CALLS[name].run(task);
        const stored = await env.ctx.db
          .selectFrom('tasks')
          .selectAll()
          .where('id', '=', task.id)
          .executeTakeFirstOrThrow();
        if ((from as readonly TaskStatus[]).includes(status)) {
          expect(moved?.task.status, `${status} -> ${to}`).toBe(to);
          expect(stored.status).toBe(to);
          expect(moved!.event).toMatchObject({ task_id: task.id, type: CALLS[name].event });
          if (moved!.event.data && 'status' in moved!.event.data) expect(moved!.event.data.status).toBe(to);
        } else {
          expect(moved, `${status} must not move by ${name}`).toBeUndefined();
          expect(stored.status).toBe(status);
          expect(stored.updated_at).toEqual(task.updated_at);
        }
      }
    },
  );

  it('events never announce the never-stored statuses', async () => {
    const { values, event } = moves.accept({ id: newId(), user_id: 'test:alice' } as never, 'ASSIGNED', {
      priority: 'normal',
    });
    expect(values.status).toBe('ASSIGNED');
    expect(event).toMatchObject({ type: 'accepted', data: { priority: 'normal' } });
    expect(JSON.stringify(event.data)).not.toMatch(/QUEUED|SUBMITTED/);
  });

  it('a step that ends the task in the fused statement uses the completion guard and says started when it was not', () => {
    const fused = moves.completeInStep({ id: 't', status: 'ASSIGNED' } as TaskRow, 1, true);
    expect(fused.complete.from).toEqual([...MOVES.complete.from]);
    expect(fused.started?.type).toBe('started');
    expect(fused.completed).toMatchObject({ type: 'completed', data: { status: 'COMPLETED' } });
    expect(moves.completeInStep({ id: 't', status: 'IN_PROGRESS' } as TaskRow, 1, true).started).toBeUndefined();
  });
});

describe('subtask guards', () => {
  it('come from the subtask table', () => {
    const targets = {
      start: 'RUNNING',
      redeliver: 'RUNNING',
      succeed: 'SUCCEEDED',
      retry: 'READY',
      dead: 'DEAD',
      release: 'READY',
      stop: 'CANCELLED',
      skip: 'SKIPPED',
    } as const;
    for (const [name, to] of Object.entries(targets)) {
      const from = STEP[name as keyof typeof targets];
      for (const s of from) expect(canMoveSubtask(s, to), `${s} -> ${to}`).toBe(true);
      expect(subtaskSourcesFor(to)).toEqual(expect.arrayContaining([...from]));
    }
    expect(STEP.start).toEqual(['READY']);
    expect(STEP.redeliver).toEqual(['RUNNING']);
    // A replay renumbers every step that did not succeed.
    expect([...STEP.replay].sort()).toEqual(
      SUBTASK_STATUSES.filter((s) => !['READY', 'RUNNING', 'SUCCEEDED'].includes(s)).sort(),
    );
  });
});
