// A task that waits for its time is SCHEDULED (with its next run), never IN_PROGRESS; POST /api/tasks takes runAt/schedule.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as m0016 from '../migrations/0016-scheduled-state.ts';
import { taskTable } from '../src/cli/format.ts';
import type { InboundMessage } from '../src/core/types.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

const TOKEN = 'alice-token-1';
let h: Harness;
let n = 0;

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${h.hub.web.url()}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
};
const listed = async (id: string) =>
  ((await api('GET', '/api/tasks?limit=100')).body.tasks as any[]).find((t) => t.id === id);
const say = (text: string) =>
  h.hub.commands.handle({
    eventId: `st-${++n}`,
    text,
    plainTextIsTask: true,
    origin: { platform: 'web', conversationId: 'web:alice', userId: 'web:alice' },
  } satisfies InboundMessage);
const inMinutes = (m: number) => new Date(Date.now() + m * 60_000);

beforeAll(async () => {
  h = await createHarness({ env: { HUB_API_TOKENS: `alice=${TOKEN}`, SCHEDULE_MIN_INTERVAL_MS: '1000' } });
});
afterAll(async () => {
  await h?.close();
});

describe('SCHEDULED tasks', () => {
  it('POST /api/tasks with schedule: the task is SCHEDULED with its next run in the list, chat and CLI views', async () => {
    const before = Date.now();
    const res = await api('POST', '/api/tasks', { text: 'check the build', schedule: 'in 2 hours' });
    expect(res.status).toBe(202);
    const { task, schedule } = res.body;
    expect(task).toMatchObject({ status: 'SCHEDULED', startedAt: null, text: 'in 2 hours check the build' });
    expect(schedule).toMatchObject({ kind: 'at', status: 'active', parentTaskId: task.id, text: 'check the build' });
    const next = Date.parse(task.nextRunAt);
    expect(next).toBeGreaterThanOrEqual(before + 2 * 3_600_000 - 1000);
    expect(next).toBeLessThanOrEqual(Date.now() + 2 * 3_600_000 + 1000);

    const row = await listed(task.id);
    expect(row).toMatchObject({ status: 'SCHEDULED', nextRunAt: task.nextRunAt });
    expect(((await api('GET', '/api/tasks?status=in_progress')).body.tasks as any[]).map((t) => t.id)).not.toContain(
      task.id,
    );
    expect((await api('GET', `/api/tasks/${task.id}`)).body.task).toMatchObject({
      status: 'SCHEDULED',
      nextRunAt: task.nextRunAt,
    });

    const stamp = task.nextRunAt.slice(0, 16).replace('T', ' ');
    expect((await say('tasks'))!.text).toContain(
      `${task.shortId}  SCHEDULED   in 2 hours check the build (next run ${stamp} UTC)`,
    );
    expect((await say(`status ${task.shortId}`))!.text).toMatch(
      new RegExp(`^Task ${task.shortId}: SCHEDULED \\(next run ${stamp} UTC\\)`),
    );
    expect(taskTable([row])).toContain(`SCHEDULED (next ${stamp} UTC)`);

    // Paused: still SCHEDULED (not running), with no next run.
    await api('POST', `/api/schedules/${schedule.id}/pause`);
    expect(await listed(task.id)).toMatchObject({ status: 'SCHEDULED', nextRunAt: null });
    expect((await say('tasks'))!.text).toContain('check the build (paused)');
    await api('DELETE', `/api/schedules/${schedule.id}`);
    expect(await listed(task.id)).toMatchObject({ status: 'CANCELLED' });
    expect((await listed(task.id)).nextRunAt).toBeUndefined();
  });

  it('POST /api/tasks with runAt: a one-shot at that time; bad combinations are readable 400s that create nothing', async () => {
    const at = inMinutes(90);
    at.setUTCMilliseconds(0);
    const ok = await api('POST', '/api/tasks', { text: 'water the plants', runAt: at.toISOString() });
    expect(ok.status).toBe(202);
    expect(ok.body.task.status).toBe('SCHEDULED');
    expect(ok.body.schedule).toMatchObject({ kind: 'at', runAt: at.toISOString(), nextRunAt: at.toISOString() });

    const offset = await api('POST', '/api/tasks', { text: 'feed the cat', runAt: '2099-01-02T10:00:00+02:00' });
    expect(offset.body.schedule.runAt).toBe('2099-01-02T08:00:00.000Z');

    const bad = [
      [{ text: 'x', runAt: 'tomorrow-ish' }, /runAt: must be an ISO time with a zone/],
      [{ text: 'x', runAt: '2001-01-01T00:00:00Z' }, /already passed/],
      [{ text: 'x', runAt: inMinutes(5).toISOString(), schedule: 'in 1 hour' }, /runAt or schedule, not both/],
      [{ text: 'x', schedule: 'whenever you like' }, /could not understand when/],
      [{ text: 'x', schedule: 'in 1 hour', review: true }, /review cannot be combined/],
      [{ text: '', schedule: 'in 1 hour' }, /Say what to do/],
    ] as const;
    const count = async () => (await api('GET', '/api/tasks?limit=100')).body.tasks.length;
    const was = await count();
    for (const [body, message] of bad) {
      const res = await api('POST', '/api/tasks', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.message).toMatch(message);
    }
    expect(await count()).toBe(was);
  });

  it('a one-shot stays SCHEDULED until it runs, then is done and stays listed; its run is a task of its own', async () => {
    const at = new Date(Date.now() + 2000);
    const res = await api('POST', '/api/tasks', { text: 'say hello later', runAt: at.toISOString() });
    const parent = res.body.task;
    expect(parent.status).toBe('SCHEDULED');
    const statuses = new Set<string>();
    h.hub.ctx.onEvents((_evs, t) => {
      if (t.id === parent.id) statuses.add(t.status);
    });
    const done = await h.waitForTask(parent.id, (t) => t.status === 'COMPLETED', 20_000);
    expect(statuses.has('IN_PROGRESS')).toBe(false);
    const child = ((await api('GET', '/api/tasks?limit=100')).body.tasks as any[]).find(
      (t) => t.parentTaskId === parent.id,
    );
    expect(child).toMatchObject({ text: 'say hello later' });
    expect(done.result).toMatchObject({ taskId: child.id });
    const schedules = (await api('GET', '/api/schedules')).body.schedules as any[];
    expect(schedules.find((s) => s.parentTaskId === parent.id)).toMatchObject({ status: 'done', nextRunAt: null });
    expect((await say('schedules'))!.text).toMatch(/done {4}/);
  });

  it('a recurring schedule keeps its task SCHEDULED while runs come and go (never IN_PROGRESS forever)', async () => {
    const res = await api('POST', '/api/tasks', { text: 'tick', schedule: 'every 1 second' });
    expect(res.status).toBe(202);
    const parent = res.body.task;
    await h.until(
      async () => {
        const kids = ((await api('GET', '/api/tasks?limit=100')).body.tasks as any[]).filter(
          (t) => t.parentTaskId === parent.id && t.status === 'COMPLETED',
        );
        return kids.length >= 2 ? kids : undefined;
      },
      20_000,
      'two finished runs',
    );
    const row = await listed(parent.id);
    expect(row.status).toBe('SCHEDULED');
    expect(Date.parse(row.nextRunAt)).toBeGreaterThan(Date.now() - 2000);
    await api('DELETE', `/api/schedules/${res.body.schedule.id}`);
    expect((await listed(parent.id)).status).toBe('CANCELLED');
  });
});

describe('migration 0016', () => {
  it('moves the tasks of live schedules from IN_PROGRESS to SCHEDULED, and back on down', async () => {
    const res = await api('POST', '/api/tasks', { text: 'legacy', schedule: 'in 3 hours' });
    const { db } = h.hub.ctx;
    const id = res.body.task.id as string;
    const running = await db.selectFrom('tasks').select('id').where('status', '=', 'IN_PROGRESS').execute();
    await m0016.down(db);
    expect((await db.selectFrom('tasks').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe(
      'IN_PROGRESS',
    );
    await m0016.up(db);
    const row = await db
      .selectFrom('tasks')
      .select(['status', 'started_at'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'SCHEDULED', started_at: null });
    // Ordinary running tasks are left alone.
    expect(await db.selectFrom('tasks').select('id').where('status', '=', 'IN_PROGRESS').execute()).toEqual(running);
  });
});
