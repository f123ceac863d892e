// The dashboard with files, traces and the queue board, in a real headless Chromium against a full hub: uploads
// from the form reach the worker, files are listed and downloaded with the session cookie, an LLM step's traces
// and totals show in the activity log (OpenAI fake), and /admin/queues takes an admin's cookie (403 for others).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { outputFile } from '../src/core/artifacts/artifact-transport.ts';
import { InvalidInputError } from '../src/core/errors.ts';
import type { Plan, Planner } from '../src/core/planning/plan.ts';
import type { CapabilityHandler } from '../src/workers/capability.ts';
import { startOpenAiFake, type OpenAiFake } from './fakes/openai-fake.ts';
import { type BrowserHub, BrowserSessions, NO_BROWSER, startBrowserHub } from './helpers/browser.ts';
import type { Harness } from './helpers/hub-harness.ts';

const ALICE = 'alice-token-1';
const BOB = 'bob-token-22';
const ADMIN = 'admin-token-333';
const MAX_BYTES = 50_000;

/** Plans by the request's first words: "read the files" reads the uploads, then an LLM summarises them. */
class TestPlanner implements Planner {
  async plan(req: { text: string }): Promise<Plan> {
    if (req.text.startsWith('read the files'))
      return {
        summary: 'read the uploads, then summarise',
        steps: [
          { key: 'read', capability: 'test.files', input: {}, dependsOn: [] },
          { key: 'sum', capability: 'llm.summarize', input: { length: 'short' }, dependsOn: ['read'] },
        ],
      };
    if (req.text.startsWith('echo'))
      return { summary: 'echo', steps: [{ key: 'e', capability: 'demo.echo', input: {}, dependsOn: [] }] };
    throw new InvalidInputError(`no test plan for "${req.text}"`);
  }
}

/** What the worker saw of its task's files, by task id. */
const seen = new Map<string, Array<{ name: string; text: string }>>();
/** Reads every file the step may read (through Redis) and returns a listing of them as an output file. */
const readFiles: CapabilityHandler = async (ctx) => {
  const files = await Promise.all(
    ctx.artifacts!.list().map(async (f) => ({ name: f.name, text: (await ctx.artifacts!.read(f.name)).toString() })),
  );
  seen.set(ctx.job.taskId, files);
  const listing = files.map((f) => `${f.name}: ${f.text}`).join('\n');
  return { text: listing, files: [outputFile('listing.txt', 'text/plain', listing)] };
};

let fake: OpenAiFake;
let h: Harness;
let browser: Browser;
let base: string;
const sessions = new BrowserSessions(
  () => browser,
  () => base,
);

let hub: BrowserHub | undefined;
beforeAll(async () => {
  if (NO_BROWSER) return;
  fake = await startOpenAiFake();
  hub = await startBrowserHub({
    planner: new TestPlanner(),
    handlers: { 'test.files': readFiles },
    env: {
      OPENAI_BASE_URL: fake.url,
      WORKER_CAPABILITIES: 'demo.*,test.*,llm.*',
      LLM_MAX_RETRIES: '0',
      LLM_CACHE_TTL_MS: '0',
      MAX_ARTIFACT_BYTES: String(MAX_BYTES),
    },
  });
  ({ h, base, browser } = hub);
}, 120_000);

afterEach(async () => {
  await sessions.closeAll();
});

afterAll(async () => {
  await hub?.close();
  await fake?.close();
});

describe.skipIf(NO_BROWSER)('dashboard: files, traces, queue board', () => {
  it('uploads two files from the form; the worker reads them; the detail lists them with the output and downloads', async () => {
    fake.script({
      match: { purpose: 'llm.summarize' },
      reply: { json: { title: 'Two notes', summary: 'Alpha and beta notes.', keyPoints: ['alpha', 'beta'] } },
    });
    const page = await sessions.signedIn(ALICE);
    await page.getByLabel('What should be done?').fill('read the files and summarise them');
    // One file through the picker (a labelled input), one dropped on the form.
    await page.getByLabel('Attach files').setInputFiles({
      name: 'alpha.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('alpha note 1'),
    });
    const drop = await page.evaluateHandle(() => {
      const w = globalThis as any;
      const dt = new w.DataTransfer();
      dt.items.add(new w.File(['beta note 22'], 'beta.txt', { type: 'text/plain' }));
      return dt;
    });
    await page.locator('form.submit').dispatchEvent('drop', { dataTransfer: drop });
    const chosen = page.getByRole('list', { name: 'Files to attach' });
    await expect(chosen.locator('li').allTextContents()).resolves.toEqual([
      expect.stringContaining('alpha.txt'),
      expect.stringContaining('beta.txt'),
    ]);
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    const status = page.getByRole('status').filter({ hasText: 'Submitted' });
    await expect(status.textContent()).resolves.toMatch(/Submitted \w{8} with 2 files/);
    expect(await chosen.count()).toBe(0);

    const row = await h.until(() =>
      h.hub.ctx.db
        .selectFrom('tasks')
        .select(['id'])
        .where('text', '=', 'read the files and summarise them')
        .executeTakeFirst(),
    );
    const done = await h.waitForTask(row.id, (t) => ['COMPLETED', 'FAILED'].includes(t.status));
    expect(done.error).toBeNull();
    expect(seen.get(row.id)).toEqual([
      { name: 'alpha.txt', text: 'alpha note 1' },
      { name: 'beta.txt', text: 'beta note 22' },
    ]);

    await page.goto(`${base}/#/task/${row.id}`);
    const files = page.locator('.files-list li');
    // The step names appear once the task's detail (with its steps) has loaded.
    await page.locator('.files-list li[data-artifact="listing.txt"]', { hasText: 'from step read' }).waitFor();
    await expect(files.allTextContents()).resolves.toEqual([
      expect.stringMatching(/^alpha\.txt 12 B · text\/plain · uploaded/),
      expect.stringMatching(/^beta\.txt 12 B · text\/plain · uploaded/),
      expect.stringMatching(/^listing\.txt .* · from step read$/),
    ]);
    // A click downloads through the session cookie (no bearer token in the browser).
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'beta.txt' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('beta.txt');
    const chunks: Buffer[] = [];
    for await (const c of (await download.createReadStream())!) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('beta note 22');
    const listing = await page.evaluate(
      async (url) => (await fetch(url)).text(),
      '/api/tasks/' + row.id + '/artifacts/listing.txt',
    );
    expect(listing).toBe('alpha.txt: alpha note 1\nbeta.txt: beta note 22');

    // The LLM step's call is in the activity log next to the audit trail, and the totals match the task row.
    const llmEntry = page.locator('.log li[data-kind="llm"]');
    await llmEntry.first().waitFor();
    await expect(llmEntry.first().textContent()).resolves.toMatch(
      /LLM call.*step sum.*llm\.summarize · [\w.-]+ · \d+\+\d+ tokens/,
    );
    await expect(page.locator('.log li[data-kind="event"]').count()).resolves.toBeGreaterThan(2);
    const totals = await h.hub.ctx.db
      .selectFrom('tasks')
      .select(['llm_calls', 'llm_tokens'])
      .where('id', '=', row.id)
      .executeTakeFirstOrThrow();
    expect(totals.llm_calls).toBe(1);
    expect(totals.llm_tokens).toBeGreaterThan(0);
    await expect(page.getByTestId('llm-totals').textContent()).resolves.toMatch(
      new RegExp(`^LLM: 1 call, ${totals.llm_tokens} tokens, \\$\\d+\\.\\d{4}`),
    );
    // The log is in time order: the task's submission first.
    const times = await page.locator('.log li time').evaluateAll((els) => els.map((e) => e.getAttribute('datetime')));
    expect([...times].sort((a, b) => Date.parse(a!) - Date.parse(b!))).toEqual(times);
  });

  it('says clearly when a file is over the limit, and stores nothing', async () => {
    const page = await sessions.signedIn(ALICE);
    await page.getByLabel('What should be done?').fill('echo too big');
    await page.getByLabel('Attach files').setInputFiles({
      name: 'big.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.alloc(MAX_BYTES + 1, 1),
    });
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    const alert = page.getByRole('alert');
    await expect(alert.textContent()).resolves.toMatch(/^File too large: The file "big.bin" is over the .* limit/);
    const stored = await h.hub.ctx.db.selectFrom('tasks').select('id').where('text', '=', 'echo too big').execute();
    expect(stored).toEqual([]);
    // Files travel only with a task that runs now; a schedule with files chosen is refused, not sent without them.
    await page.getByLabel('Recurring').check();
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Files can only go with a task that runs now' }).waitFor();
    expect(
      await h.hub.ctx.db.selectFrom('schedules').select('id').where('text', '=', 'echo too big').execute(),
    ).toEqual([]);
    await page.getByLabel('Now').check();
    // The files stay chosen so the user can remove the big one and submit again.
    await page.getByRole('button', { name: 'Remove big.bin' }).click();
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Submitted' }).waitFor();
  });

  it('opens the queue board with an admin session cookie; a signed-in non-admin gets 403', async () => {
    const admin = await sessions.signedIn(ADMIN);
    await admin.getByRole('link', { name: 'Admin' }).click();
    const link = admin.getByRole('link', { name: 'Queues board' });
    expect(await link.getAttribute('href')).toBe('/admin/queues');
    const res = await admin.goto(`${base}/admin/queues`);
    expect(res?.status()).toBe(200);
    await admin.getByText('Switchboard queues').first().waitFor();
    const api = await admin.evaluate(async () => {
      const r = await fetch('/admin/queues/api/queues');
      return { status: r.status, names: ((await r.json()) as any).queues.map((q: { name: string }) => q.name) };
    });
    expect(api.status).toBe(200);
    expect(api.names.length).toBeGreaterThan(1);

    const bob = await sessions.signedIn(BOB);
    const refused = await bob.goto(`${base}/admin/queues`);
    expect(refused?.status()).toBe(403);
    await expect(bob.locator('body').textContent()).resolves.toContain('admins only');
    // Not signed in at all: a browser is sent to the sign-in page.
    const anon = await (await sessions.context()).newPage();
    await anon.goto(`${base}/admin/queues`);
    await anon.getByLabel('API token').waitFor();
  });
});
