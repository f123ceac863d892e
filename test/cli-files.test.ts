// The `switchboard` CLI (spawned as users run it) against a full hub: files attached to `submit` as multipart,
// `tasks artifacts` listing and downloading, and `admin access | pair | unpair` for chat pairing.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundMessage } from '../src/core/types.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'switchboard.js');
const ALICE = 'alice-files-token';
const ROOT_TOKEN = 'root-files-token';
const BOB = 'bob-files-token';
const MAX_BYTES = 4096;

let h: Harness;
let dir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a user would, with the hub's URL and a token in the environment. */
function cli(args: string[], token = ALICE): Promise<Run> {
  const env = { ...process.env, SWITCHBOARD_URL: h.hub.web.url(), SWITCHBOARD_TOKEN: token, NO_COLOR: '1' };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: dir, env, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Writes a file to upload (in its own folder, so downloads to the working folder do not meet it). */
const file = (name: string, content: string | Buffer) => {
  const p = path.join(dir, 'in', name);
  writeFileSync(p, content);
  return p;
};

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sb-cli-files-'));
  mkdirSync(path.join(dir, 'in'));
  h = await createHarness({
    workers: false,
    env: {
      HUB_API_TOKENS: `alice=${ALICE},root=${ROOT_TOKEN},bob=${BOB}`,
      HUB_ADMINS: 'web:root',
      HUB_PAIRING: 'true',
      MAX_ARTIFACT_BYTES: String(MAX_BYTES),
    },
  });
});

afterAll(async () => {
  await h?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('submit --file, tasks artifacts', () => {
  let taskId: string;
  const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255])]);

  it('uploads every --file with the text as multipart, and the task owns them', async () => {
    const a = file('policy-a.pdf', pdf);
    const b = file('notes.md', '# Notes\n\nCompare the deductibles.\n');
    const r = await cli([
      'submit',
      'compare',
      'these',
      'policies',
      '--file',
      a,
      '--file',
      b,
      '--priority',
      'low',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { task } = JSON.parse(r.stdout);
    expect(task).toMatchObject({ text: 'compare these policies', priority: 'low', userId: 'web:alice' });
    taskId = task.id;
    const rows = await h.hub.ctx.db
      .selectFrom('artifacts')
      .select(['name', 'media_type', 'bytes', 'producer'])
      .where('task_id', '=', taskId)
      .orderBy('name')
      .execute();
    expect(rows.map((f) => [f.name, f.media_type, f.producer])).toEqual([
      ['notes.md', 'text/markdown', 'upload'],
      ['policy-a.pdf', 'application/pdf', 'upload'],
    ]);
    expect(Buffer.compare(Buffer.from(rows[1]!.bytes), pdf)).toBe(0);
  });

  it('says how many files went with the task', async () => {
    const r = await cli(['submit', 'read this', '--file', file('one.txt', 'hello')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Task [0-9a-f]{8} submitted \(\w+\) with 1 file\.$/m);
  });

  it('lists the files of a task by its short id', async () => {
    const r = await cli(['tasks', 'artifacts', taskId.slice(0, 8)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/NAME\s+TYPE\s+SIZE\s+FROM\s+ADDED/);
    expect(r.stdout).toMatch(/policy-a\.pdf\s+application\/pdf\s+18 B\s+upload/);
    expect(r.stdout).toMatch(/notes\.md\s+text\/markdown/);
    const json = JSON.parse((await cli(['tasks', 'artifacts', taskId, '--json'])).stdout);
    expect(json.artifacts.map((a: { name: string }) => a.name).sort()).toEqual(['notes.md', 'policy-a.pdf']);
  });

  it('downloads one file byte for byte, and will not overwrite without --force', async () => {
    const out = mkdtempSync(path.join(dir, 'out-'));
    const r = await cli(['tasks', 'artifacts', taskId, '--download', 'policy-a.pdf', '--output', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const saved = path.join(out, 'policy-a.pdf');
    expect(r.stdout).toContain(`Saved policy-a.pdf (18 B) to ${saved}.`);
    expect(Buffer.compare(readFileSync(saved), pdf)).toBe(0);

    const again = await cli(['tasks', 'artifacts', taskId, '--download', 'policy-a.pdf', '--output', out]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists; pass --force');
    writeFileSync(saved, 'changed');
    const forced = await cli(['tasks', 'artifacts', taskId, '--download', 'policy-a.pdf', '-o', out, '--force']);
    expect(forced.code).toBe(0);
    expect(Buffer.compare(readFileSync(saved), pdf)).toBe(0);

    // Without --output it lands in the current folder under its own name.
    expect((await cli(['tasks', 'artifacts', taskId, '--download', 'notes.md'])).code).toBe(0);
    expect(readFileSync(path.join(dir, 'notes.md'), 'utf8')).toContain('Compare the deductibles.');
  });

  it('refuses readably: a missing local file, an unknown name, a file over MAX_ARTIFACT_BYTES, another user', async () => {
    const missing = await cli(['submit', 'x', '--file', path.join(dir, 'nope.pdf')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(
      `Cannot attach ${path.join(dir, 'nope.pdf')}: no such file (give a path to a file, e.g. --file ./report.pdf).`,
    );

    const unknown = await cli(['tasks', 'artifacts', taskId, '--download', 'other.pdf', '-o', path.join(dir, 'x.pdf')]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/other\.pdf/);
    expect(existsSync(path.join(dir, 'x.pdf'))).toBe(false);

    const before = await h.hub.ctx.db
      .selectFrom('tasks')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    const big = await cli(['submit', 'too big', '--file', file('big.bin', Buffer.alloc(MAX_BYTES + 1))]);
    expect(big.code).toBe(1);
    expect(big.stderr).toContain('big.bin');
    expect(big.stderr).toContain('MAX_ARTIFACT_BYTES');
    const after = await h.hub.ctx.db
      .selectFrom('tasks')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    expect(after).toEqual(before);

    const bob = await cli(['tasks', 'artifacts', taskId], BOB);
    expect(bob.code).toBe(1);
    expect(bob.stderr).toBe(`No task ${taskId}.\n`);
    const badToken = await cli(['tasks', 'artifacts', taskId], 'not-a-token');
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toContain('(token from SWITCHBOARD_TOKEN)');
  });
});

describe('admin access, pair, unpair', () => {
  let n = 0;
  const say = (text: string, user: string) =>
    h.hub.commands.handle({
      eventId: `cli-files-${++n}`,
      text,
      plainTextIsTask: true,
      origin: { platform: user.split(':')[0]!, conversationId: `chat-${user}`, userId: user },
    } satisfies InboundMessage);

  it('an admin sees the pending code, approves it and revokes the grant; a non-admin is refused', async () => {
    const refused = (await say('task hello', 'test:newcomer'))!;
    const code = /admin pair ([A-Z2-9]{8})/.exec(refused.text)?.[1];
    expect(code, refused.text).toBeDefined();

    const access = await cli(['admin', 'access'], ROOT_TOKEN);
    expect(access.code).toBe(0);
    expect(access.stdout).toContain('Pairing: on');
    expect(access.stdout).toMatch(new RegExp(`${code}\\s+test:newcomer`));
    expect(access.stdout).toContain('Approve with: npx switchboard admin pair <code>');

    const notAdmin = await cli(['admin', 'pair', code!], ALICE);
    expect(notAdmin.code).toBe(1);
    expect(notAdmin.stderr).toMatch(/admin/i);

    const wrong = await cli(['admin', 'pair', 'NOPE2345'], ROOT_TOKEN);
    expect(wrong).toMatchObject({ code: 1, stderr: 'No pending pairing code NOPE2345.\n' });

    const paired = await cli(['admin', 'pair', code!.toLowerCase()], ROOT_TOKEN);
    expect(paired).toMatchObject({ code: 0, stdout: 'Paired: test:newcomer may use the hub now.\n' });
    expect((await say('task hello again', 'test:newcomer'))!.kind).toBe('ack');
    const listed = JSON.parse((await cli(['admin', 'access', '--json'], ROOT_TOKEN)).stdout);
    expect(listed.grants).toEqual([expect.objectContaining({ userId: 'test:newcomer', grantedBy: 'web:root' })]);

    const revoked = await cli(['admin', 'unpair', 'test:newcomer'], ROOT_TOKEN);
    expect(revoked).toMatchObject({ code: 0, stdout: 'Revoked: test:newcomer may no longer use the hub.\n' });
    expect(JSON.parse((await cli(['admin', 'access', '--json'], ROOT_TOKEN)).stdout).grants).toEqual([]);
  });
});
