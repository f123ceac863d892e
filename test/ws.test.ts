// GET /ws with a real `ws` client against a full hub: scope, resume without gaps or duplicates, slow clients, sessions.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

const ALICE = 'alice-token-1';
const BOB = 'bob-token-22';
const ADMIN = 'admin-token-333';

let h: Harness;
let base: string;

interface Msg {
  type: string;
  id?: string | null;
  taskId?: string;
  event?: { type: string; id: string | null };
  [k: string]: unknown;
}

/** A connected client that records every message and can wait for one. */
class Client {
  readonly messages: Msg[] = [];
  private waiters: Array<() => void> = [];
  readonly closed: Promise<number>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as Msg);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  /** Resolves with the first message matching `pred` (past or future). */
  next(pred: (m: Msg) => boolean, timeoutMs = 15_000): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching message; got ${this.messages.map((m) => m.event?.type ?? m.type)}`)),
        timeoutMs,
      );
      const check = () => {
        const m = this.messages.find(pred);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  /** Stored event ids received, in order. */
  ids(): string[] {
    return this.messages.filter((m) => m.type === 'event' && m.id).map((m) => m.id as string);
  }
}

async function connect(query = '', headers: Record<string, string> = { authorization: `Bearer ${ALICE}` }) {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws${query}`, { headers });
  const client = new Client(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  await client.next((m) => m.type === 'ready');
  return client;
}

async function submit(text: string, token = ALICE): Promise<string> {
  const res = await fetch(`${base}/api/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { task: { id: string } }).task.id;
}

async function storedIds(userId: string): Promise<string[]> {
  const rows = await h.hub.ctx.db
    .selectFrom('task_events as e')
    .innerJoin('tasks as t', 't.id', 'e.task_id')
    .select('e.id')
    .where('t.user_id', '=', userId)
    .orderBy('e.id')
    .execute();
  return rows.map((r) => String(r.id));
}

beforeAll(async () => {
  h = await createHarness({ env: { WS_MAX_BUFFER_BYTES: '65536', WS_HEARTBEAT_MS: '60000' } });
  base = h.hub.web.url();
});

afterAll(async () => {
  await h?.close();
});

describe('WebSocket /ws', () => {
  it('refuses a connection without credentials (401)', async () => {
    await expect(connect('', {})).rejects.toThrow(/HTTP 401/);
    await expect(connect('', { authorization: 'Bearer nope' })).rejects.toThrow(/HTTP 401/);
  });

  it("streams the events of the caller's own tasks only", async () => {
    const alice = await connect();
    const bob = await connect('', { authorization: `Bearer ${BOB}` });
    const id = await submit('diamond for alice');
    await alice.next((m) => m.taskId === id && m.event?.type === 'completed');
    const bobsOwn = await submit('echo for bob', BOB);
    await bob.next((m) => m.taskId === bobsOwn && m.event?.type === 'completed');
    expect(bob.messages.some((m) => m.taskId === id)).toBe(false);
    expect(alice.messages.some((m) => m.taskId === bobsOwn)).toBe(false);
    expect(alice.messages[0]).toMatchObject({ type: 'hello', userId: 'web:alice', scope: 'own' });
    alice.ws.close();
    bob.ws.close();
  });

  it('subscribes to one task, and lets an admin see every task', async () => {
    const admin = await connect('?all=true', { authorization: `Bearer ${ADMIN}` });
    const one = await connect();
    const other = await submit('wait 300 ms first');
    const id = await submit('echo the watched one');
    one.ws.send(JSON.stringify({ type: 'subscribe', taskId: id }));
    await one.next((m) => m.type === 'subscribed' && m.taskId === id);
    await one.next((m) => m.taskId === id && m.event?.type === 'completed');
    await admin.next((m) => m.taskId === other && m.event?.type === 'completed');
    await h.waitForTask(other, (t) => t.status === 'COMPLETED');
    const afterSubscribe = one.messages.slice(one.messages.findIndex((m) => m.type === 'subscribed'));
    expect(afterSubscribe.filter((m) => m.type === 'event').every((m) => m.taskId === id)).toBe(true);
    // Bob may not subscribe to Alice's task.
    const bob = await connect('', { authorization: `Bearer ${BOB}` });
    bob.ws.send(JSON.stringify({ type: 'subscribe', taskId: id }));
    await expect(bob.next((m) => m.type === 'error')).resolves.toMatchObject({
      message: expect.stringMatching(/No task/),
    });
    for (const c of [admin, one, bob]) c.ws.close();
  });

  it('resumes after a reconnect from the last event id with no gap and no duplicate', async () => {
    const before = await storedIds('web:alice');
    const first = await connect(before.length ? `?after=${before.at(-1)}` : '?after=0');
    const a = await submit('long work 1 s 20 items');
    await first.next((m) => m.taskId === a && m.event?.type === 'subtask.started');
    const lastSeen = first.ids().at(-1)!;
    first.ws.terminate();
    await first.closed;
    // Work goes on while the client is away.
    const b = await submit('diamond while away');
    await h.waitForTask(b, (t) => t.status === 'COMPLETED');
    const second = await connect(`?after=${lastSeen}`);
    await second.next((m) => m.taskId === a && m.event?.type === 'completed');
    const c = await submit('echo after return');
    await second.next((m) => m.taskId === c && m.event?.type === 'completed');
    const got = [...first.ids(), ...second.ids()];
    const expected = (await storedIds('web:alice')).filter((id) => !before.includes(id));
    expect(new Set(got).size).toBe(got.length);
    expect(got).toEqual(expected);
    second.ws.close();
  });

  it('cuts off a client that never reads instead of buffering for it', async () => {
    const reader = await connect();
    const slow = await connect();
    const socket = (slow.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    const id = await submit('echo something to talk about');
    await h.waitForTask(id, (t) => t.status === 'COMPLETED');
    const task = await h.hub.ctx.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const big = 'x'.repeat(64 * 1024);
    const before = h.hub.web.openSockets();
    // 32 MiB of events: more than the kernel's socket buffers hold, so the hub's own buffer must grow past the bound.
    for (let i = 0; i < 512; i++) {
      await h.hub.ctx.emit(
        [
          {
            id: null,
            taskId: id,
            subtaskId: null,
            type: 'progress',
            data: { big, i },
            actor: 'test',
            at: new Date().toISOString(),
          },
        ],
        task,
      );
      if (h.hub.web.openSockets() < before) break;
    }
    await vi.waitFor(() => expect(h.hub.web.openSockets()).toBe(before - 1), { timeout: 10_000, interval: 50 });
    // The reading client is still served.
    await reader.next((m) => m.type === 'event' && (m.event as { data?: { i?: number } }).data?.i === 0);
    reader.ws.send(JSON.stringify({ type: 'ping' }));
    await reader.next((m) => m.type === 'pong');
    socket.resume();
    await slow.closed;
    reader.ws.close();
  });

  it('signs in with a one-time code to a cookie session that needs the CSRF token for changes', async () => {
    const link = await h.hub.web.signInLink('web:alice');
    const code = /code=([\w-]+)/.exec(link)![1]!;
    const signIn = (body: unknown) =>
      fetch(`${base}/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const ok = await signIn({ code });
    expect(ok.status).toBe(200);
    const me = (await ok.json()) as { userId: string; csrfToken: string };
    expect(me.userId).toBe('web:alice');
    const setCookie = ok.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/sb_session=[\w-]+/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    const cookie = setCookie.split(';')[0]!;
    // The code works once.
    const again = await signIn({ code });
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: { message: string } }).error.message).toMatch(/works once/);
    expect((await signIn({ token: 'wrong' })).status).toBe(401);
    expect((await signIn({})).status).toBe(400);

    const list = await fetch(`${base}/api/tasks`, { headers: { cookie } });
    expect(list.status).toBe(200);
    const post = (headers: Record<string, string>) =>
      fetch(`${base}/api/tasks`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ text: 'echo from a cookie' }),
      });
    const noCsrf = await post({});
    expect(noCsrf.status).toBe(403);
    expect(((await noCsrf.json()) as { error: { message: string } }).error.message).toMatch(/x-csrf-token/);
    expect((await post({ 'x-csrf-token': 'wrong' })).status).toBe(403);
    expect((await post({ 'x-csrf-token': me.csrfToken })).status).toBe(202);

    // The cookie opens the WebSocket too, but not from another site's page.
    const ws = await connect('', { cookie, origin: base });
    expect(ws.messages[0]).toMatchObject({ type: 'hello', userId: 'web:alice' });
    ws.ws.close();
    await expect(connect('', { cookie, origin: 'https://evil.example' })).rejects.toThrow(/HTTP 400/);

    const out = await fetch(`${base}/api/session`, {
      method: 'DELETE',
      headers: { cookie, 'x-csrf-token': me.csrfToken },
    });
    expect(out.status).toBe(200);
    expect((await fetch(`${base}/api/tasks`, { headers: { cookie } })).status).toBe(401);
  });

  it('describes the API as OpenAPI 3.1 from the route schemas and serves the reference without a CDN', async () => {
    const doc = (await (await fetch(`${base}/api/openapi.json`)).json()) as any;
    expect(doc.openapi).toBe('3.1.0');
    const submitSchema = doc.paths['/api/tasks'].post.requestBody.content['application/json'].schema;
    expect(submitSchema.required).toEqual(['text']);
    expect(submitSchema.properties.priority.enum).toEqual(['urgent', 'normal', 'low']);
    expect(doc.paths['/api/tasks/{id}'].get.responses['200']).toBeDefined();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/schedules', '/api/admin/failed', '/api/session']),
    );
    const page = await (await fetch(`${base}/api/docs/`)).text();
    expect(page).not.toMatch(/https?:\/\/(cdn|unpkg|jsdelivr)/);
    const js = await fetch(`${base}/api/docs/js/scalar.js`);
    expect(js.status).toBe(200);
  });
});

describe('WebSocket heartbeats', () => {
  let hb: Harness;
  beforeAll(async () => {
    hb = await createHarness({ workers: false, env: { WS_HEARTBEAT_MS: '200' } });
  });
  afterAll(async () => {
    await hb?.close();
  });

  it('sends heartbeats, and closes a client that stops answering pings', async () => {
    const url = `${hb.hub.web.url().replace('http', 'ws')}/ws`;
    const headers = { authorization: `Bearer ${ALICE}` };
    const live = new Client(new WebSocket(url, { headers }));
    const deaf = new Client(new WebSocket(url, { headers, autoPong: false }));
    await live.next((m) => m.type === 'heartbeat');
    await deaf.next((m) => m.type === 'heartbeat');
    await expect(deaf.closed).resolves.toBe(1006);
    await live.next((m) => m.type === 'heartbeat' && live.messages.filter((x) => x.type === 'heartbeat').length >= 3);
    expect(hb.hub.web.openSockets()).toBe(1);
    live.ws.close();
  });
});
