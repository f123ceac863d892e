// code.analyze on a tiny git repository made by the test: shallow clone (file:// under CODE_ROOTS) or folder,
// inventory and file:line matches, then llm.analyze returns a review and a patch as an artifact. llm.analyze is a
// stand-in here: this test is about code.analyze and the output-file path; the real llm.analyze returns no patch file.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readArtifact } from '../../src/core/artifacts/artifact-store.ts';
import { RulePlanner } from '../../src/core/planning/rule-planner.ts';
import { createHarness, type Harness } from '../helpers/hub-harness.ts';
import { analyzeStandIn } from './files-helpers.ts';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'sb-code-')));
const repo = join(root, 'repo');
const work = join(tmpdir(), `sb-code-work-${process.pid}`);
let h: Harness;
const ADMIN = 'test:admin';

beforeAll(async () => {
  mkdirSync(join(repo, 'src'), { recursive: true });
  mkdirSync(join(repo, 'config'));
  writeFileSync(
    join(repo, 'src/app.js'),
    "const port = 3000;\nconsole.log('starting on', port);\nfunction handle(req) {\n  console.log('request', req.url);\n}\n",
  );
  writeFileSync(
    join(repo, 'src/util.py'),
    'import logging\nlog = logging.getLogger(__name__)\n\ndef f():\n    return 1\n',
  );
  writeFileSync(join(repo, 'config/logging.json'), '{"level":"debug"}\n');
  writeFileSync(join(repo, 'README.md'), '# demo\n');
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], { cwd: repo });
  git('init', '-q');
  git('add', '.');
  git('commit', '-qm', 'init');
  h = await createHarness({
    env: { WORKER_CAPABILITIES: 'demo.*,code.*,llm.*', CODE_ROOTS: root, CODE_WORK_DIR: work, DEFAULT_ATTEMPTS: '1' },
    handlers: { 'llm.analyze': analyzeStandIn },
    planner: new RulePlanner({ llmSteps: true }),
  });
});
afterAll(async () => {
  await h?.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

const finished = (id: string) => h.waitForTask(id, (t) => ['COMPLETED', 'FAILED'].includes(t.status));

describe('code.analyze', () => {
  it('clones, inventories and finds the logging code; the review step returns a patch as an artifact', async () => {
    const task = await h.submit(`Analyze and improve the logging system in my codebase file://${repo}`, ADMIN);
    const done = await finished(task.id);
    expect(done.error).toBeNull();
    const subs = await h.env.ctx.db.selectFrom('subtasks').selectAll().where('task_id', '=', task.id).execute();
    const code = subs.find((s) => s.capability === 'code.analyze')!.output as any;
    expect(code.kind).toBe('clone');
    expect(code.inventory).toMatchObject({ files: 4, lines: 12 });
    expect(code.inventory.languages).toContainEqual({ language: 'JavaScript', files: 1, lines: 5 });
    expect(code.inventory.languages).toContainEqual({ language: 'Python', files: 1, lines: 5 });
    expect(code.topic).toBe('logging');
    expect(code.matches.map((m: any) => `${m.file}:${m.line}`)).toEqual([
      'src/app.js:2',
      'src/app.js:4',
      'src/util.py:1',
      'src/util.py:2',
    ]);
    expect(code.configFiles).toEqual(['config/logging.json']);
    expect(code.text).toContain('src/app.js:2');
    const review = done.result as { text: string; files: unknown[] };
    expect(review.text).toContain('src/app.js:4');
    const patch = await readArtifact(h.env.ctx.db, task.id, 'suggested.patch');
    expect(patch.producer).toBe(subs.find((s) => s.capability === 'llm.analyze')!.id);
    expect(patch.bytes.toString()).toContain("-  console.log('request', req.url);");
    expect(patch.bytes.toString()).toContain("+  logger.info('request', req.url);");
    // Read-only and tidy: the clone is gone, the repository untouched.
    expect(
      existsSync(join(work, task.id))
        ? readdirSync(join(work, task.id)).flatMap((d) => readdirSync(join(work, task.id, d)))
        : [],
    ).toEqual([]);
    expect(execFileSync('git', ['status', '--porcelain'], { cwd: repo }).toString()).toBe('');
  });

  it('reads a folder under CODE_ROOTS in place', async () => {
    const done = await finished((await h.submit(`use code.analyze: ${repo} logging`, ADMIN)).id);
    expect(done.status).toBe('COMPLETED');
    expect(done.result).toMatchObject({ kind: 'folder', topic: 'logging', inventory: { files: 4 } });
  });

  it('refuses sources outside CODE_ROOTS and hosts not on CODE_ALLOW_HOSTS, without retrying', async () => {
    const outside = await finished((await h.submit('use code.analyze: /etc logging', ADMIN)).id);
    expect(outside.error).toContain('not under an allowed folder (CODE_ROOTS');
    const host = await finished((await h.submit('use code.analyze: https://example.org/x.git logging', ADMIN)).id);
    expect(host.error).toContain('host example.org is not allowed (CODE_ALLOW_HOSTS');
    const sneaky = await finished((await h.submit(`use code.analyze: ${root}/../ logging`, ADMIN)).id);
    expect(sneaky.error).toContain('not under an allowed folder');
  });

  it('is for admins only by default', async () => {
    await expect(h.submit(`use code.analyze: ${repo} logging`, 'test:alice')).rejects.toThrow(
      /not allowed to use code\.analyze/,
    );
  });
});
