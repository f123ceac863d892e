// Files end to end over HTTP: multipart uploads become artifacts, reach workers through Redis, doc.extract reads them,
// the real llm.compare (openai SDK against the fake OpenAI server) gets the pages and its recommendation cites them;
// output files come back as downloadable artifacts; caps and visibility hold.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputFile, stagedFilesKey } from '../../src/core/artifacts/artifact-transport.ts';
import { RulePlanner } from '../../src/core/planning/rule-planner.ts';
import { UNTRUSTED_RULE } from '../../src/core/llm/untrusted.ts';
import { startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake.ts';
import { createHarness, type Harness } from '../helpers/hub-harness.ts';
import { call, fixture, formWith, POLICIES, POLICY_COMPARISON } from './files-helpers.ts';

const ALICE = 'alice-token-1';
const BOB = 'bob-token-22';
const ADMIN = 'admin-token-333';
const PDF = 'application/pdf';

let h: Harness;
let fake: OpenAiFake;
let base: string;
let sub: Redis;
/** What the web frontend published to its conversations' streams. */
const webMessages: Array<{ message: { taskId?: string; kind: string; text: string } }> = [];

beforeAll(async () => {
  fake = await startOpenAiFake();
  h = await createHarness({
    env: {
      WORKER_CAPABILITIES: 'demo.*,doc.*,llm.*,test.*',
      MAX_ARTIFACT_BYTES: '100000',
      DEFAULT_ATTEMPTS: '1',
      OPENAI_BASE_URL: fake.url,
      LLM_MAX_RETRIES: '0',
      LLM_CACHE_TTL_MS: '0',
    },
    handlers: {
      // Stand-in for a capability that returns a file (not about the LLM): the output-file path over HTTP.
      'test.report': async () => ({
        text: 'report written',
        files: [outputFile('report.md', 'text/markdown', '# Report\n\nAll good.\n')],
      }),
    },
    planner: new RulePlanner({ llmSteps: true }),
  });
  base = h.hub.web.url();
  sub = h.env.ctx.redis.duplicate();
  sub.on('message', (_channel, raw: string) => webMessages.push(JSON.parse(raw)));
  await sub.subscribe(h.env.ctx.keys.web);
});
afterAll(async () => {
  sub?.disconnect();
  await h?.close();
  await fake?.close();
});

const taskCount = async () =>
  Number(
    (
      await h.env.ctx.db
        .selectFrom('tasks')
        .select((e) => e.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('artifacts over HTTP', () => {
  it('compares three attached policies: doc.extract x3 -> real llm.compare over the pages, citing pages', async () => {
    fake.script({ match: { purpose: 'llm.compare', schemaName: 'comparison' }, reply: { json: POLICY_COMPARISON } });
    const files = ['policy-a.pdf', 'policy-b.pdf', 'policy-c.pdf'].map((name) => ({
      name,
      type: PDF,
      bytes: fixture(name),
    }));
    const r = await call(base, 'POST', '/api/tasks', ALICE, {
      form: formWith('Compare these three insurance policies', files),
    });
    expect(r.status).toBe(202);
    const id = r.body.task.id as string;
    const task = await h.waitForTask(id, (t) => ['COMPLETED', 'FAILED'].includes(t.status) && t.final_notified);
    expect(task.error).toBeNull();
    expect(task.status).toBe('COMPLETED');
    const subs = await h.env.ctx.db
      .selectFrom('subtasks')
      .selectAll()
      .where('task_id', '=', id)
      .orderBy('key')
      .execute();
    expect(subs.map((s) => s.capability)).toEqual(['llm.compare', 'doc.extract', 'doc.extract', 'doc.extract']);
    // Each extraction read its own file through Redis, with its pages numbered.
    const extracted = subs.filter((s) => s.capability === 'doc.extract').map((s) => (s.output as any).documents[0]);
    expect(extracted.map((d: any) => d.name).sort()).toEqual(['policy-a.pdf', 'policy-b.pdf', 'policy-c.pdf']);
    expect(extracted[0].pageCount).toBe(3);
    expect(extracted.find((d: any) => d.name === 'policy-c.pdf').pages[1]).toEqual({
      n: 2,
      text: 'Annual premium: 390 EUR\nDeductible: 2500 EUR per claim',
    });

    // The model got the request as its task and every document's pages, marked, inside labelled untrusted blocks.
    const [req, ...more] = fake.completions('llm.compare');
    expect(more).toHaveLength(0);
    expect(req!.system).toContain(UNTRUSTED_RULE);
    expect(req!.system).toContain('(p. N)');
    expect(req!.lastUser).toMatch(/^Task: Compare these three insurance policies\n.*cite the page \(p\. N\)/);
    for (const [name, title, premium, deductible, flood] of POLICIES) {
      const open = `source="option '${name}'">>>\n`;
      const at = req!.lastUser.indexOf(open);
      expect(at, name).toBeGreaterThan(-1);
      expect(req!.lastUser.slice(at + open.length, req!.lastUser.indexOf('\n<<<END DATA', at))).toBe(
        [
          `# ${name}`,
          `[p. 1]\n${title} - Policy summary\nPage one: who is covered and when.`,
          `[p. 2]\nAnnual premium: ${premium} EUR\nDeductible: ${deductible} EUR per claim`,
          `[p. 3]\nExclusions: ${flood}\nClaims must be reported within 30 days.`,
        ].join('\n\n'),
      );
    }
    // The answer is the model's comparison: the table and a recommendation citing pages, in the conversation too.
    const result = task.result as { markdown: string; recommendation: { choice: string } };
    expect(result.recommendation.choice).toBe('policy-c.pdf (Civic Basic Cover)');
    expect(result.markdown).toContain('| Criterion | policy-a.pdf | policy-b.pdf | policy-c.pdf |');
    expect(result.markdown).toContain('| Annual premium | 480 EUR (p. 2) | 620 EUR (p. 2) | 390 EUR (p. 2) |');
    expect(result.markdown).toMatch(
      /\*\*Recommendation: policy-c\.pdf \(Civic Basic Cover\)\.\*\* .*\(policy-c\.pdf, p\. 2\)/,
    );
    // The web frontend sent that Markdown to the caller's conversation (published for the SSE/WebSocket streams).
    const final = await h.until(
      async () =>
        webMessages.find((m) => m.message.taskId === id && m.message.kind === 'result')?.message.text as
          | string
          | undefined,
      10_000,
      'result message',
    );
    expect(final).toContain('Recommendation: policy-c.pdf (Civic Basic Cover)');
    expect(final).toContain('excluded (policy-c.pdf, p. 3)');

    const list = await call(base, 'GET', `/api/tasks/${id}/artifacts`, ALICE);
    expect(list.status).toBe(200);
    expect(list.body.artifacts.map((a: any) => [a.name, a.producer])).toEqual([
      ['policy-a.pdf', 'upload'],
      ['policy-b.pdf', 'upload'],
      ['policy-c.pdf', 'upload'],
    ]);
    const sha = createHash('sha256').update(fixture('policy-b.pdf')).digest('hex');
    expect(list.body.artifacts[1]).toMatchObject({ size: fixture('policy-b.pdf').length, sha256: sha, mediaType: PDF });

    const dl = await call(base, 'GET', `/api/tasks/${id}/artifacts/policy-b.pdf`, ALICE);
    expect(dl.status).toBe(200);
    expect(dl.bytes.equals(fixture('policy-b.pdf'))).toBe(true);
    expect(dl.headers.get('content-disposition')).toContain('attachment');
    expect((await call(base, 'GET', `/api/tasks/${id}/artifacts/policy-c.pdf`, ADMIN)).status).toBe(200);
    // Someone else's task does not exist for them.
    expect((await call(base, 'GET', `/api/tasks/${id}/artifacts/policy-b.pdf`, BOB)).status).toBe(404);
    expect((await call(base, 'GET', `/api/tasks/${id}/artifacts`, BOB)).status).toBe(404);
    expect((await call(base, 'GET', `/api/tasks/${id}/artifacts/nope.pdf`, ALICE)).status).toBe(404);
    // The bytes staged in Redis for the workers are freed once the task ended.
    const staged = stagedFilesKey(h.env.prefix, id);
    await h.until(async () => ((await h.env.ctx.redis.exists(staged)) === 0 ? true : undefined), 10_000, 'unstaged');
  });

  it("a capability's output file becomes a downloadable artifact (owner and admins)", async () => {
    const r = await call(base, 'POST', '/api/tasks', ALICE, { json: { text: 'use test.report: now' } });
    expect(r.status).toBe(202);
    const id = r.body.task.id as string;
    const task = await h.waitForTask(id, (t) => ['COMPLETED', 'FAILED'].includes(t.status));
    expect(task.status).toBe('COMPLETED');
    // The result keeps only file metadata; the bytes are an artifact.
    expect((task.result as { files: unknown[] }).files).toEqual([
      { name: 'report.md', mediaType: 'text/markdown', size: expect.any(Number) },
    ]);
    const list = await call(base, 'GET', `/api/tasks/${id}/artifacts`, ALICE);
    expect(list.body.artifacts.map((a: any) => [a.name, a.producer])).toEqual([['report.md', 'subtask']]);
    const md = await call(base, 'GET', `/api/tasks/${id}/artifacts/report.md`, ADMIN);
    expect(md.status).toBe(200);
    expect(md.bytes.toString()).toContain('All good.');
    expect((await call(base, 'GET', `/api/tasks/${id}/artifacts/report.md`, BOB)).status).toBe(404);
  });

  it('extracts a DOCX and reports a scanned PDF as such', async () => {
    const r = await call(base, 'POST', '/api/tasks', ALICE, {
      form: formWith('read these', [
        {
          name: 'report.docx',
          type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
          bytes: fixture('report.docx'),
        },
        { name: 'scanned.pdf', type: PDF, bytes: fixture('scanned.pdf') },
      ]),
    });
    expect(r.status).toBe(202);
    const task = await h.waitForTask(r.body.task.id, (t) => ['COMPLETED', 'FAILED'].includes(t.status));
    expect(task.status).toBe('COMPLETED');
    const docs = Object.values(task.result as Record<string, any>).map((o) => o.documents[0]);
    const docx = docs.find((d) => d.name === 'report.docx');
    expect(docx.pages[0].text).toContain('Revenue grew by 12 percent');
    const scan = docs.find((d) => d.name === 'scanned.pdf');
    expect(scan).toMatchObject({ scanned: true, pageCount: 1 });
    expect(scan.note).toContain('no text layer');
  });

  it('refuses a file over MAX_ARTIFACT_BYTES with 413 and stores nothing', async () => {
    const before = await taskCount();
    const big = new Uint8Array(150_000).fill(65);
    const r = await call(base, 'POST', '/api/tasks', ALICE, {
      form: formWith('read this', [
        { name: 'small.txt', type: 'text/plain', bytes: Buffer.from('hello') },
        { name: 'big.txt', type: 'text/plain', bytes: big },
      ]),
    });
    expect(r.status).toBe(413);
    expect(r.body.error.message).toContain('big.txt');
    expect(r.body.error.message).toContain('MAX_ARTIFACT_BYTES');
    expect(await taskCount()).toBe(before);
    const n = await h.env.ctx.db.selectFrom('artifacts').select('name').where('name', '=', 'small.txt').execute();
    expect(n).toEqual([]);
  });

  it('adds files to an existing task (owner only) and refuses a non-multipart body', async () => {
    const created = await call(base, 'POST', '/api/tasks', ALICE, { json: { text: 'hello' } });
    const id = created.body.task.id as string;
    const add = await call(base, 'POST', `/api/tasks/${id}/artifacts`, ALICE, {
      form: formWith('', [{ name: '../../etc/notes.txt', type: 'text/plain', bytes: Buffer.from('note') }]),
    });
    expect(add.status).toBe(201);
    expect(add.body.artifacts[0]).toMatchObject({ name: 'notes.txt', size: 4, producer: 'upload' });
    const again = await call(base, 'POST', `/api/tasks/${id}/artifacts`, ALICE, {
      form: formWith('', [{ name: 'notes.txt', type: 'text/plain', bytes: Buffer.from('two') }]),
    });
    expect(again.body.artifacts[0].name).toBe('notes (2).txt');
    const bob = await call(base, 'POST', `/api/tasks/${id}/artifacts`, BOB, {
      form: formWith('', [{ name: 'x.txt', type: 'text/plain', bytes: Buffer.from('x') }]),
    });
    expect(bob.status).toBe(404);
    const json = await call(base, 'POST', `/api/tasks/${id}/artifacts`, ALICE, { json: { x: 1 } });
    expect(json.status).toBe(400);
    expect(json.body.error.message).toContain('multipart/form-data');
  });
});
