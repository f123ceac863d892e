// command.run end to end: allow-listed tools with live progress and captured output; refusals (not listed, shell
// syntax, ACL); timeout and cancel kill the whole process group (checked by pid).
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForbiddenError } from '../../src/core/errors.ts';
import { createHarness, type Harness } from '../helpers/hub-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'sb-cmd-'));
const node = process.execPath;
writeFileSync(
  join(dir, 'progress.mjs'),
  `for (let i = 1; i <= 4; i++) { console.log('PROGRESS ' + i + '/4 file ' + i); await new Promise((r) => setTimeout(r, 150)); }
console.log(JSON.stringify({ progress: { stage: 'writing', done: 1, total: 1 } }));
console.error('a warning'); console.log('all done ' + process.argv.slice(2).join(','));`,
);
// Starts a grandchild that ignores SIGTERM, records both pids, then waits forever.
writeFileSync(
  join(dir, 'tree.mjs'),
  `import { spawn } from 'node:child_process'; import { writeFileSync } from 'node:fs';
const child = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: 'ignore' });
writeFileSync(process.argv[2], process.pid + ' ' + child.pid);
console.log('PROGRESS 0/1 started');
setInterval(() => {}, 1000);`,
);
writeFileSync(join(dir, 'fail.mjs'), `console.error('bad input file'); process.exit(Number(process.argv[2]));`);

const allow = {
  progress: { argv0: node, args: [join(dir, 'progress.mjs')], allowArgs: '[a-z0-9]+' },
  echo: { argv0: '/bin/echo', allowArgs: true },
  env: { argv0: '/usr/bin/env', env: { FOO: 'bar' } },
  slow: { argv0: node, args: [join(dir, 'tree.mjs'), join(dir, 'slow.pids')], timeoutMs: 1500 },
  hang: { argv0: node, args: [join(dir, 'tree.mjs'), join(dir, 'hang.pids')] },
  fail: { argv0: node, args: [join(dir, 'fail.mjs')], allowArgs: '\\d+', permanentExitCodes: [3] },
  pwd: { argv0: '/bin/pwd' },
};

let h: Harness;
const ADMIN = 'test:admin';

beforeAll(async () => {
  h = await createHarness({
    env: {
      WORKER_CAPABILITIES: 'demo.*,command.*',
      COMMAND_ALLOWLIST: JSON.stringify(allow),
      COMMAND_KILL_GRACE_MS: '300',
      COMMAND_WORK_DIR: join(dir, 'work'),
      CAPABILITY_POLICIES: JSON.stringify({ 'command.run': { attempts: 2, backoffMs: 10 } }),
    },
  });
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Polls (the death of an outside process is no hub event) until every pid is gone. */
async function gone(pids: number[], ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pids.every((p) => !alive(p))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const finished = (id: string) => h.waitForTask(id, (t) => ['COMPLETED', 'FAILED', 'CANCELLED'].includes(t.status));

describe('command.run', () => {
  it('runs an allowed command: live progress from its output lines, then the captured result', async () => {
    const task = await h.submit('use command.run: progress alpha beta', ADMIN);
    const done = await finished(task.id);
    expect(done.status).toBe('COMPLETED');
    const result = done.result as Record<string, unknown>;
    expect(result).toMatchObject({ status: 'succeeded', command: 'progress', exitCode: 0, stderr: 'a warning\n' });
    expect(result.stdout).toContain('all done alpha,beta');
    expect(result.durationMs).toBeGreaterThan(400);
    const progress = h.events.filter((e) => e.taskId === task.id && e.type === 'progress').map((e) => e.data!);
    // Reports arrived while it ran (items of 4, with the message), and the JSON line set a stage.
    expect(progress.some((p) => p.total === 4 && (p.done as number) < 4 && String(p.message).startsWith('file'))).toBe(
      true,
    );
    expect(
      h.events.some((e) => e.taskId === task.id && e.type === 'progress.stage' && e.data?.stage === 'writing'),
    ).toBe(true);
  });

  it('takes {command, args} input, scrubs the environment and runs in a fresh per-task folder', async () => {
    const sub = await h.hub.tasks.submit({ origin: h.origin(ADMIN), text: 'use command.run: env' });
    const env = await finished(sub.task.id);
    expect((env.result as { stdout: string }).stdout).toBe('FOO=bar\n');
    const pwd = await finished((await h.submit('use command.run: pwd', ADMIN)).id);
    const cwd = (pwd.result as { stdout: string }).stdout.trim();
    expect(cwd.startsWith(join(dir, 'work', pwd.id))).toBe(true);
    expect(existsSync(cwd)).toBe(false); // removed after the run
  });

  it('refuses commands not on the allow-list and anything shell-like, before running anything', async () => {
    const cases = {
      'rm -rf /tmp/x': '"rm" is not an allowed command',
      'echo hello; cat /etc/passwd': 'without a shell',
      'echo $(id)': 'substitutions',
      'echo `id`': 'substitutions',
      'echo hi > /tmp/owned': 'without a shell',
      'echo *': 'without a shell',
      'pwd extra': 'takes no extra arguments',
      'progress ../etc': 'is not allowed for "progress"',
    };
    for (const [text, why] of Object.entries(cases)) {
      const t = await finished((await h.submit(`use command.run: ${text}`, ADMIN)).id);
      expect(t.status, text).toBe('FAILED');
      expect(t.error, text).toContain(why);
      expect(t.error, text).toContain('1 attempt'); // permanent: no retry
    }
    expect(existsSync('/tmp/owned')).toBe(false);
  });

  it('fails on a non-zero exit with the stderr tail; permanent exit codes skip retries', async () => {
    const retried = await finished((await h.submit('use command.run: fail 2', ADMIN)).id);
    expect(retried.error).toContain('exited with code 2: bad input file');
    expect(retried.error).toContain('after 2 attempts');
    const permanent = await finished((await h.submit('use command.run: fail 3', ADMIN)).id);
    expect(permanent.error).toContain('after 1 attempt');
  });

  it('is refused for users outside CAPABILITY_ACL (admins only by default), with nothing stored', async () => {
    await expect(h.submit('use command.run: echo hi', 'test:alice')).rejects.toThrow(ForbiddenError);
    await expect(h.submit('use command.run: echo hi', 'test:alice')).rejects.toThrow(/not allowed to use command\.run/);
    const rows = await h.env.ctx.db.selectFrom('tasks').select('id').where('user_id', '=', 'test:alice').execute();
    expect(rows).toEqual([]);
  });

  it('a timeout kills the whole process group (SIGTERM, then SIGKILL for what ignores it)', async () => {
    const t = await finished((await h.submit('use command.run: slow', ADMIN)).id);
    expect(t.status).toBe('FAILED');
    expect(t.error).toContain('timed out after 1500 ms');
    const pids = readFileSync(join(dir, 'slow.pids'), 'utf8').split(' ').map(Number);
    expect(pids).toHaveLength(2);
    expect(await gone(pids)).toBe(true);
  });

  it('cancel kills the whole process group', async () => {
    const task = await h.submit('use command.run: hang', ADMIN);
    await h.waitForEvent((e) => e.taskId === task.id && e.type === 'progress' && e.data?.message === 'started');
    const pids = readFileSync(join(dir, 'hang.pids'), 'utf8').split(' ').map(Number);
    expect(pids.every(alive)).toBe(true);
    await h.hub.tasks.cancel(task.id, { userId: ADMIN, isAdmin: true });
    expect(await gone(pids)).toBe(true);
  });
});
