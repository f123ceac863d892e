// The `switchboard` CLI as users run it (node bin/switchboard.js), against a web frontend on real Redis and Postgres.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminService } from '../src/core/tasks/admin-service.ts';
import { RulePlanner } from '../src/core/planning/rule-planner.ts';
import { TaskService } from '../src/core/tasks/task-service.ts';
import { createWebFrontend, type WebFrontend } from '../src/frontends/web/index.ts';
import { createHarness } from './helpers/hub-harness.ts';
import { createTestEnv, type TestEnv } from './helpers/test-env.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'switchboard.js');
const ALICE = 'alice-token-1';
const BOB = 'bob-token-22';
const ADMIN = 'admin-token-333';

let env: TestEnv;
let tasks: TaskService;
let web: WebFrontend;
let dataDir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cliEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {
    ...process.env,
    SWITCHBOARD_URL: web.url(),
    SWITCHBOARD_TOKEN: ALICE,
    DATA_DIR: dataDir,
    NO_COLOR: '1',
    ...extra,
  };
  for (const [k, v] of Object.entries(e)) if (v === undefined) delete e[k];
  return e;
}

function cli(args: string[], extra: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: cliEnv(extra), timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : -1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

beforeAll(async () => {
  env = await createTestEnv();
  tasks = new TaskService(env.ctx, new RulePlanner());
  web = createWebFrontend({
    ctx: env.ctx,
    tasks,
    admin: new AdminService(env.ctx),
    host: '127.0.0.1',
    port: 0,
    tokens: env.config.HUB_API_TOKENS,
  });
  await web.start();
  dataDir = mkdtempSync(path.join(tmpdir(), 'sb-cli-test-'));
});

afterAll(async () => {
  await web?.stop();
  await env?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('switchboard CLI', () => {
  it('submit --json prints the created task and the row exists', async () => {
    const r = await cli(['submit', 'summarise the council minutes', '--priority', 'low', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout);
    expect(body.task).toMatchObject({
      text: 'summarise the council minutes',
      userId: 'web:alice',
      priority: 'low',
      status: 'ASSIGNED',
    });
    expect(body.warnings[0]).toMatch(/No worker is online/);
    const row = await env.ctx.db
      .selectFrom('tasks')
      .selectAll()
      .where('id', '=', body.task.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ user_id: 'web:alice', priority: 'low' });
  });

  it('submit prints a readable confirmation, warnings on stderr', async () => {
    const r = await cli(['submit', 'plain', 'words', 'joined']);
    expect(r.code).toBe(0);
    const m = /^Task ([0-9a-f]{8}) submitted \(ASSIGNED\)\.$/m.exec(r.stdout);
    expect(m).not.toBeNull();
    expect(r.stderr).toMatch(/^warning: No worker is online for demo.echo/);
    const row = await env.ctx.db
      .selectFrom('tasks')
      .select('text')
      .where('id', 'like', `${m![1]}%`)
      .executeTakeFirstOrThrow();
    expect(row.text).toBe('plain words joined');
  });

  it('submit refuses bad input with the API message and exit 1', async () => {
    const r = await cli(['submit', '   ']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^The request is empty/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("tasks list shows the caller's tasks as a table, and JSON on request", async () => {
    const mine = (
      await tasks.submit({
        origin: { platform: 'web', conversationId: 'web:alice', userId: 'web:alice' },
        text: 'listed task for alice',
      })
    ).task;
    const theirs = (
      await tasks.submit({
        origin: { platform: 'web', conversationId: 'web:bob', userId: 'web:bob' },
        text: 'bob private task',
      })
    ).task;
    const r = await cli(['tasks', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ID\s+STATUS\s+CREATED\s+REQUEST/);
    expect(r.stdout).toMatch(new RegExp(`^${mine.id.slice(0, 8)}\\s+ASSIGNED\\s+.*listed task for alice$`, 'm'));
    expect(r.stdout).not.toContain(theirs.id.slice(0, 8));

    const json = JSON.parse((await cli(['tasks', 'list', '--json', '--status', 'assigned'])).stdout);
    expect(json.tasks.map((t: any) => t.id)).toContain(mine.id);

    const all = await cli(['tasks', 'list', '--all'], { SWITCHBOARD_TOKEN: ADMIN });
    expect(all.code).toBe(0);
    expect(all.stdout).toContain(theirs.id.slice(0, 8));
    expect(all.stdout).toContain('web:bob');
    const forbidden = await cli(['tasks', 'list', '--all']);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/admins only/);
  });

  it('tasks show prints the task, its steps and events; other users get "No task"', async () => {
    const task = (
      await tasks.submit({
        origin: { platform: 'web', conversationId: 'web:alice', userId: 'web:alice' },
        text: 'a diamond to show',
      })
    ).task;
    const r = await cli(['tasks', 'show', task.id.slice(0, 8)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Task ${task.id}`);
    expect(r.stdout).toMatch(/status\s+ASSIGNED \(0%\)/);
    expect(r.stdout).toMatch(/^\s+d\s+demo\.echo\s+PENDING\s+0\/3\s+b,c/m);
    expect(r.stdout).toMatch(/planned: 4 steps: a, then b and c in parallel/);
    const json = JSON.parse((await cli(['tasks', 'show', task.id, '--json'])).stdout);
    expect(json.task.subtasks).toHaveLength(4);

    const bob = await cli(['tasks', 'show', task.id], { SWITCHBOARD_TOKEN: BOB });
    expect(bob.code).toBe(1);
    expect(bob.stderr.trim()).toBe(`No task ${task.id}.`);
  });

  it('cancel and retry print outcomes; API refusals exit 1 with the message', async () => {
    const task = (
      await tasks.submit({
        origin: { platform: 'web', conversationId: 'web:alice', userId: 'web:alice' },
        text: 'cancel via cli',
      })
    ).task;
    const short = task.id.slice(0, 8);
    const c = await cli(['cancel', short]);
    expect(c).toMatchObject({ code: 0, stdout: `Task ${short} cancelled.\n` });
    expect((await cli(['cancel', short])).stdout).toBe(`Task ${short} had already finished (CANCELLED).\n`);
    const r = await cli(['retry', short]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`Task ${short} is CANCELLED; only a FAILED task can be retried.`);
  });

  it('says the hub is unreachable when nothing listens at SWITCHBOARD_URL', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await cli(['tasks', 'list'], { SWITCHBOARD_URL: url });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`Cannot reach the hub at ${url}: is it running? (start it with \`npm start\`)\n`);
  });

  it('reports a wrong token, and reads the token file when SWITCHBOARD_TOKEN is unset', async () => {
    const wrong = await cli(['tasks', 'list'], { SWITCHBOARD_TOKEN: 'not-a-token' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^The API token is not valid\. \(token from SWITCHBOARD_TOKEN\)/);

    const missing = await cli(['tasks', 'list'], { SWITCHBOARD_TOKEN: undefined });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^No API token: set SWITCHBOARD_TOKEN/);

    writeFileSync(path.join(dataDir, 'api-token'), `  ${ADMIN}\n`);
    const viaFile = await cli(['workers'], { SWITCHBOARD_TOKEN: undefined });
    expect(viaFile).toMatchObject({ code: 0, stdout: 'No live workers.\n' });
    const queues = await cli(['queues'], { SWITCHBOARD_TOKEN: undefined });
    expect(queues.code).toBe(0);
    expect(queues.stdout).toMatch(/^demo\.echo\s+\d+/m);
  });

  it('submit --follow streams events until the task ends, then reports it', async () => {
    const child = spawn(process.execPath, [BIN, 'submit', 'follow me please', '--follow'], {
      cwd: ROOT,
      env: cliEnv({}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += String(d);
    });
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      // Once the CLI's stream is open and has replayed the plan, end the task from outside.
      await expect
        .poll(() => stdout.includes('planned: 1 step (demo.echo)') && web.openStreams() > 0, { timeout: 15_000 })
        .toBe(true);
      const row = await env.ctx.db
        .selectFrom('tasks')
        .select('id')
        .where('text', '=', 'follow me please')
        .executeTakeFirstOrThrow();
      await tasks.cancel(row.id, { userId: 'web:alice' });
      expect(await exited).toBe(1);
      expect(stdout).toMatch(
        /^Task [0-9a-f]{8} submitted\.\naccepted \(priority normal\)\nplanned: 1 step \(demo\.echo\)\nwaiting: no worker is online for demo\.echo\n$/,
      );
      expect(stderr).toContain(`Task ${row.id.slice(0, 8)} was cancelled. Cancelled by web:alice.`);
    } finally {
      child.kill();
    }
  });
});

describe('task controls from the CLI', () => {
  it('submit --review --follow stops at review; approve completes; reject, duplicate and revise are reachable', async () => {
    const h = await createHarness();
    const run = (args: string[]) => cli(args, { SWITCHBOARD_URL: h.hub.web.url() });
    try {
      const first = await run(['submit', 'please review me', '--review', '--follow']);
      expect(first.stdout).toMatch(/waiting for review/);
      const shortId = /Task ([0-9a-f]{8}) is waiting/.exec(first.stdout)![1]!;
      expect((await run(['approve', shortId])).stdout).toMatch(new RegExp(`Task ${shortId} is COMPLETED`));
      const second = await run(['submit', 'another review', '--review', '--follow']);
      const id2 = /Task ([0-9a-f]{8}) is waiting/.exec(second.stdout)![1]!;
      expect((await run(['reject', id2, 'not', 'needed'])).stdout).toMatch(/is REJECTED/);
      const row = await h.hub.ctx.db
        .selectFrom('tasks')
        .select('error')
        .where('id', 'like', `${id2}%`)
        .executeTakeFirstOrThrow();
      expect(row.error).toBe('Rejected by web:alice: not needed');
      expect((await run(['duplicate', id2])).stdout).toMatch(/is (ASSIGNED|IN_PROGRESS|REVIEW|COMPLETED)/);
      const bad = await run(['revise', id2, 'shorter']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/not awaiting review/);
    } finally {
      await h.close();
    }
  }, 90_000);
});
