// The HTTP API while Redis is down or hung, Idempotency-Key, the rate-limit budget, and odd ids that must be 400s.
import { once } from 'node:events';
import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminService } from '../src/core/tasks/admin-service.ts';
import { describeError } from '../src/core/errors.ts';
import { HubContext } from '../src/core/hub-context.ts';
import { createLogger } from '../src/core/logger.ts';
import { capabilityQueueName, createRedis } from '../src/core/queues.ts';
import { RulePlanner } from '../src/core/planning/rule-planner.ts';
import { REDIS_WAIT_MS, TaskService } from '../src/core/tasks/task-service.ts';
import { createWebFrontend, type WebFrontend } from '../src/frontends/web/index.ts';
import { TcpProxy } from './fakes/tcp-proxy.ts';
import { createTestEnv, redisUrl, type TestEnv } from './helpers/test-env.ts';

const ALICE = 'alice-token-1';
const BOB = 'bob-token-22';
const ADMIN = 'admin-token-333';

let env: TestEnv;
let proxy: TcpProxy;
let redis: Redis;
let web: WebFrontend;
let base: string;

async function post(
  body: unknown,
  token = ALICE,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; ms: number }> {
  const started = performance.now();
  const res = await fetch(`${base}/api/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: await res.json(), ms: performance.now() - started };
}

async function get(path: string, token = ALICE, headers: Record<string, string> = {}) {
  const post = path.includes('/failed/');
  const res = await fetch(`${base}${path}`, {
    method: post ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${token}`, ...(post ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(post ? { body: '{}' } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, text, type: res.headers.get('content-type') };
}

const tasksWithText = async (text: string) =>
  (await env.ctx.db.selectFrom('tasks').select(['id', 'user_id']).where('text', '=', text).execute()).length;

beforeAll(async () => {
  env = await createTestEnv({ MAX_TASKS_PER_HOUR: '3', CAPABILITY_ACL: '{"*":["!secret.*","*"]}' });
  const target = new URL(redisUrl());
  proxy = await TcpProxy.start(target.hostname, Number(target.port || 6379));
  // The hub's own connection goes through the proxy (same options as the hub's: maxRetriesPerRequest null).
  redis = createRedis(proxy.url, { retryStrategy: () => 100 });
  const ctx = new HubContext(env.config, env.database.db, redis, createLogger('silent'));
  const tasks = new TaskService(ctx, new RulePlanner());
  web = createWebFrontend({
    ctx,
    tasks,
    admin: new AdminService(ctx),
    host: '127.0.0.1',
    port: 0,
    tokens: env.config.HUB_API_TOKENS,
  });
  await web.start();
  base = web.url();
});

afterAll(async () => {
  await web?.stop();
  redis?.disconnect();
  await proxy?.stop();
  await env?.close();
});

describe('submissions while Redis is away', () => {
  it('Redis down: 503 at once, saying nothing was stored; nothing is stored', async () => {
    proxy.down();
    if (redis.status === 'ready') await once(redis, 'close');
    const r = await post({ text: 'while redis is down' });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('unavailable');
    expect(r.body.error.message).toMatch(/not reachable.*Nothing was stored/);
    expect(r.ms).toBeLessThan(1000);
    expect(await tasksWithText('while redis is down')).toBe(0);
    proxy.up();
    await once(redis, 'ready');
  });

  it('Redis hung: 503 within the bound; a user submission stores nothing, a stored one says so and is queued later', async () => {
    const events = new QueueEvents(capabilityQueueName('demo.echo'), {
      connection: createRedis(redisUrl()),
      prefix: env.prefix,
    });
    await events.waitUntilReady();
    try {
      proxy.stall();
      const user = await post({ text: 'while redis hangs' });
      expect(user.status).toBe(503);
      expect(user.body.error.message).toMatch(/did not answer.*Nothing was stored/);
      expect(user.ms).toBeGreaterThanOrEqual(REDIS_WAIT_MS - 50);
      expect(user.ms).toBeLessThan(REDIS_WAIT_MS + 2000);
      expect(await tasksWithText('while redis hangs')).toBe(0);

      // An admin has no rate limit: the task is stored before the queue is needed.
      const admin = await post({ text: 'stored while redis hangs' }, ADMIN);
      expect(admin.status).toBe(503);
      expect(admin.ms).toBeLessThan(REDIS_WAIT_MS + 2000);
      const row = await env.ctx.db
        .selectFrom('subtasks')
        .innerJoin('tasks', 'tasks.id', 'subtasks.task_id')
        .select(['subtasks.id as subtaskId', 'tasks.id as taskId'])
        .where('tasks.text', '=', 'stored while redis hangs')
        .executeTakeFirstOrThrow();
      expect(admin.body.error.message).toContain(`Task ${row.taskId.slice(0, 8)} was stored`);
      expect(admin.body.error.message).toMatch(/Do not submit it again/);

      const added = new Promise<void>((resolve) =>
        events.on('added', ({ jobId }) => {
          if (jobId === row.subtaskId) resolve();
        }),
      );
      proxy.up();
      await added; // queued once Redis answers again, without a resubmission
      // The refused user submission's rate-limit reservation reached Redis late, and was given back.
      await expect.poll(() => env.ctx.redis.zcard(env.ctx.keys.rate('web:alice')), { timeout: 5_000 }).toBe(0);
    } finally {
      proxy.up();
      await events.close();
      await (events as unknown as { connection?: { close(): Promise<void> } }).connection?.close?.();
    }
  });

  it('a 500 never claims the request was kept', () => {
    const d = describeError(new Error('boom'));
    expect(d.status).toBe(500);
    expect(d.message).not.toMatch(/kept/);
    expect(d.message).toMatch(/may or may not have taken effect/);
  });
});

describe('Idempotency-Key', () => {
  it('the same key and user answer the same task (200); another user gets their own; other text is a 409', async () => {
    const key = { 'idempotency-key': 'order-7f3a' };
    const first = await post({ text: 'idempotent echo' }, ALICE, key);
    expect(first.status).toBe(202);
    const again = await post({ text: 'idempotent echo' }, ALICE, key);
    expect(again.status).toBe(200);
    expect(again.body.task.id).toBe(first.body.task.id);
    const bob = await post({ text: 'idempotent echo' }, BOB, key);
    expect(bob.status).toBe(202);
    expect(bob.body.task.id).not.toBe(first.body.task.id);
    const other = await post({ text: 'something else' }, ALICE, key);
    expect(other.status).toBe(409);
    expect(other.body.error.message).toMatch(/already used for a different request/);
    expect(await tasksWithText('idempotent echo')).toBe(2);
  });

  it('concurrent retries with one key make one task', async () => {
    const key = { 'idempotency-key': 'burst-1' };
    const all = await Promise.all([1, 2, 3].map(() => post({ text: 'burst echo' }, ADMIN, key)));
    expect(new Set(all.map((r) => r.body.task.id)).size).toBe(1);
    expect(all.map((r) => r.status).sort()).toEqual([200, 200, 202]);
    expect(await tasksWithText('burst echo')).toBe(1);
  });

  it('a malformed key is a 400; with runAt it is refused', async () => {
    const bad = await post({ text: 'bad key' }, ALICE, { 'idempotency-key': 'x'.repeat(300) });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/idempotency-key: must be 1 to 255 visible ASCII characters/);
    const later = await post({ text: 'later', runAt: '2099-01-01T00:00:00Z' }, ALICE, { 'idempotency-key': 'k1' });
    expect(later.status).toBe(400);
    expect(await tasksWithText('bad key')).toBe(0);
  });
});

describe('rate-limit budget', () => {
  it('refused submissions use up none of the hourly budget (MAX_TASKS_PER_HOUR=3)', async () => {
    for (let i = 0; i < 4; i++) {
      const refused = await post({ text: `use secret.thing: try ${i}` }, BOB);
      expect(refused.status).toBe(403);
    }
    // Bob's idempotent echo above was 1 accepted task: 2 more fit, the next is refused.
    expect((await post({ text: 'bob accepted 1' }, BOB)).status).toBe(202);
    expect((await post({ text: 'bob accepted 2' }, BOB)).status).toBe(202);
    const over = await post({ text: 'bob over' }, BOB);
    expect(over.status).toBe(429);
  });
});

describe('odd ids are 400s, not 500s', () => {
  it('a well-formed cursor with an impossible date', async () => {
    for (const at of ['2026-02-30T00:00:00.000000Z', '2026-13-45T99:99:99Z']) {
      const cursor = Buffer.from(`${at}|00000000-0000-0000-0000-000000000000`).toString('base64url');
      const r = await get(`/api/tasks?cursor=${cursor}`);
      expect(r.status).toBe(400);
      expect(r.text).toMatch(/cursor is not valid/);
    }
  });

  it('a dead-letter id beyond bigint', async () => {
    for (const id of ['9223372036854775808', '99999999999999999999999']) {
      const r = await get(`/api/admin/failed/${id}/reprocess`, ADMIN);
      expect(r.status).toBe(400);
      expect(r.text).toMatch(/not a dead-letter id/);
    }
  });

  it('an SSE Last-Event-ID beyond bigint (and ?after=)', async () => {
    const task = await post({ text: 'stream me' }, ALICE);
    expect(task.status).toBe(202);
    const r = await get(`/api/tasks/${task.body.task.id}/stream`, ALICE, { 'last-event-id': '9999999999999999999' });
    expect(r.status).toBe(400);
    expect(r.type).toMatch(/json/);
    expect(r.text).toMatch(/Last-Event-ID/);
    const q = await get(`/api/tasks/${task.body.task.id}/stream?after=9223372036854775808`);
    expect(q.status).toBe(400);
  });
});
