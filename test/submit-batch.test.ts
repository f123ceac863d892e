// Group commit of submissions: concurrent submits share transactions, yet each gets its own task, an
// Idempotency-Key repeated inside a batch yields one task, a refusal fails nobody else; and a database that is
// away for a moment (a Postgres restart) delays a submission instead of failing it.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForbiddenError, UnavailableError } from '../src/core/errors.ts';
import { HubContext } from '../src/core/hub-context.ts';
import { createLogger } from '../src/core/logger.ts';
import { RulePlanner } from '../src/core/planning/rule-planner.ts';
import { createRedis } from '../src/core/queues.ts';
import { createDatabase, type DatabaseHandle } from '../src/core/store/create-database.ts';
import { DB_DOWN_TEXT, retryTransient } from '../src/core/tasks/submit-batcher.ts';
import { TaskService } from '../src/core/tasks/task-service.ts';
import { TcpProxy } from './fakes/tcp-proxy.ts';
import { createTestEnv, databaseUrl, redisUrl, type TestEnv } from './helpers/test-env.ts';

let env: TestEnv;
let tasks: TaskService;

const origin = (user: string) => ({ platform: 'test', conversationId: `c-${user}`, userId: `test:${user}` });

beforeAll(async () => {
  env = await createTestEnv({ CAPABILITY_ACL: '{"*":["!secret.*","*"]}', MAX_TASKS_PER_HOUR: '1000' });
  tasks = new TaskService(env.ctx, new RulePlanner());
  await env.ctx.redis.ping();
});

afterAll(async () => {
  await env?.close();
});

describe('batched submit', () => {
  it('many concurrent submits persist in fewer transactions, each with its own task, subtasks and events', async () => {
    const before = tasks.batcher.transactions;
    const out = await Promise.all(
      Array.from({ length: 30 }, (_, i) => tasks.submit({ origin: origin(`u${i % 4}`), text: `batch ${i}` })),
    );
    expect(tasks.batcher.transactions - before).toBeLessThan(out.length);
    expect(new Set(out.map((o) => o.task.id)).size).toBe(30);
    for (const [i, o] of out.entries()) {
      expect(o.task.text).toBe(`batch ${i}`);
      expect(o.task.user_id).toBe(`test:u${i % 4}`);
      expect(o.subtasks.length).toBeGreaterThan(0);
      expect(o.subtasks.every((s) => s.task_id === o.task.id)).toBe(true);
    }
    const ids = out.map((o) => o.task.id);
    const accepted = await env.ctx.db
      .selectFrom('task_events')
      .select('task_id')
      .where('type', '=', 'accepted')
      .where('task_id', 'in', ids)
      .execute();
    expect(accepted.map((e) => e.task_id).sort()).toEqual([...ids].sort());
    // Admission ran for every user of the batch: each task's first step is on its way.
    const waiting = await env.ctx.db
      .selectFrom('subtasks')
      .select('id')
      .where('task_id', 'in', ids)
      .where('queued_at', 'is', null)
      .execute();
    expect(waiting).toEqual([]);
  });

  it('an Idempotency-Key repeated within one batch yields one task', async () => {
    const same = Array.from({ length: 4 }, () =>
      tasks.submit({ origin: origin('dup'), text: 'the same request', idempotencyKey: 'k-1' }),
    );
    const others = Array.from({ length: 6 }, (_, i) => tasks.submit({ origin: origin('dup'), text: `other ${i}` }));
    const [dups, rest] = await Promise.all([Promise.all(same), Promise.all(others)]);
    expect(new Set(dups.map((d) => d.task.id)).size).toBe(1);
    expect(dups.filter((d) => !d.replayed)).toHaveLength(1);
    expect(new Set(rest.map((r) => r.task.id)).size).toBe(6);
    const keyed = await env.ctx.db.selectFrom('tasks').select('id').where('idempotency_key', '=', 'k-1').execute();
    expect(keyed).toHaveLength(1);
  });

  it('a refused submission does not fail the others submitted with it', async () => {
    const results = await Promise.allSettled([
      ...Array.from({ length: 5 }, (_, i) => tasks.submit({ origin: origin('mix'), text: `fine ${i}` })),
      tasks.submit({ origin: origin('mix'), text: 'use secret.thing: please' }),
      tasks.submit({ origin: origin('mix'), text: '   ' }),
    ]);
    expect(results.slice(0, 5).map((r) => r.status)).toEqual(Array(5).fill('fulfilled'));
    expect((results[5] as PromiseRejectedResult).reason).toBeInstanceOf(ForbiddenError);
    expect(results[6]!.status).toBe('rejected');
  });
});

describe('submit while the database is away', () => {
  let proxy: TcpProxy;
  let database: DatabaseHandle;
  let ctx: HubContext;

  beforeAll(async () => {
    const url = databaseUrl();
    if (!url) return;
    const target = new URL(url);
    proxy = await TcpProxy.start(target.hostname, Number(target.port || 5432));
    target.host = `127.0.0.1:${proxy.port}`;
    database = await createDatabase({ url: target.toString(), schema: env.schema, poolSize: 3 });
    ctx = new HubContext(env.config, database.db, createRedis(redisUrl()), createLogger('silent'));
    await ctx.redis.ping();
  });

  afterAll(async () => {
    ctx?.redis.disconnect();
    await database?.close();
    await proxy?.stop();
  });

  it.skipIf(!databaseUrl())('a submission during a short outage is stored once the database is back', async () => {
    const service = new TaskService(ctx, new RulePlanner());
    await service.submit({ origin: origin('outage'), text: 'warm the pool' });
    proxy.down();
    const pending = service.submit({ origin: origin('outage'), text: 'during the outage' });
    setTimeout(() => proxy.up(), 700);
    const out = await pending;
    const stored = await env.ctx.db.selectFrom('tasks').select('id').where('text', '=', 'during the outage').execute();
    expect(stored.map((t) => t.id)).toEqual([out.task.id]);
  });

  it.skipIf(!databaseUrl())(
    'a database that stays away is answered as unavailable, saying nothing was stored',
    async () => {
      proxy.down();
      try {
        const err = await retryTransient(() => ctx.db.selectFrom('tasks').select('id').execute(), 500).catch((e) => e);
        expect(err).toBeInstanceOf(UnavailableError);
        expect(err.message).toBe(DB_DOWN_TEXT);
      } finally {
        proxy.up();
      }
    },
  );
});

describe('batched admission', () => {
  let capped: TestEnv;
  afterAll(async () => {
    await capped?.close();
  });

  it('admits each user of a batch up to their own capacity', async () => {
    capped = await createTestEnv({ MAX_INFLIGHT_PER_USER: '1', MAX_TASKS_PER_HOUR: '1000' });
    await capped.ctx.redis.ping();
    const service = new TaskService(capped.ctx, new RulePlanner());
    const out = await Promise.all([
      ...Array.from({ length: 3 }, (_, i) => service.submit({ origin: origin('a'), text: `a ${i}`, priority: 'low' })),
      service.submit({ origin: origin('a'), text: 'a urgent', priority: 'urgent' }),
      ...Array.from({ length: 3 }, (_, i) => service.submit({ origin: origin('b'), text: `b ${i}` })),
    ]);
    expect(service.batcher.transactions).toBeLessThan(out.length);
    const queued = await capped.ctx.db
      .selectFrom('subtasks')
      .innerJoin('tasks', 'tasks.id', 'subtasks.task_id')
      .select(['tasks.text', 'subtasks.user_id'])
      .where('subtasks.queued_at', 'is not', null)
      .execute();
    const byUser = (u: string) => queued.filter((q) => q.user_id === `test:${u}`);
    expect(byUser('a')).toHaveLength(1);
    expect(byUser('b')).toHaveLength(1);
  });

  it('admits the new work of a user with nothing waiting as it is inserted; further work waits for capacity', async () => {
    const service = new TaskService(capped.ctx, new RulePlanner());
    const first = await service.submit({ origin: origin('c'), text: 'c first' });
    const second = await service.submit({ origin: origin('c'), text: 'c second' });
    // `cmin` is the command that wrote a row's version: the subtask admitted by the insert was not updated after it.
    const rows = await sql<{ task_id: string; queued: boolean; same_command: boolean }>`
      select s.task_id, s.queued_at is not null as queued, s.cmin = t.cmin as same_command
      from subtasks s join tasks t on t.id = s.task_id where s.task_id in (${first.task.id}, ${second.task.id})`.execute(
      capped.ctx.db,
    );
    const of = (id: string) => rows.rows.find((r) => r.task_id === id);
    expect(of(first.task.id)).toEqual({ task_id: first.task.id, queued: true, same_command: true });
    // The user's capacity (1) is taken: the second waits, and is admitted when the first ends.
    expect(of(second.task.id)).toMatchObject({ queued: false });
  });
});
