// Run-time faults a new user tripped over: streams that never ended, a growing elapsedMs, /ready not saying what is
// down, reconnect noise, workers advertising patterns they cannot run, a shared DATA_DIR, and the README's phrases.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scheduleTable, type ScheduleView } from '../src/cli/schedule-commands.ts';
import { readSse } from '../src/cli/sse-reader.ts';
import { workerHealthy } from '../src/cli/worker-health.ts';
import { isPretty, quietRepeats } from '../src/core/logger.ts';
import { RulePlanner } from '../src/core/planning/rule-planner.ts';
import { parseWhen } from '../src/core/schedules/time-spec.ts';
import { listLiveWorkers, unservedCapabilities } from '../src/core/worker-registry.ts';
import { lockDataDir } from '../src/data-dir-lock.ts';
import { checkReadiness } from '../src/frontends/web/health-routes.ts';
import { ConnectionWatch } from '../src/startup-checks.ts';
import { startWorker } from '../src/worker-sdk.ts';
import { builtinCapabilities } from '../src/workers/capabilities/index.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

const ADMIN = 'admin-token-333';
let h: Harness;
let dir: string;

/** A pino logger whose lines land in `lines`. */
function capture(): { log: pino.Logger; lines: Array<{ level: number; msg: string; [k: string]: unknown }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

/** Reads a task's SSE stream to its end; returns the event types (throws if it does not end in time). */
async function readStream(taskId: string, timeoutMs = 15_000): Promise<string[]> {
  const res = await fetch(`${h.hub.web.url()}/api/tasks/${taskId}/stream`, {
    headers: { authorization: `Bearer ${ADMIN}` },
    signal: AbortSignal.timeout(timeoutMs),
  });
  expect(res.status).toBe(200);
  const types: string[] = [];
  for await (const e of readSse(res.body!)) types.push(e.event);
  return types;
}

beforeAll(async () => {
  h = await createHarness();
  dir = mkdtempSync(path.join(tmpdir(), 'sb-platform-rt-'));
}, 60_000);

afterAll(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('GET /api/tasks/:id/stream ends with the task', () => {
  it('closes after the final event of a live task', async () => {
    const task = await h.submit('long work sleep 0.5 seconds');
    const types = await readStream(task.id);
    expect(types.at(-1)).toBe('completed');
    expect(types).toContain('accepted');
  });

  it('closes at once after replaying a finished task', async () => {
    const task = await h.submit('a quick one');
    await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    const started = Date.now();
    const types = await readStream(task.id, 5000);
    expect(types[0]).toBe('accepted');
    expect(types.at(-1)).toBe('completed');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(h.hub.web.openStreams()).toBe(0);
  });
});

describe('task views', () => {
  it("a finished task's elapsedMs is its run time and stops growing", async () => {
    const task = await h.submit('stop the clock');
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    const view = async () => {
      const res = await fetch(`${h.hub.web.url()}/api/tasks/${task.id}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      return ((await res.json()) as { task: { progress: { elapsedMs: number } } }).task.progress.elapsedMs;
    };
    const first = await view();
    expect(first).toBe(done.finished_at!.getTime() - done.started_at!.getTime());
    await h.submit('something else happens meanwhile');
    await h.waitForEvent((e) => e.type === 'completed' && e.taskId !== task.id);
    expect(await view()).toBe(first);
  });
});

describe('dependencies going away', () => {
  it('/ready names what is down', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, retryStrategy: () => 5000 });
    dead.on('error', () => {});
    try {
      const r = await checkReadiness({ db: h.hub.ctx.db, redis: dead }, 300);
      expect(r).toMatchObject({ ok: false, down: ['redis'], postgres: { ok: true }, redis: { ok: false } });
      expect(r.redis.error).toMatch(/not connected/);
    } finally {
      dead.disconnect();
    }
    const up = await fetch(`${h.hub.web.url()}/ready`);
    expect(await up.json()).toMatchObject({ ok: true, down: [] });
  });

  it("components' repeated connection errors are logged once a minute, other errors always", () => {
    const lines: Array<{ msg: string }> = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    });
    const log = pino({ hooks: { logMethod: quietRepeats() } }, stream).child({ component: 'x' });
    for (let i = 0; i < 50; i++) {
      log.warn({ err: 'connect ECONNREFUSED 127.0.0.1:6379' }, 'conductor redis error');
      log.error({ err: new Error('connect ECONNREFUSED 127.0.0.1:6379') }, 'results worker error');
      log.error({ err: 'job exploded' }, 'job failed');
    }
    expect(lines.filter((l) => l.msg === 'conductor redis error')).toHaveLength(1);
    expect(lines.filter((l) => l.msg === 'results worker error')).toHaveLength(1);
    expect(lines.filter((l) => l.msg === 'job failed')).toHaveLength(50);
  });

  it('a lost Redis is reported once per outage while the client keeps retrying', async () => {
    const { log, lines } = capture();
    const watch = new ConnectionWatch(log, 'Redis');
    let errors = 0;
    const redis = watch.watch(
      new Redis('redis://127.0.0.1:1', { retryStrategy: () => 20, maxRetriesPerRequest: null }),
    );
    redis.on('error', () => errors++);
    try {
      await expect.poll(() => errors, { timeout: 10_000 }).toBeGreaterThanOrEqual(5);
      expect(lines.filter((l) => /connection lost/.test(l.msg))).toHaveLength(1);
      expect(watch.isDown).toBe(true);
      watch.onReady();
      expect(lines.at(-1)?.msg).toBe('Redis connection restored');
    } finally {
      redis.disconnect();
    }
  });
});

describe('workers advertise only what they can run', () => {
  it('a pattern without a handler is warned about at start and not advertised', async () => {
    const { log, lines } = capture();
    const worker = await startWorker({
      capabilities: builtinCapabilities(h.env.config),
      patterns: ['demo.*', 'gpu.render'],
      redisUrl: h.env.config.REDIS_URL,
      prefix: h.env.prefix,
      log,
    });
    try {
      const warn = lines.find((l) => l.level === 40);
      expect(warn?.msg).toMatch(/no capability on this worker matches gpu\.render: not advertised/);
      const me = (await listLiveWorkers(h.hub.ctx.redis, h.hub.ctx.keys)).filter((w) => w.id === worker.id);
      expect(me[0]?.patterns).toEqual(['demo.*']);
      expect(unservedCapabilities(me, ['gpu.render', 'demo.echo'])).toEqual(['gpu.render']);
      // The container healthcheck (`switchboard worker-health`) sees it; another prefix has no worker.
      expect(await workerHealthy({ REDIS_URL: h.env.config.REDIS_URL, QUEUE_PREFIX: h.env.prefix })).toBe(true);
      expect(await workerHealthy({ REDIS_URL: h.env.config.REDIS_URL, QUEUE_PREFIX: `${h.env.prefix}-none` })).toBe(
        false,
      );
    } finally {
      await worker.stop();
    }
  });
});

describe('one hub per DATA_DIR', () => {
  it("refuses a folder held by a live process, naming its pid and port; takes over a dead one's lock", async () => {
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      writeFileSync(path.join(dir, 'hub.lock'), JSON.stringify({ pid: other.pid, port: 4567, startedAt: 'x' }));
      expect(() => lockDataDir(dir)).toThrow(
        new RegExp(`Another hub \\(pid ${other.pid}, port 4567\\) is already using DATA_DIR=.*Stop it first`),
      );
    } finally {
      const gone = new Promise((r) => other.once('exit', r));
      other.kill();
      await gone;
    }
    const lock = lockDataDir(dir); // the holder is gone: a stale lock
    lock.setPort(3000);
    expect(() => lockDataDir(path.join(dir, '.'))).not.toThrow(); // same process: re-entrant
    lock.release();
  });
});

describe("the README's phrases", () => {
  it('"every 0 9 * * 1-5" is a cron schedule', () => {
    const spec = parseWhen('every 0 9 * * 1-5', { zone: 'UTC', now: new Date('2026-01-05T08:00:00Z') });
    expect(spec).toMatchObject({ kind: 'every', pattern: '0 9 * * 1-5' });
  });

  it('"process 500 items" runs demo.sleep with 500 items', async () => {
    const plan = await new RulePlanner().plan({ text: 'process 500 items' } as never);
    expect(plan.steps).toEqual([
      expect.objectContaining({ capability: 'demo.sleep', input: expect.objectContaining({ items: 500 }) }),
    ]);
  });

  it('schedule listings name the zone once', () => {
    const base = {
      status: 'ACTIVE',
      userId: 'web:a',
      nextRunAt: null,
      lastRunAt: null,
      consecutiveFailures: 0,
      text: 'x',
    };
    const out = scheduleTable([
      { ...base, shortId: 'aaaa1111', description: 'Tue 6 Jan 2026 at 09:00 (UTC)', timezone: 'UTC' },
      { ...base, shortId: 'bbbb2222', description: 'every day at 09:00', timezone: 'UTC' },
    ] as unknown as ScheduleView[]);
    expect(out).not.toContain('(UTC) (UTC)');
    expect(out).toContain('every day at 09:00 (UTC)');
  });

  it('logs are pretty on a terminal and JSON elsewhere, unless LOG_FORMAT says otherwise', () => {
    expect(isPretty('auto', true)).toBe(true);
    expect(isPretty('auto', false)).toBe(false);
    expect(isPretty('json', true)).toBe(false);
    expect(isPretty('pretty', false)).toBe(true);
  });
});
