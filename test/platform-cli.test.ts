// The compiled `switchboard` command as a new user meets it: --version/--help, --url/--token and .env, `follow`,
// Ctrl-C while following, a closed pipe, and start-up that stops at once on a wrong PORT, REDIS_URL or DATABASE_URL.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'switchboard.js');
const ADMIN = 'admin-token-333';
const VERSION = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;

let h: Harness;
let dir: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The environment of a user's shell: nothing of the test env leaks in unless given. */
function userEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', DATA_DIR: dir };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'SWITCHBOARD_URL', 'SWITCHBOARD_TOKEN', 'HUB_API_TOKENS', 'PORT'])
    delete env[k];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function cli(args: string[], extra: Record<string, string | undefined> = {}, cwd = ROOT): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: userEnv(extra), timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const asAdmin = () => ({ SWITCHBOARD_URL: h.hub.web.url(), SWITCHBOARD_TOKEN: ADMIN });

beforeAll(async () => {
  h = await createHarness();
  dir = mkdtempSync(path.join(tmpdir(), 'sb-platform-cli-'));
}, 60_000);

afterAll(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the command itself', () => {
  it('--version prints the package version; help shows no [unused...] placeholders', async () => {
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
    const help = await cli(['--help']);
    expect(help.stdout).toMatch(/follow \[options\] <id>/);
    expect(help.stdout).toMatch(/--url <url>/);
    expect(help.stdout).not.toMatch(/unused/);
    const approve = await cli(['approve', '--help']);
    expect(approve.stdout).toMatch(/^Usage: switchboard approve \[options\] <id>$/m);
    expect(approve.stdout).not.toMatch(/unused/);
  });

  it('--url and --token win over SWITCHBOARD_URL / SWITCHBOARD_TOKEN', async () => {
    const r = await cli(['--url', h.hub.web.url(), 'workers', '--token', ADMIN], {
      SWITCHBOARD_URL: 'http://127.0.0.1:1',
      SWITCHBOARD_TOKEN: 'wrong-token-xyz',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ID\s+HOST\s+STATE/);
  });

  it('reads SWITCHBOARD_URL and SWITCHBOARD_TOKEN from ./.env; the real environment wins', async () => {
    const cwd = mkdtempSync(path.join(dir, 'envfile-'));
    writeFileSync(path.join(cwd, '.env'), `SWITCHBOARD_URL=${h.hub.web.url()}\nSWITCHBOARD_TOKEN=${ADMIN}\n`);
    const r = await cli(['queues'], {}, cwd);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const overridden = await cli(['queues'], { SWITCHBOARD_TOKEN: 'not-the-token' }, cwd);
    expect(overridden.code).toBe(1);
    expect(overridden.stderr).toMatch(/token is not valid/);
  });

  it('exits quietly when the reader of its output goes away (tasks list | head)', async () => {
    for (let i = 0; i < 3; i++) await h.submit(`listed ${i}`, 'web:admin');
    const child = spawn(process.execPath, [BIN, 'tasks', 'list'], { env: userEnv(asAdmin()) });
    child.stdout.destroy(); // like `head` exiting before the command writes
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('follow', () => {
  it('follows a task started elsewhere (a chat) with live progress until its result', async () => {
    const task = await h.submit('long work sleep 1 seconds, 400 items', 'test:carol');
    const r = await cli(['follow', task.id.slice(0, 8)], asAdmin());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Following task ${task.id.slice(0, 8)}: long work`));
    expect(r.stdout).toMatch(/\d+%/); // progress lines (plain, not a terminal)
    expect(r.stdout).toMatch(new RegExp(`Task ${task.id.slice(0, 8)} completed in `));
  });

  it('a finished task is shown at once: its stream ends after the history', async () => {
    const task = await h.submit('already done', 'test:carol');
    await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    const r = await cli(['follow', task.id], asAdmin());
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/completed/);
    expect(r.ms).toBeLessThan(10_000);
  });

  it('Ctrl-C stops following, says the task keeps running and how to follow it again', async () => {
    const task = await h.submit('use nobody.listens: hello', 'test:carol');
    const child = spawn(process.execPath, [BIN, 'follow', task.id], { env: userEnv(asAdmin()) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.on('close', r));
    await expect
      .poll(() => stdout.includes('waiting: no worker is online') && h.hub.web.openStreams() > 0, { timeout: 20_000 })
      .toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const short = task.id.slice(0, 8);
    expect(stderr).toContain(`Task ${short} keeps running; follow it again with: npx switchboard follow ${short}`);
    const row = await h.hub.ctx.db.selectFrom('tasks').select('status').where('id', '=', task.id).executeTakeFirst();
    expect(row?.status).toBe('ASSIGNED');
  });
});

describe('start-up stops at once with the variable and the fix', () => {
  it('PORT=abc names a whole-number port', async () => {
    const r = await cli(['hub'], { PORT: 'abc' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/PORT: must be a whole-number port from 0 to 65535, e\.g\. PORT=3000/);
    expect(r.stderr).not.toMatch(/NaN/);
  });

  it('an unreachable REDIS_URL', async () => {
    const r = await cli(['hub'], { REDIS_URL: 'redis://127.0.0.1:1', PORT: '0' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^Cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(REDIS_URL\): ECONNREFUSED\. Start Redis/,
    );
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.ms).toBeLessThan(15_000);
  });

  it('an unreachable DATABASE_URL (the password is not printed)', async () => {
    const r = await cli(['hub'], {
      REDIS_URL: h.env.config.REDIS_URL,
      DATABASE_URL: 'postgres://sb:sekret@127.0.0.1:1/switchboard',
      PORT: '0',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^Cannot reach Postgres at postgres:\/\/sb:\*\*\*@127\.0\.0\.1:1\/switchboard \(DATABASE_URL\): ECONNREFUSED\./,
    );
    expect(r.stderr).not.toContain('sekret');
    expect(r.ms).toBeLessThan(15_000);
  });

  it('a standalone worker without REDIS_URL says how workers reach the hub', async () => {
    const r = await cli(['worker']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^REDIS_URL must be set for a standalone worker/);
  });
});
