// The HTTP API end to end over real HTTP, on a real Postgres schema and Redis prefix (no workers run).
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminService } from '../src/core/tasks/admin-service.ts';
import { toHubEvent } from '../src/core/hub-context.ts';
import { RulePlanner } from '../src/core/planning/rule-planner.ts';
import { TaskService } from '../src/core/tasks/task-service.ts';
import { createWebFrontend, type WebFrontend } from '../src/frontends/web/index.ts';
import { checkReadiness } from '../src/frontends/web/health-routes.ts';
import { createTestEnv, type TestEnv } from './helpers/test-env.ts';
import { newTaskValues } from '../src/core/store/task-store.ts';

const ALICE = 'alice-token-1';
const BOB = 'bob-token-22';
const ADMIN = 'admin-token-333';

let env: TestEnv;
let web: WebFrontend;
let base: string;

interface Res {
  status: number;
  body: any;
  headers: Headers;
}

async function api(
  method: string,
  path: string,
  opts: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? ALICE : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON: kept as text so the assertion shows it */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

const submit = async (text: string, token = ALICE) => {
  const r = await api('POST', '/api/tasks', { token, body: { text } });
  expect(r.status).toBe(202);
  return r.body.task as { id: string; shortId: string; status: string };
};

async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of ['tasks', 'subtasks', 'task_events'] as const) {
    const row = await env.ctx.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    out[table] = Number(row.n);
  }
  return out;
}

/** Makes a task FAILED with a dead-lettered subtask, as the conductor would after the last attempt. */
async function failTask(taskId: string): Promise<void> {
  const sub = await env.ctx.db
    .updateTable('subtasks')
    .set({ status: 'DEAD', error: 'boom' })
    .where('task_id', '=', taskId)
    .returningAll()
    .executeTakeFirstOrThrow();
  await env.ctx.db.updateTable('tasks').set({ status: 'FAILED', error: 'boom' }).where('id', '=', taskId).execute();
  await env.ctx.db
    .insertInto('dead_letters')
    .values({
      subtask_id: sub.id,
      task_id: taskId,
      capability: sub.capability,
      generation: sub.generation,
      attempts: 3,
      error: 'boom',
      resolved_at: null,
      resolved_by: null,
      resolution: null,
    })
    .execute();
}

/** A minimal SSE reader over fetch: yields {id, event, data} as they arrive. */
async function openStream(path: string, token = ALICE, headers: Record<string, string> = {}) {
  const ctrl = new AbortController();
  const res = await fetch(`${base}${path}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...headers },
    signal: ctrl.signal,
  });
  const queue: Array<{ id: string | null; event: string; data: any }> = [];
  const waiters: Array<() => void> = [];
  let ended = false;
  const pump = (async () => {
    if (!res.body) return;
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let id: string | null = null;
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length) queue.push({ id, event, data: JSON.parse(data.join('\n')) });
          waiters.splice(0).forEach((w) => w());
        }
      }
    } catch {
      /* aborted */
    }
    ended = true;
    waiters.splice(0).forEach((w) => w());
  })();
  let read = 0;
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    /** Resolves with the next event (of `type`, if given), skipping others. */
    async next(type?: string) {
      for (;;) {
        while (read < queue.length) {
          const e = queue[read++]!;
          if (!type || e.event === type) return e;
        }
        if (ended) throw new Error(`stream ended before ${type ?? 'an event'}`);
        await new Promise<void>((r) => waiters.push(r));
      }
    },
    async close() {
      ctrl.abort();
      await pump;
    },
  };
}

beforeAll(async () => {
  env = await createTestEnv();
  const tasks = new TaskService(env.ctx, new RulePlanner());
  const admin = new AdminService(env.ctx);
  web = createWebFrontend({
    ctx: env.ctx,
    tasks,
    admin,
    host: '127.0.0.1',
    port: 0,
    tokens: env.config.HUB_API_TOKENS,
  });
  await web.start();
  base = web.url();
});

afterAll(async () => {
  await web?.stop();
  await env?.close();
});

describe('health', () => {
  it('/health answers without a token', async () => {
    const r = await api('GET', '/health', { token: null });
    expect(r).toMatchObject({ status: 200, body: { ok: true } });
  });

  it('/ready checks Postgres and Redis', async () => {
    const r = await api('GET', '/ready', { token: null });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, postgres: { ok: true }, redis: { ok: true } });
  });

  it('readiness reports which dependency failed', async () => {
    const dead = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      maxRetriesPerRequest: null,
      retryStrategy: () => 5000,
    });
    dead.on('error', () => {});
    try {
      const r = await checkReadiness({ db: env.ctx.db, redis: dead }, 300);
      expect(r.ok).toBe(false);
      expect(r.postgres.ok).toBe(true);
      expect(r.redis.ok).toBe(false);
      expect(r.redis.error).toBeTruthy();
    } finally {
      dead.disconnect();
    }
  });
});

describe('authentication and errors', () => {
  it('refuses a missing or wrong token with 401 JSON', async () => {
    const none = await api('GET', '/api/tasks', { token: null });
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('unauthorized');
    expect(none.body.error.message).toMatch(/Bearer/);
    const wrong = await api('GET', '/api/tasks', { token: 'alice-token-2' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toMatch(/not valid/);
  });

  it('answers an unknown route with JSON 404', async () => {
    const r = await api('GET', '/api/nope');
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({ code: 'not_found' });
    expect(r.body.error.message).toContain('/api/nope');
  });

  it('answers malformed JSON with invalid_json and the reason', async () => {
    const before = await counts();
    const r = await api('POST', '/api/tasks', { raw: '{"text": "hi",' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_json');
    expect(r.body.error.message).toMatch(/^The request body is not valid JSON: \S/);
    expect(JSON.stringify(r.body)).not.toMatch(/at .*\.(ts|js):\d+/);
    expect(await counts()).toEqual(before);
  });

  it('refuses a non-JSON content type with 415', async () => {
    const r = await api('POST', '/api/tasks', { raw: 'text=hi', headers: { 'content-type': 'text/plain' } });
    expect(r.status).toBe(415);
    expect(r.body.error.message).toMatch(/application\/json/);
  });

  it('validates the submit body', async () => {
    const notString = await api('POST', '/api/tasks', { body: { text: 42 } });
    expect(notString.status).toBe(400);
    expect(notString.body.error).toMatchObject({ code: 'invalid_input' });
    expect(notString.body.error.message).toMatch(/text: must be a string/);
    const badPriority = await api('POST', '/api/tasks', { body: { text: 'hi', priority: 'asap' } });
    expect(badPriority.status).toBe(400);
    expect(badPriority.body.error.message).toMatch(/priority: must be one of urgent, normal, low/);
    const unknownKey = await api('POST', '/api/tasks', { body: { text: 'hi', colour: 'red' } });
    expect(unknownKey.status).toBe(400);
    expect(unknownKey.body.error.message).toMatch(/Unrecognized key: "colour"/);
    const empty = await api('POST', '/api/tasks', { body: { text: '   ' } });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/empty/);
    const noBody = await api('POST', '/api/tasks');
    expect(noBody.status).toBe(400);
    expect(noBody.body.error.message).toMatch(/JSON object/);
  });

  it('refuses a 1 MB text with a clear message and writes nothing', async () => {
    const before = await counts();
    const r = await api('POST', '/api/tasks', { body: { text: 'x'.repeat(1_000_000) } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_input');
    expect(r.body.error.message).toMatch(/1000000 characters long; the limit is 20000/);
    expect(await counts()).toEqual(before);
  });

  it('refuses a body over the size limit with 413 JSON', async () => {
    const before = await counts();
    const r = await api('POST', '/api/tasks', { body: { text: 'y'.repeat(3 * 1024 * 1024) } });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('payload_too_large');
    expect(r.body.error.message).toMatch(/larger than the 2 MiB limit/);
    expect(await counts()).toEqual(before);
  });
});

describe('tasks', () => {
  it('submits a task as web:<name> and answers 202', async () => {
    const r = await api('POST', '/api/tasks', { body: { text: 'summarise the minutes', priority: 'urgent' } });
    expect(r.status).toBe(202);
    expect(r.body.task).toMatchObject({
      status: 'ASSIGNED',
      text: 'summarise the minutes',
      userId: 'web:alice',
      priority: 'urgent',
    });
    expect(r.body.task.shortId).toBe(r.body.task.id.slice(0, 8));
    expect(r.body.warnings.join(' ')).toMatch(/No worker is online for demo.echo/);
    const row = await env.ctx.db
      .selectFrom('tasks')
      .selectAll()
      .where('id', '=', r.body.task.id)
      .executeTakeFirstOrThrow();
    expect(row.user_id).toBe('web:alice');
    expect(row.origin).toEqual({ platform: 'web', conversationId: 'web:alice', userId: 'web:alice' });
  });

  it('shows a task with subtasks, progress and events, by full or short id', async () => {
    const task = await submit('a diamond please');
    for (const id of [task.id, task.shortId, task.id.slice(0, 4)]) {
      const r = await api('GET', `/api/tasks/${id}`);
      expect(r.status).toBe(200);
      expect(r.body.task.id).toBe(task.id);
      expect(r.body.task.subtasks.map((s: any) => s.key)).toEqual(['a', 'b', 'c', 'd']);
      expect(r.body.task.subtasks[3]).toMatchObject({
        capability: 'demo.echo',
        status: 'PENDING',
        dependsOn: ['b', 'c'],
        attempts: 0,
        generation: 0,
      });
      expect(r.body.task.progress).toMatchObject({ percent: 0, subtasksDone: 0, subtasksTotal: 4 });
      expect(r.body.task.events.map((e: any) => e.type)).toEqual(['accepted', 'planned', 'no_worker']);
      expect(r.body.task.events[0]).toMatchObject({ actor: 'web:alice', subtaskId: null });
    }
  });

  it("hides other users' tasks (404 on show, cancel, retry, stream)", async () => {
    const task = await submit('private things');
    for (const [method, path] of [
      ['GET', ''],
      ['POST', '/cancel'],
      ['POST', '/retry'],
      ['GET', '/stream'],
    ] as const) {
      const r = await api(method, `/api/tasks/${task.id}${path}`, { token: BOB });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.body.error.code).toBe('not_found');
    }
    const still = await env.ctx.db
      .selectFrom('tasks')
      .select('status')
      .where('id', '=', task.id)
      .executeTakeFirstOrThrow();
    expect(still.status).toBe('ASSIGNED');
  });

  it("lists only the caller's tasks, newest first, page by page", async () => {
    const mine = [await submit('bob one', BOB), await submit('bob two', BOB), await submit('bob three', BOB)];
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: Res = await api('GET', `/api/tasks?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: BOB });
      expect(r.status).toBe(200);
      expect(r.body.tasks.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.tasks.map((t: any) => t.id));
      cursor = r.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(2);
    expect(seen).toEqual(mine.map((t) => t.id).reverse());
    const filtered = await api('GET', '/api/tasks?status=assigned', { token: BOB });
    expect(filtered.body.tasks).toHaveLength(3);
    const none = await api('GET', '/api/tasks?status=completed', { token: BOB });
    expect(none.body.tasks).toHaveLength(0);
    const bad = await api('GET', '/api/tasks?status=sleeping', { token: BOB });
    expect(bad.status).toBe(400);
    const badLimit = await api('GET', '/api/tasks?limit=abc', { token: BOB });
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error.message).toMatch(/limit/);
  });

  it('cancels a task, and a second cancel reports it already finished', async () => {
    const task = await submit('cancel me');
    const r = await api('POST', `/api/tasks/${task.shortId}/cancel`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ alreadyFinished: false, task: { id: task.id, status: 'CANCELLED' } });
    const again = await api('POST', `/api/tasks/${task.id}/cancel`, {
      raw: '',
      headers: { 'content-type': 'application/json' },
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ alreadyFinished: true, task: { status: 'CANCELLED' } });
    const subs = await env.ctx.db.selectFrom('subtasks').select('status').where('task_id', '=', task.id).execute();
    expect(subs.every((s) => s.status === 'CANCELLED')).toBe(true);
  });

  it('refuses to retry a task that has not failed (409), retries a failed one (202)', async () => {
    const task = await submit('retry me');
    const r = await api('POST', `/api/tasks/${task.id}/retry`);
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: 'conflict' });
    expect(r.body.error.message).toMatch(/only a FAILED task can be retried/);
    await failTask(task.id);
    const ok = await api('POST', `/api/tasks/${task.id}/retry`);
    expect(ok.status).toBe(202);
    expect(ok.body.task).toMatchObject({ id: task.id, status: 'ASSIGNED' });
  });
});

describe('admin', () => {
  it('refuses non-admins with 403 on every admin route', async () => {
    const routes = [
      ['GET', '/api/admin/failed'],
      ['GET', '/api/admin/workers'],
      ['GET', '/api/admin/queues'],
      ['GET', '/api/admin/tasks'],
      ['POST', '/api/admin/failed/reprocess-all'],
      ['POST', '/api/admin/failed/abcd/purge'],
    ] as const;
    for (const [method, path] of routes) {
      const r = await api(method, path);
      expect(r.status, path).toBe(403);
      expect(r.body.error.code).toBe('forbidden');
    }
    expect((await api('GET', '/api/admin/workers', { token: null })).status).toBe(401);
  });

  it("lists workers, queues and every user's tasks for admins", async () => {
    const a = await submit('alice for admin');
    const b = await submit('bob for admin', BOB);
    const workers = await api('GET', '/api/admin/workers', { token: ADMIN });
    expect(workers).toMatchObject({ status: 200, body: { workers: [] } });
    const queues = await api('GET', '/api/admin/queues', { token: ADMIN });
    expect(queues.status).toBe(200);
    const echo = queues.body.queues.find((q: any) => q.capability === 'demo.echo');
    expect(echo.waiting + echo.prioritized).toBeGreaterThan(0);
    const all = await api('GET', '/api/admin/tasks?limit=100', { token: ADMIN });
    const ids = all.body.tasks.map((t: any) => t.id);
    expect(ids).toContain(a.id);
    expect(ids).toContain(b.id);
    const one = await api('GET', `/api/admin/tasks/${b.shortId}`, { token: ADMIN });
    expect(one.status).toBe(200);
    expect(one.body.task).toMatchObject({ id: b.id, userId: 'web:bob' });
  });

  it('lists, reprocesses and purges dead letters, recording the admin', async () => {
    const task = await submit('dead letter me');
    await failTask(task.id);
    const list = await api('GET', '/api/admin/failed?capability=demo.echo', { token: ADMIN });
    expect(list.status).toBe(200);
    const entry = list.body.failed.find((f: any) => f.taskId === task.id);
    expect(entry).toMatchObject({ capability: 'demo.echo', subtaskKey: 'main', error: 'boom', taskUser: 'web:alice' });

    const re = await api('POST', `/api/admin/failed/${entry.subtaskId}/reprocess`, {
      token: ADMIN,
      body: { input: { text: 'fixed' } },
    });
    expect(re.status).toBe(202);
    expect(re.body).toMatchObject({ taskId: task.id, subtasks: 1 });
    const sub = await env.ctx.db
      .selectFrom('subtasks')
      .selectAll()
      .where('id', '=', entry.subtaskId)
      .executeTakeFirstOrThrow();
    expect(sub).toMatchObject({ input: { text: 'fixed' }, generation: 1, status: 'READY' });
    const ev = await env.ctx.db
      .selectFrom('task_events')
      .selectAll()
      .where('task_id', '=', task.id)
      .where('type', '=', 'admin.reprocess')
      .executeTakeFirstOrThrow();
    expect(ev.actor).toBe('web:admin');

    await failTask(task.id);
    const purge = await api('POST', `/api/admin/failed/${task.shortId}/purge`, { token: ADMIN });
    expect(purge).toMatchObject({ status: 200, body: { taskId: task.id } });
    const dl = await env.ctx.db
      .selectFrom('dead_letters')
      .selectAll()
      .where('task_id', '=', task.id)
      .where('resolution', '=', 'purged')
      .executeTakeFirstOrThrow();
    expect(dl.resolved_by).toBe('web:admin');
    const missing = await api('POST', `/api/admin/failed/${task.shortId}/purge`, { token: ADMIN });
    expect(missing.status).toBe(404);

    const other = await submit('dead letter two');
    await failTask(other.id);
    const all = await api('POST', '/api/admin/failed/reprocess-all', {
      token: ADMIN,
      body: { capability: 'demo.echo' },
    });
    expect(all.status).toBe(202);
    expect(all.body.tasks).toContain(other.id);
  });
});

describe('SSE stream', () => {
  it('replays stored events, then delivers live ones, progress and messages', async () => {
    const task = await submit('stream me');
    const s = await openStream(`/api/tasks/${task.id}/stream`);
    try {
      expect(s.status).toBe(200);
      expect(s.contentType).toMatch(/text\/event-stream/);
      const accepted = await s.next();
      expect(accepted).toMatchObject({
        event: 'accepted',
        data: { taskId: task.id, type: 'accepted', actor: 'web:alice' },
      });
      expect(accepted.id).toMatch(/^\d+$/);
      expect((await s.next()).event).toBe('planned');
      expect((await s.next()).event).toBe('no_worker');

      // A transient progress event travels without an id and carries derived progress.
      const row = await env.ctx.db.selectFrom('tasks').selectAll().where('id', '=', task.id).executeTakeFirstOrThrow();
      await env.ctx.emit(
        [
          {
            id: null,
            taskId: task.id,
            subtaskId: null,
            type: 'progress',
            data: { stage: 'fetching', done: 1, total: 4 },
            actor: 'worker',
            at: new Date().toISOString(),
          },
        ],
        row,
      );
      const progress = await s.next();
      expect(progress).toMatchObject({
        id: null,
        event: 'progress',
        data: { data: { stage: 'fetching' }, progress: { subtasksTotal: 1 } },
      });
      expect(typeof progress.data.progress.percent).toBe('number');

      // Chat messages sent to the web conversation reach the task's streams; edit reuses the message id.
      const ref = await web.send(
        { platform: 'web', conversationId: 'web:alice', userId: 'web:alice' },
        { taskId: task.id, kind: 'ack', text: 'On it.' },
      );
      expect(ref).toMatchObject({ platform: 'web', conversationId: 'web:alice' });
      const msg = await s.next();
      expect(msg).toMatchObject({
        id: null,
        event: 'message',
        data: { messageId: ref.messageId, message: { text: 'On it.', kind: 'ack' } },
      });
      await web.edit!(ref, { taskId: task.id, kind: 'progress', text: 'Half way.' });
      expect((await s.next()).data).toMatchObject({ messageId: ref.messageId, message: { text: 'Half way.' } });

      const cancel = await api('POST', `/api/tasks/${task.id}/cancel`);
      expect(cancel.status).toBe(200);
      const cancelled = await s.next();
      expect(cancelled).toMatchObject({
        event: 'cancelled',
        data: { type: 'cancelled', actor: 'web:alice', data: { status: 'CANCELLED' } },
      });
      expect(BigInt(cancelled.id!)).toBeGreaterThan(BigInt(accepted.id!));
    } finally {
      await s.close();
    }
  });

  it('resumes after Last-Event-ID (or ?after=) without repeating events', async () => {
    const task = await submit('resume me');
    const events = await env.ctx.db
      .selectFrom('task_events')
      .select(['id', 'type'])
      .where('task_id', '=', task.id)
      .orderBy('id')
      .execute();
    const s = await openStream(`/api/tasks/${task.id}/stream`, ALICE, { 'last-event-id': String(events[0]!.id) });
    try {
      const first = await s.next();
      expect(first).toMatchObject({ id: String(events[1]!.id), event: 'planned' });
    } finally {
      await s.close();
    }
    const q = await openStream(`/api/tasks/${task.id}/stream?after=${events[1]!.id}`);
    try {
      expect((await q.next()).event).toBe('no_worker');
    } finally {
      await q.close();
    }
    // A stored event delivered again (e.g. published twice) is not repeated; newer ones still flow.
    const d = await openStream(`/api/tasks/${task.id}/stream`);
    try {
      await d.next('no_worker');
      const row = await env.ctx.db.selectFrom('tasks').selectAll().where('id', '=', task.id).executeTakeFirstOrThrow();
      const stored = await env.ctx.db
        .selectFrom('task_events')
        .selectAll()
        .where('task_id', '=', task.id)
        .orderBy('id')
        .execute();
      await env.ctx.emit([toHubEvent(stored[0]!)], row);
      await env.ctx.emit(
        [
          {
            id: null,
            taskId: task.id,
            subtaskId: null,
            type: 'progress',
            data: {},
            actor: 'worker',
            at: new Date().toISOString(),
          },
        ],
        row,
      );
      expect((await d.next()).event).toBe('progress');
    } finally {
      await d.close();
    }
    const bad = await api('GET', `/api/tasks/${task.id}/stream?after=abc`);
    expect(bad.status).toBe(400);
  });

  it('pings idle streams, and stop() ends open streams promptly', async () => {
    const tasks = new TaskService(env.ctx, new RulePlanner());
    const other = createWebFrontend({
      ctx: env.ctx,
      tasks,
      admin: new AdminService(env.ctx),
      host: '127.0.0.1',
      port: 0,
      tokens: env.config.HUB_API_TOKENS,
      sseHeartbeatMs: 30,
    });
    await other.start();
    let stopped = false;
    try {
      const task = await submit('ping me');
      const res = await fetch(`${other.url()}/api/tasks/${task.id}/stream`, {
        headers: { authorization: `Bearer ${ALICE}` },
      });
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let text = '';
      while (!text.includes(': ping\n\n')) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended before a ping');
        text += dec.decode(value, { stream: true });
      }
      expect(text).toContain('event: no_worker');
      expect(other.openStreams()).toBe(1);
      await other.stop();
      stopped = true;
      for (;;) {
        const { done } = await reader.read();
        if (done) break;
      }
      expect(other.openStreams()).toBe(0);
    } finally {
      if (!stopped) await other.stop();
    }
  });

  it('forgets a stream when the client disconnects', async () => {
    const task = await submit('disconnect me');
    const s = await openStream(`/api/tasks/${task.id}/stream`);
    await s.next('no_worker');
    expect(web.openStreams()).toBeGreaterThanOrEqual(1);
    const open = web.openStreams();
    await s.close();
    await expect.poll(() => web.openStreams()).toBe(open - 1);
  });
});

describe('pagination precision', () => {
  it('does not skip tasks created within the same millisecond', async () => {
    const env = await createTestEnv();
    try {
      const tasks = new TaskService(env.ctx, new RulePlanner());
      const base = '2026-01-01T10:00:00.1231';
      for (const [i, us] of ['00', '20', '30'].entries()) {
        await env.ctx.db
          .insertInto('tasks')
          .values({
            ...newTaskValues({
              id: `00000000-0000-0000-0000-00000000000${i}`,
              user_id: 'web:pager',
              origin: JSON.stringify({ platform: 'web', conversationId: 'web:pager', userId: 'web:pager' }),
              text: `t${i}`,
              status: 'COMPLETED',
              priority: 'normal',
              notify_policy: 'silent',
            }),
            created_at: sql<Date>`${`${base}${us}Z`}::timestamptz`,
          })
          .execute();
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await tasks.list({ userId: 'web:pager' }, { limit: 1, cursor });
        seen.push(...page.tasks.map((t) => t.text));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual(['t2', 't1', 't0']);
    } finally {
      await env.close();
    }
  });
});
