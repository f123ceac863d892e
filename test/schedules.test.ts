// Schedules end to end on real Redis + Postgres: one-shot and recurring runs, two hub processes, restart,
// Redis loss, delete, pause/resume, auto-pause after failures, bad input, the HTTP API and the CLI.
import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Schedule } from '../src/core/store/schedule-rows.ts';
import { RUN_MARKER } from '../src/core/schedules/schedule-runner.ts';
import { ScheduleService, schedulerIdOf } from '../src/core/schedules/schedule-service.ts';
import { createDatabase, type DatabaseHandle } from '../src/core/store/create-database.ts';
import type { TaskRow } from '../src/core/store/schema.ts';
import { registerScheduleCommands } from '../src/cli/schedule-commands.ts';
import { authenticate, TokenAuthenticator } from '../src/frontends/web/auth.ts';
import { installErrorHandling, installJsonParser } from '../src/frontends/web/error-handler.ts';
import { registerScheduleRoutes } from '../src/frontends/web/schedule-routes.ts';
import { originOf, startScheduledHub, until, type ScheduledHub } from './helpers/schedule-hub.ts';
import { createTestEnv, databaseUrl, type TestEnv } from './helpers/test-env.ts';

let env: TestEnv;
let a: ScheduledHub;
let b: ScheduledHub | undefined;
let dbB: DatabaseHandle | undefined;

beforeAll(async () => {
  env = await createTestEnv({
    PORT: '0',
    WORKER_CAPABILITIES: 'demo.*',
    CAPABILITY_POLICIES: '{"demo.fail":{"attempts":1}}',
  });
  a = await startScheduledHub(env);
});

afterAll(async () => {
  await b?.stop();
  await a?.stop();
  if (dbB && dbB !== env?.database) await dbB.close();
  await env?.close();
});

const sdb = () => env.database.db;
const load = async (id: string): Promise<Schedule> => (await a.schedules.load(id))!;
const children = (parentId: string): Promise<TaskRow[]> =>
  env.database.db
    .selectFrom('tasks')
    .selectAll()
    .where('parent_task_id', '=', parentId)
    .orderBy('created_at')
    .execute();
const hubs = () => [a, ...(b ? [b] : [])];
/** Waits until the schedule has at least `n` child tasks matching `pred`; returns them. */
const atLeast = (s: Schedule, n: number, pred: (t: TaskRow) => boolean = () => true, what = `${n} runs`) =>
  until(
    hubs(),
    async () => {
      const c = (await children(s.parent_task_id)).filter(pred);
      return c.length >= n ? c : undefined;
    },
    `${what} of ${s.description}`,
  );
const finished = (t: TaskRow) => t.status === 'COMPLETED' && t.final_notified;

/**
 * Proves a schedule stays quiet without a fixed sleep: a control schedule firing every second must complete
 * `ticks` more runs (each run is a full period of the same BullMQ machinery) while `quiet`'s run count stays put.
 */
async function expectQuiet(quiet: Schedule, ticks = 2): Promise<void> {
  const { schedule: control } = await a.schedules.create({
    origin: originOf('test:control'),
    when: 'every 1 second',
    text: 'control tick',
  });
  await atLeast(control, 1, () => true, 'first control tick');
  // Any run of `quiet` that was already being fired when it stopped has landed by now (it had a full period).
  const before = (await children(quiet.parent_task_id)).length;
  await atLeast(control, 1 + ticks, () => true, 'further control ticks');
  expect((await children(quiet.parent_task_id)).length).toBe(before);
  await a.schedules.delete(control.id, { userId: 'test:control' });
}

describe('bad input', () => {
  it('is refused with a clear message and writes nothing', async () => {
    const origin = originOf();
    await expect(a.schedules.create({ origin, when: 'at yesterday 9:00', text: 'send the report' })).rejects.toThrow(
      /That time has already passed/,
    );
    await expect(a.schedules.create({ origin, when: 'every 0 minutes', text: 'poll' })).rejects.toThrow(
      /at least 1 second/,
    );
    await expect(a.schedules.create({ origin, when: 'whenever you like', text: 'poll' })).rejects.toThrow(
      /I could not understand when .*every day at 9:00/,
    );
    await expect(a.schedules.create({ origin, when: 'every day at 9:00', text: '   ' })).rejects.toThrow(
      /Say what to do/,
    );
    await expect(a.schedules.createFromText({ origin, text: 'summarise the news' })).rejects.toThrow(
      /Start the request with when/,
    );
    await expect(a.schedules.createFromText({ origin, text: 'every day summarise the news' })).rejects.toThrow(
      /Say at what time too/,
    );
    await expect(a.schedules.setTimezone('test:alice', 'Mars/Olympus')).rejects.toThrow(/not a time zone I know/);
    await expect(a.schedules.pause('ffffffff', { userId: 'test:alice' })).rejects.toThrow(/No schedule ffffffff/);
    const strict = new ScheduleService(a.hub.ctx, { minIntervalMs: 60_000 });
    await expect(strict.create({ origin, when: 'every 2 seconds', text: 'poll' })).rejects.toThrow(
      /at most every 60 seconds here/,
    );
    expect(await sdb().selectFrom('schedules').select('id').execute()).toEqual([]);
    expect(await env.database.db.selectFrom('tasks').select('id').execute()).toEqual([]);
  });
});

describe('one-shot', () => {
  it('a task scheduled 2 s ahead does not start before then and runs once, with two hub processes', async () => {
    // The second hub shares the Postgres schema (through its own pool) and the Redis prefix.
    dbB =
      env.database.kind === 'postgres'
        ? await createDatabase({ url: databaseUrl(), schema: env.schema, poolSize: 5 })
        : env.database;
    b = await startScheduledHub(env, { database: dbB });
    const { schedule, nextRunAt } = await a.schedules.create({
      origin: originOf(),
      when: 'in 2 seconds',
      text: 'hello from the past',
    });
    await b.runner.reconcile(); // another process reconciling at once must not add a second timer
    const runAt = schedule.run_at!;
    expect(nextRunAt).toEqual(runAt);
    expect(runAt.getTime() - Date.now()).toBeGreaterThan(1000);

    await until(
      hubs(),
      async () => ((await load(schedule.id)).status === 'done' ? true : undefined),
      'the one-shot to finish',
    );
    const kids = await children(schedule.parent_task_id);
    expect(kids).toHaveLength(1);
    const child = kids[0]!;
    expect(child.created_at.getTime()).toBeGreaterThanOrEqual(runAt.getTime());
    const subs = await env.database.db.selectFrom('subtasks').selectAll().where('task_id', '=', child.id).execute();
    expect(subs.every((s) => s.started_at && s.started_at.getTime() >= runAt.getTime())).toBe(true);
    expect(child.status).toBe('COMPLETED');
    expect(child.result).toMatchObject({ text: 'hello from the past' });
    expect(
      await sdb().selectFrom('schedule_runs').selectAll().where('schedule_id', '=', schedule.id).execute(),
    ).toHaveLength(1);
    // The run may finish before the hub that fired it has emitted `schedule.fired`: wait for the event itself.
    const firedBy = (h: ScheduledHub) =>
      h.events.filter((e) => e.type === 'schedule.fired' && e.data?.scheduleId === schedule.id);
    await until(hubs(), () => (firedBy(a).length + firedBy(b!).length > 0 ? true : undefined), 'schedule.fired');
    expect([...firedBy(a), ...firedBy(b)]).toHaveLength(1);
    const parent = await env.database.db
      .selectFrom('tasks')
      .selectAll()
      .where('id', '=', schedule.parent_task_id)
      .executeTakeFirstOrThrow();
    expect(parent.status).toBe('COMPLETED');
    expect(parent.final_notified).toBe(true);
    // Answered in the conversation that asked, once, by whichever hub delivered it.
    await until(
      hubs(),
      async () => ((await children(schedule.parent_task_id))[0]?.final_notified ? true : undefined),
      'the result delivery',
    );
    const results = [...a.chat.deliveries, ...b.chat.deliveries].filter(
      (d) => d.message.taskId === child.id && d.message.kind === 'result',
    );
    expect(results).toHaveLength(1);
    expect(results[0]!.conversationId).toBe('chat-test:alice');

    await b.stop();
    b = undefined;
  });

  it('a redelivered fire creates no second child, and adopts a child whose consumer died before recording it', async () => {
    const origin = originOf();
    const { schedule: s1 } = await a.schedules.create({ origin, when: 'in 1 hour', text: 'hello once' });
    const first = await a.runner.fire(s1.id, Date.now());
    expect(first.status).toBe('created');
    const again = await a.runner.fire(s1.id, Date.now());
    expect(again).toEqual({ status: 'duplicate', taskId: first.taskId });
    expect(await children(s1.parent_task_id)).toHaveLength(1);

    // The consumer claimed the run and created the child, then died before linking it; BullMQ redelivers the job.
    // (The child waits for a capability no worker offers, so it cannot end and get linked by the event sink first.)
    const { schedule: s2 } = await a.schedules.create({
      origin,
      when: 'in 1 hour',
      text: 'use test.nobody: hello twice',
    });
    await sdb()
      .insertInto('schedule_runs')
      .values({ schedule_id: s2.id, fire_time: s2.run_at!, task_id: null, outcome: null })
      .execute();
    const { task: orphan } = await a.hub.tasks.submit({
      origin: { ...origin, [RUN_MARKER]: `${s2.id}@${s2.run_at!.toISOString()}` } as typeof origin,
      text: s2.text,
      parentTaskId: s2.parent_task_id,
    });
    const redelivered = await a.runner.fire(s2.id, Date.now());
    expect(redelivered).toEqual({ status: 'adopted', taskId: orphan.id });
    expect(await children(s2.parent_task_id)).toHaveLength(1);
    expect(
      (
        await sdb()
          .selectFrom('schedule_runs')
          .select('task_id')
          .where('schedule_id', '=', s2.id)
          .executeTakeFirstOrThrow()
      ).task_id,
    ).toBe(orphan.id);
    expect(await a.runner.fire(s2.id, Date.now())).toEqual({ status: 'duplicate', taskId: orphan.id });

    await until(hubs(), async () => ((await load(s1.id)).status === 'done' ? true : undefined), 'one-shot done');
    await a.hub.tasks.cancel(orphan.id, { userId: 'test:alice' });
    await a.schedules.delete(s2.id, { userId: 'test:alice' });
  });
});

describe('recurring', () => {
  it('runs every second as child tasks in the same conversation, survives a restart and a Redis loss, and stops after delete', async () => {
    const carol = { userId: 'test:carol' };
    const { schedule } = await a.schedules.create({
      origin: originOf('test:carol'),
      when: 'every 1 second',
      text: 'hello every second',
    });
    expect(schedule).toMatchObject({ kind: 'every', every_ms: 1000, status: 'active', description: 'every second' });

    const firstRuns = await atLeast(schedule, 2, finished);
    for (const t of firstRuns) {
      expect(t.parent_task_id).toBe(schedule.parent_task_id);
      expect(t.user_id).toBe('test:carol');
      expect((t.origin as { conversationId: string }).conversationId).toBe('chat-test:carol');
      expect(t.result).toMatchObject({ text: 'hello every second' });
      const mine = a.chat.forTask(t.id);
      expect(mine.some((d) => d.message.kind === 'result' && d.conversationId === 'chat-test:carol')).toBe(true);
    }
    const fireTimes = (
      await sdb()
        .selectFrom('schedule_runs')
        .select('fire_time')
        .where('schedule_id', '=', schedule.id)
        .orderBy('fire_time')
        .execute()
    ).map((r) => r.fire_time.getTime());
    expect(new Set(fireTimes).size).toBe(fireTimes.length);
    expect(fireTimes[1]! - fireTimes[0]!).toBe(1000);

    // Restart: a new hub process picks the schedule up from Redis.
    await a.stop();
    const beforeRestart = (await children(schedule.parent_task_id)).length;
    a = await startScheduledHub(env);
    await atLeast(schedule, beforeRestart + 2, () => true, 'runs after the restart');

    // Redis loses the schedules queue (a flush): reconcile registers the schedule again from Postgres.
    const keys = await env.ctx.redis.keys(`${env.prefix}:schedules:*`);
    if (keys.length) await env.ctx.redis.del(...keys);
    expect(await a.schedules.queue.getJobScheduler(schedulerIdOf(schedule.id))).toBeUndefined();
    const report = await a.runner.reconcile();
    expect(report.registered).toBeGreaterThanOrEqual(1);
    expect(await a.schedules.queue.getJobScheduler(schedulerIdOf(schedule.id))).toBeDefined();
    const beforeFlushRuns = (await children(schedule.parent_task_id)).length;
    await atLeast(schedule, beforeFlushRuns + 2, () => true, 'runs after the Redis loss');
    // Nothing fired twice for one fire time along the way.
    const runs = await sdb()
      .selectFrom('schedule_runs')
      .select(['task_id'])
      .where('schedule_id', '=', schedule.id)
      .execute();
    expect(runs.length).toBe((await children(schedule.parent_task_id)).length);

    const { schedule: deleted } = await a.schedules.delete(schedule.id.slice(0, 6), carol);
    expect(deleted.status).toBe('deleted');
    expect(await a.schedules.queue.getJobScheduler(schedulerIdOf(schedule.id))).toBeUndefined();
    const parent = await env.database.db
      .selectFrom('tasks')
      .selectAll()
      .where('id', '=', schedule.parent_task_id)
      .executeTakeFirstOrThrow();
    expect(parent.status).toBe('CANCELLED');
    await expectQuiet(schedule);
    await expect(a.schedules.delete(schedule.id, carol)).rejects.toThrow(/No schedule/);
    expect((await a.schedules.list(carol)).map((s) => s.id)).not.toContain(schedule.id);
  });

  it('pause stops the runs until resume; other users cannot touch it', async () => {
    const erin = { userId: 'test:erin' };
    const { schedule } = await a.schedules.create({
      origin: originOf('test:erin'),
      when: 'every 1 second',
      text: 'hello while active',
    });
    await atLeast(schedule, 1);
    await expect(a.schedules.pause(schedule.id, { userId: 'test:mallory' })).rejects.toThrow(/No schedule/);
    const paused = await a.schedules.pause(schedule.id, erin);
    expect(paused).toMatchObject({
      changed: true,
      schedule: { status: 'paused', paused_reason: 'Paused by test:erin.' },
    });
    expect((await a.schedules.pause(schedule.id, erin)).changed).toBe(false);
    expect(await a.schedules.queue.getJobScheduler(schedulerIdOf(schedule.id))).toBeUndefined();
    await expectQuiet(schedule);

    const resumed = await a.schedules.resume(schedule.parent_task_id, erin); // the parent task's id works too
    expect(resumed).toMatchObject({
      changed: true,
      schedule: { status: 'active', consecutive_failures: 0, paused_reason: null },
    });
    const count = (await children(schedule.parent_task_id)).length;
    await atLeast(schedule, count + 2, () => true, 'runs after resume');
    expect((await a.schedules.list({ userId: 'test:erin' })).map((s) => s.id)).toEqual([schedule.id]);
    expect((await a.schedules.list({ userId: 'test:admin', isAdmin: true, all: true })).map((s) => s.id)).toContain(
      schedule.id,
    );
    expect(await a.schedules.list({ userId: 'test:mallory', all: true })).toEqual([]);
    await a.schedules.delete(schedule.id, erin);
  });

  it('a schedule whose runs fail 3 times in a row is paused and the user is told', async () => {
    expect(a.runner.maxFailures).toBe(3);
    const { schedule } = await a.schedules.create({
      origin: originOf('test:dave'),
      when: 'every 1 second',
      text: 'demo fail please',
    });
    const pausedEvent = () =>
      a.events.find((e) => e.type === 'schedule.paused' && e.taskId === schedule.parent_task_id);
    const event = await until(hubs(), pausedEvent, 'the schedule.paused event');
    const paused = await load(schedule.id);
    expect(paused.status).toBe('paused');
    expect(paused.consecutive_failures).toBeGreaterThanOrEqual(3);
    expect(paused.paused_reason).toMatch(/^3 runs failed in a row \(last error: .*demo\.fail/);
    const failed = (await children(schedule.parent_task_id)).filter((t) => t.status === 'FAILED');
    expect(failed.length).toBeGreaterThanOrEqual(3);
    expect(await a.schedules.queue.getJobScheduler(schedulerIdOf(schedule.id))).toBeUndefined();

    expect(event.data).toMatchObject({ scheduleId: schedule.id, failures: 3, maxFailures: 3, to: 'paused' });
    expect(String(event.data?.message)).toMatch(
      new RegExp(
        `^Your schedule ${schedule.id.slice(0, 8)} \\(every second: "demo fail please"\\) is paused\\. 3 runs failed in a row .*Resume it with "schedules resume ${schedule.id.slice(0, 8)}"`,
      ),
    );
    const told = await a.chat.waitFor((d) => d.message.kind === 'info' && d.message.taskId === schedule.parent_task_id);
    expect(told.conversationId).toBe('chat-test:dave');
    expect(told.message.text).toMatch(/is paused\. 3 runs failed in a row/);

    const resumed = await a.schedules.resume(schedule.id, { userId: 'test:dave' });
    expect(resumed.schedule).toMatchObject({ status: 'active', consecutive_failures: 0 });
    await a.schedules.delete(schedule.id, { userId: 'test:dave' });
  });

  it('cancelling the parent task deletes the schedule', async () => {
    const frank = { userId: 'test:frank' };
    const { schedule } = await a.schedules.create({
      origin: originOf('test:frank'),
      when: 'every day at 9:00',
      text: 'morning digest',
    });
    expect(schedule.cron).toBe('0 9 * * *');
    await a.hub.tasks.cancel(schedule.parent_task_id, frank);
    await until(
      hubs(),
      async () => ((await load(schedule.id)).status === 'deleted' ? true : undefined),
      'the schedule to be deleted',
    );
    expect(await a.schedules.queue.getJobScheduler(schedulerIdOf(schedule.id))).toBeUndefined();
  });
});

describe('HTTP API and CLI', () => {
  let app: FastifyInstance;
  let base: string;
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const ALICE = 'alice-token-1';
  const BOB = 'bob-token-22';
  const ADMIN = 'admin-token-333';

  beforeAll(async () => {
    app = Fastify();
    installErrorHandling(app, a.hub.ctx.log, 1 << 20);
    await app.register(async (api) => {
      installJsonParser(api);
      api.addHook('onRequest', authenticate(a.hub.ctx, new TokenAuthenticator(env.config.HUB_API_TOKENS)));
      registerScheduleRoutes(api, a.schedules);
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
  });

  it("creates, lists, pauses, resumes and deletes schedules in the caller's time zone, refusing bad input", async () => {
    expect(await call('GET', '/api/me/timezone', ALICE)).toEqual({ status: 200, body: { timezone: 'UTC' } });
    expect(await call('PUT', '/api/me/timezone', ALICE, { timezone: 'europe/berlin' })).toEqual({
      status: 200,
      body: { timezone: 'Europe/Berlin' },
    });
    const badZone = await call('PUT', '/api/me/timezone', ALICE, { timezone: 'Mars/Olympus' });
    expect(badZone.status).toBe(400);
    expect(badZone.body.error.message).toMatch(/not a time zone I know/);

    const created = await call('POST', '/api/schedules', ALICE, { text: 'every day at 9:00 summarise the news' });
    expect(created.status).toBe(201);
    expect(created.body.schedule).toMatchObject({
      status: 'active',
      kind: 'every',
      when: 'every day at 9:00',
      description: 'every day at 09:00',
      text: 'summarise the news',
      timezone: 'Europe/Berlin',
      cron: '0 9 * * *',
    });
    const next = new Date(created.body.nextRunAt);
    expect(
      new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }).format(next),
    ).toBe('09:00');
    const id: string = created.body.schedule.id;

    const split = await call('POST', '/api/schedules', ALICE, { when: 'in 2 hours', text: 'check the build' });
    expect(split.status).toBe(201);
    expect(split.body.schedule).toMatchObject({ kind: 'at', text: 'check the build' });

    for (const [body, message] of [
      [{ when: 'at yesterday 9:00', text: 'x' }, /That time has already passed/],
      [{ when: 'every 0 minutes', text: 'x' }, /at least 1 second/],
      [{ text: 'hello there' }, /Start the request with when/],
      [{ when: 5, text: 'x' }, /when: must be a string/],
      [undefined, /a JSON object like/],
    ] as const) {
      const res = await call('POST', '/api/schedules', ALICE, body);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_input');
      expect(res.body.error.message).toMatch(message);
    }

    const mine = await call('GET', '/api/schedules', ALICE);
    expect(mine.body.schedules.map((s: { id: string }) => s.id)).toEqual([split.body.schedule.id, id]);
    expect((await call('GET', '/api/schedules', BOB)).body.schedules).toEqual([]);
    expect(
      (await call('GET', '/api/schedules?all=true', ADMIN)).body.schedules.map((s: { id: string }) => s.id),
    ).toContain(id);
    expect((await call('POST', `/api/schedules/${id.slice(0, 8)}/pause`, BOB)).status).toBe(404);
    expect((await call('DELETE', `/api/schedules/${id}`, BOB)).status).toBe(404);

    expect((await call('POST', `/api/schedules/${id.slice(0, 8)}/pause`, ALICE)).body).toMatchObject({
      changed: true,
      schedule: { status: 'paused' },
    });
    expect((await call('POST', `/api/schedules/${id.slice(0, 8)}/resume`, ALICE)).body).toMatchObject({
      changed: true,
      schedule: { status: 'active' },
    });
    expect((await call('DELETE', `/api/schedules/${id.slice(0, 8)}`, ALICE)).body.schedule.status).toBe('deleted');
    expect((await call('DELETE', `/api/schedules/${id}`, ALICE)).status).toBe(404);
    expect((await call('DELETE', `/api/schedules/${split.body.schedule.id}`, ALICE)).status).toBe(200);
  });

  it('the CLI adds, lists and deletes schedules and sets the time zone', async () => {
    const saved = { url: process.env.SWITCHBOARD_URL, token: process.env.SWITCHBOARD_TOKEN };
    process.env.SWITCHBOARD_URL = base;
    process.env.SWITCHBOARD_TOKEN = BOB;
    const stdout: string[] = [];
    const stderr: string[] = [];
    const outSpy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout.push(String(chunk));
      return true;
    });
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr.push(String(chunk));
      return true;
    });
    const run = async (...args: string[]) => {
      stdout.length = 0;
      stderr.length = 0;
      const program = new Command('switchboard').exitOverride();
      registerScheduleCommands(program);
      await program.parseAsync(args, { from: 'user' });
      const code = process.exitCode ?? 0;
      process.exitCode = 0;
      return { code, out: stdout.join(''), err: stderr.join('') };
    };
    try {
      expect((await run('timezone', 'America/New_York')).out).toBe(
        'Your time zone is now America/New_York; new schedules use it.\n',
      );
      expect((await run('timezone')).out).toBe('Your time zone is America/New_York.\n');
      const added = await run('schedules', 'add', 'every weekday at 8:00', 'standup', 'summary');
      expect(added.code).toBe(0);
      expect(added.out).toMatch(
        /^Schedule [0-9a-f]{8} created: every weekday at 08:00 \(America\/New_York\) — "standup summary"\.\nNext run: \d{4}-\d\d-\d\d 08:00 \(America\/New_York\)/,
      );
      const shortId = /Schedule ([0-9a-f]{8})/.exec(added.out)![1]!;
      expect((await run('schedules', 'add', 'in 2 hours check the build')).out).toMatch(
        /created: .* — "check the build"/,
      );
      const listed = await run('schedules', 'list');
      expect(listed.out).toMatch(/^ID\s+STATUS\s+WHEN\s+NEXT RUN\s+LAST RUN\s+FAILS\s+REQUEST/);
      expect(listed.out).toContain(shortId);
      expect(listed.out).toContain('standup summary');
      expect((await run('schedules', 'pause', shortId)).out).toBe(`Schedule ${shortId} paused.\n`);
      expect((await run('schedules', 'resume', shortId)).out).toMatch(
        new RegExp(`^Schedule ${shortId} resumed\\.\\nNext run: `),
      );
      const bad = await run('schedules', 'add', 'every 0 minutes', 'x');
      expect(bad.code).toBe(1);
      expect(bad.err).toMatch(/at least 1 second/);
      expect((await run('schedules', 'delete', shortId)).out).toBe(`Schedule ${shortId} deleted.\n`);
      expect((await run('schedules', 'delete', shortId)).err).toMatch(/No schedule/);
    } finally {
      outSpy.mockRestore();
      errSpy.mockRestore();
      process.exitCode = 0;
      for (const [k, v] of [
        ['SWITCHBOARD_URL', saved.url],
        ['SWITCHBOARD_TOKEN', saved.token],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
