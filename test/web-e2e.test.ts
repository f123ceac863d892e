// End to end through a full hub: "research X and prepare talking points" (search -> fetch x3 -> llm.write) answered
// in the origin conversation; monitors from the API and chat sending exactly one message per real change, its summary
// written by llm.summarize. The llm.* steps are the real capabilities, driven by the openai SDK against the fake
// OpenAI server: the tests check what the model was sent (untrusted data blocks) and that its answer reaches the user.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { markdownFor } from '../src/notifications/markdown-text.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/core/config.ts';
import type { Plan, PlanRequest, Planner } from '../src/core/planning/plan.ts';
import { RulePlanner } from '../src/core/planning/rule-planner.ts';
import { byName } from '../src/workers/capability.ts';
import { webCapabilities } from '../src/workers/capabilities/web/web-capabilities.ts';
import { UNTRUSTED_RULE } from '../src/core/llm/untrusted.ts';
import { startOpenAiFake, type OpenAiFake } from './fakes/openai-fake.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';
import { FIXTURE_HOST, startWebFixtures, type WebFixtures } from './fakes/web-fixtures.ts';

/** A fixed planner: "research ..." becomes search -> fetch x3 -> llm.write; the rest goes to the rule planner. */
class ResearchPlanner implements Planner {
  private readonly rules = new RulePlanner();
  async plan(req: PlanRequest): Promise<Plan> {
    const m = /^research (.+?) and prepare talking points$/i.exec(req.text.trim());
    if (!m) return this.rules.plan(req);
    const fetches = [0, 1, 2].map((i) => ({
      key: `fetch${i + 1}`,
      capability: 'web.fetch',
      input: { resultIndex: i },
      dependsOn: ['search'],
    }));
    return {
      summary: 'search, read the top 3 pages, write talking points',
      steps: [
        { key: 'search', capability: 'web.search', input: { query: m[1], count: 5 }, dependsOn: [] },
        ...fetches,
        {
          key: 'write',
          capability: 'llm.write',
          input: { kind: 'talking points', instructions: 'Prepare talking points from the pages.' },
          dependsOn: fetches.map((f) => f.key),
        },
      ],
    };
  }
}

/** What the fake model writes for the research request (streamed, as llm.write asks for plain Markdown). */
const TALKING_POINTS =
  '# Talking points: environmental bills\n\n- **Clean Rivers Act**: the committee vote was 7 to 4.\n' +
  '- **Clean Air Amendments**: binding targets with public reporting.\n' +
  '- **Forest Protection Bill**: protects old-growth forests.';

let fx: WebFixtures;
let fake: OpenAiFake;
let h: Harness;
let base: string;
const ALICE = 'alice-token-1';

async function api(method: string, path: string, body?: unknown, token: string | null = ALICE) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

beforeAll(async () => {
  fx = await startWebFixtures();
  fake = await startOpenAiFake();
  const env = {
    OPENAI_BASE_URL: fake.url,
    LLM_MAX_RETRIES: '0',
    LLM_CACHE_TTL_MS: '0',
    FETCH_ALLOW_HOSTS: FIXTURE_HOST,
    FETCH_HOST_DELAY_MS: '0',
    SEARXNG_URL: `http://127.0.0.1:${fx.port}/searxng`,
    WORKER_CAPABILITIES: 'demo.*,web.*,llm.*',
    PUBLIC_URL: 'https://hub.example.org',
  };
  const web = webCapabilities(loadConfig(env), { resolver: fx.resolver });
  h = await createHarness({
    env,
    planner: new ResearchPlanner(),
    handlers: byName(web),
  });
  base = h.hub.web.url();
}, 60_000);

afterAll(async () => {
  await h?.close();
  await fx?.close();
  await fake?.close();
});

describe('research', () => {
  it('search -> fetch x3 -> llm.write delivers talking points in the origin conversation', async () => {
    fake.script({ match: { purpose: 'llm.write' }, reply: { content: TALKING_POINTS, chunkDelayMs: 2 } });
    const task = await h.submit('Research environmental bills and prepare talking points');
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' || t.status === 'FAILED');
    expect(done.error).toBeNull();
    expect(done.status).toBe('COMPLETED');
    const final = await h.chat.waitFor((d) => d.message.taskId === task.id && d.message.kind === 'result');
    expect(final.conversationId).toBe(h.origin().conversationId);
    // The conversation got the model's Markdown, in its platform's markup (the test platform renders none).
    expect(final.message.text).toMatch(/^Task \w+ completed\.\n/);
    expect(final.message.text).toContain(`\n${markdownFor(TALKING_POINTS, 'none')}\n`);
    expect(done.result).toMatchObject({ kind: 'talking points', title: 'Talking points: environmental bills' });
    // One streamed call; its task line is outside the data, and each fetched page is in its own untrusted block.
    const [req, ...more] = fake.completions('llm.write');
    expect(more).toHaveLength(0);
    expect(req!.stream).toBe(true);
    expect(req!.system).toContain(UNTRUSTED_RULE);
    const [task_, data] = req!.lastUser.split('\n\nData:\n\n');
    expect(task_).toMatch(/^Task: Prepare talking points from the pages\.\nWrite talking points:/);
    const blocks = [...data!.matchAll(/<<<DATA id=(\w+) source="([^"]*)">>>\n([\s\S]*?)\n<<<END DATA id=\1>>>/g)];
    expect(blocks.map((b) => b[2])).toEqual([
      `output of step 'fetch1' (Rivers bill advances | Green Ledger, ${fx.base}/article)`,
      `output of step 'fetch2' (Clean Air Amendments, ${fx.base}/bills/air)`,
      `output of step 'fetch3' (Forest Protection Bill, ${fx.base}/bills/forests)`,
    ]);
    const [article, air, forests] = blocks.map((b) => b[3]!);
    expect(article).toContain('The committee vote was 7 to 4.');
    expect(air).toContain('it sets binding targets with public reporting');
    expect(forests).toContain('Forest Protection Bill');
    // Readable content only: no navigation, no scripts reached the model.
    for (const page of [article, air, forests]) expect(page).not.toMatch(/NAVLINK|SCRIPT-TOKEN|SCRIPT-IN-ARTICLE/);
    // Nothing else sits between the blocks: the data part is exactly the three blocks.
    expect(data).toBe(blocks.map((b) => b[0]).join('\n\n'));
  });

  it('"use web.fetch: <url>" from chat fetches the page through the worker; a private address is refused for good', async () => {
    const task = await h.submit(`use web.fetch: ${fx.base}/article please`);
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' || t.status === 'FAILED');
    expect(done.status).toBe('COMPLETED');
    expect(done.result).toMatchObject({ untrusted: true, source: 'web', finalUrl: `${fx.base}/article` });
    expect((done.result as { text: string }).text).toContain('The committee vote was 7 to 4');
    const refused = await h.submit('use web.fetch: http://169.254.169.254/latest/meta-data/');
    const failed = await h.waitForTask(refused.id, (t) => t.status === 'FAILED');
    expect(failed.error).toMatch(/failed after 1 attempt: .*169\.254\.169\.254 is a linkLocal address/);
  });

  it('a plan that needs web.search on workers without a provider tells the user what to set', async () => {
    const { MonitorPlanner } = await import('../src/core/monitors/monitor-planner.ts');
    // Workers serve web.* but advertise no web.search: pretend by asking a planner over a worker directory
    // that only knows this hub's embedded worker, with the search spec removed.
    const key = h.hub.ctx.keys;
    const ids = await h.hub.ctx.redis.zrange(key.workers, 0, -1);
    const raw = await h.hub.ctx.redis.get(key.worker(ids[0]!));
    const info = JSON.parse(raw!);
    const saved = raw!;
    info.specs = info.specs.filter((s: { name: string }) => s.name !== 'web.search');
    await h.hub.ctx.redis.set(key.worker(ids[0]!), JSON.stringify(info), 'KEEPTTL');
    try {
      const planner = new MonitorPlanner(new ResearchPlanner(), {
        db: h.hub.ctx.db,
        redis: h.hub.ctx.redis,
        keys: key,
      });
      await expect(
        planner.plan({ text: 'research x and prepare talking points', userId: 'test:alice' }),
      ).rejects.toThrow(/SEARXNG_URL.*BRAVE_API_KEY.*TAVILY_API_KEY/);
    } finally {
      await h.hub.ctx.redis.set(key.worker(ids[0]!), saved, 'KEEPTTL');
    }
  });
});

describe('monitors', () => {
  it('baseline said once, no message without a change, one message per real change with summary and diff link', async () => {
    fx.setChanging('The hearing is on 3 April.');
    const owner = h.origin('test:carol');
    const caller = { userId: owner.userId };
    const { monitor, firstRunTaskId } = await h.hub.monitors.create({
      origin: owner,
      url: `${fx.base}/changing`,
      when: 'every day at 9:00',
      selector: '#notice',
      ignore: ['Last updated: \\S+', 'Visitors: \\d+'],
    });
    const id = monitor.id;
    const messages = () => h.chat.deliveries.filter((d) => d.conversationId === owner.conversationId);
    const snapshots = async () =>
      h.hub.ctx.db
        .selectFrom('monitor_snapshots')
        .selectAll()
        .where('monitor_id', '=', id)
        .orderBy('created_at')
        .execute();
    const runAndStore = async (n: number) => {
      const { taskId } = await h.hub.monitors.runNow(id.slice(0, 8), caller);
      await h.waitForEvent((e) => e.taskId === taskId && e.type.startsWith('monitor.'));
      const rows = await snapshots();
      expect(rows).toHaveLength(n);
      return rows;
    };

    // 1: the baseline, taken when the monitor is created and told once.
    await h.waitForEvent((e) => e.taskId === firstRunTaskId && e.type === 'monitor.baseline');
    expect((await snapshots()).map((r) => r.kind)).toEqual(['baseline']);
    const baseline = await h.chat.waitFor((d) => d.conversationId === owner.conversationId);
    expect(baseline.message.text).toMatch(/took a baseline/);
    // 2: unchanged (304 to the conditional GET): recorded, nobody told.
    const two = await runAndStore(2);
    expect(two[1]).toMatchObject({ kind: 'unchanged', text: null });
    expect(fx.changingHits().notModified).toBeGreaterThanOrEqual(1);
    // 3: a real change: one message, with the summary of the diff and the link.
    fake.script({
      match: { purpose: 'llm.summarize', userIncludes: '+The hearing moved to 10 April.' },
      reply: {
        json: {
          title: 'Hearing moved',
          summary: 'The public hearing was moved from 3 April to **10 April**.',
          keyPoints: ['New date: 10 April'],
        },
      },
    });
    fx.setChanging('The hearing moved to 10 April.');
    const three = await runAndStore(3);
    expect(three[2]).toMatchObject({ kind: 'changed', added: 1, removed: 1 });
    const change = await h.chat.waitFor(
      (d) => d.conversationId === owner.conversationId && /changed/.test(d.message.text),
    );
    expect(change.message.text).toContain('The public hearing was moved from 3 April to **10 April**.');
    const link = /https:\/\/hub\.example\.org(\/monitor-diffs\/[\w-]+)/.exec(change.message.text)?.[1];
    expect(link).toBeDefined();
    // The model saw the diff only, inside one untrusted block; the task line (short summary) is outside it.
    const calls = fake.completions('llm.summarize').filter((r) => r.lastUser.includes('+The hearing moved'));
    expect(calls).toHaveLength(1);
    expect(calls[0]!.schemaName).toBe('summary');
    const [line, data] = calls[0]!.lastUser.split('\n\nData:\n\n');
    expect(line).toBe(
      `Task: Summarise what changed on ${fx.base}/changing, from this unified diff of the page text (lines starting with - were removed, + were added).\n` +
        'Keep the summary to 2-3 sentences and at most 3 key points.',
    );
    const block = /^<<<DATA id=(\w+) source="text given with the request">>>\n([\s\S]*)\n<<<END DATA id=\1>>>$/.exec(
      data!,
    );
    expect(block).not.toBeNull();
    expect(block![2]).toContain('-The hearing is on 3 April.');
    expect(block![2]).toContain('+The hearing moved to 10 April.');
    expect(block![2]).not.toMatch(/NAVLINK|Footer/);
    // The full diff, without a token (the link is the key).
    const diff = await api('GET', link!, undefined, null);
    expect(diff.status).toBe(200);
    expect(diff.text).toContain('-The hearing is on 3 April.');
    expect(diff.text).toContain('+The hearing moved to 10 April.');
    expect((await api('GET', '/monitor-diffs/not-a-real-change-id-000', undefined, null)).status).toBe(404);
    // 4: unchanged again (only the counters moved): nobody told.
    expect((await runAndStore(4))[3]!.kind).toBe('unchanged');
    // A later task's answer in the same conversation arrives after anything (wrongly) queued before it.
    const t = await h.submit('echo after the monitor', owner.userId);
    await h.chat.waitFor((d) => d.message.taskId === t.id && d.message.kind === 'result');
    expect(messages().filter((m) => m.message.taskId !== t.id)).toHaveLength(2);
    const row = await h.hub.ctx.db.selectFrom('monitors').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ checks: 4, changes: 1 });
  }, 60_000);

  it('reconcile stores a run whose result a dead hub never stored, and tells it once', async () => {
    fx.setChanging('Reconcile me.');
    const owner = h.origin('test:frank');
    const { firstRunTaskId } = await h.hub.monitors.create({
      origin: owner,
      url: `${fx.base}/changing`,
      when: 'every hour',
    });
    const taskId = firstRunTaskId!;
    await h.waitForEvent((e) => e.taskId === taskId && e.type === 'monitor.baseline');
    await h.chat.waitFor((d) => d.conversationId === owner.conversationId);
    // As if the hub had died after the run completed: no snapshot, nobody told.
    await h.hub.ctx.db.deleteFrom('monitor_snapshots').where('task_id', '=', taskId).execute();
    expect(await h.hub.monitors.runs.reconcile(0)).toBe(1);
    const rows = await h.hub.ctx.db.selectFrom('monitor_snapshots').selectAll().where('task_id', '=', taskId).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.notified_at).not.toBeNull();
    expect(await h.hub.monitors.runs.reconcile(0)).toBe(0);
    // The re-stored baseline is told (its first telling was for the snapshot deleted above).
    const mine = () => h.chat.deliveries.filter((x) => x.conversationId === owner.conversationId);
    await h.chat.waitFor(() => mine().length === 2);
    expect(mine()[1]!.message.text).toMatch(/took a baseline/);
  }, 30_000);

  it('a change whose summary fails is still told once, with the changed lines', async () => {
    fx.setChanging('Agenda: budget.');
    const owner = h.origin('test:dave');
    const caller = { userId: owner.userId };
    const { monitor, firstRunTaskId } = await h.hub.monitors.create({
      origin: owner,
      url: `${fx.base}/changing`,
      when: 'every hour',
      selector: '#notice h1 + p',
    });
    const run = async (kind: string) => {
      const { taskId } = await h.hub.monitors.runNow(monitor.id, caller);
      await h.waitForEvent((e) => e.taskId === taskId && e.type === `monitor.${kind}`);
    };
    await h.waitForEvent((e) => e.taskId === firstRunTaskId && e.type === 'monitor.baseline');
    // The model refuses: the summary step fails for good, and the change is told without it.
    fake.script({ match: { purpose: 'llm.summarize', userIncludes: 'FAIL-SUMMARY' }, reply: { refusal: 'I cannot.' } });
    fx.setChanging('Agenda: FAIL-SUMMARY budget and parks.');
    await run('changed');
    const told = await h.chat.waitFor(
      (d) => d.conversationId === owner.conversationId && /changed/.test(d.message.text),
    );
    expect(told.message.text).toContain('+Agenda: FAIL-SUMMARY budget and parks.');
    expect(fake.completions('llm.summarize').filter((r) => r.lastUser.includes('FAIL-SUMMARY'))).toHaveLength(1);
    expect(told.message.text).toMatch(/Full diff: https:\/\/hub\.example\.org\/monitor-diffs\//);
    const t = await h.submit('echo done', owner.userId);
    await h.chat.waitFor((d) => d.message.taskId === t.id && d.message.kind === 'result');
    expect(
      h.chat.deliveries.filter((d) => d.conversationId === owner.conversationId && d.message.taskId !== t.id),
    ).toHaveLength(2);
  }, 30_000);

  it('a monitor whose runs keep failing is paused and its owner told (runs are otherwise silent)', async () => {
    const owner = h.origin('test:erin');
    const caller = { userId: owner.userId };
    const { monitor, firstRunTaskId } = await h.hub.monitors.create({
      origin: owner,
      url: `${fx.base}/gone`,
      when: 'every hour',
    });
    // The first check (at creation) fails: told at once, with the reason.
    await h.waitForTask(firstRunTaskId!, (t) => t.status === 'FAILED');
    const first = await h.chat.waitFor((d) => d.conversationId === owner.conversationId);
    expect(first.message.text).toMatch(/could not read .*\/gone: .*HTTP 404/);
    for (let i = 0; i < 2; i++) {
      const { taskId } = await h.hub.monitors.runNow(monitor.id, caller);
      await h.waitForTask(taskId, (t) => t.status === 'FAILED');
    }
    const paused = await h.chat.waitFor(
      (d) => d.conversationId === owner.conversationId && /runs failed in a row/.test(d.message.text),
    );
    expect(paused.message.text).toMatch(/3 runs failed in a row.*HTTP 404/s);
    expect((await h.hub.monitors.find(monitor.id, caller)).schedule.status).toBe('paused');
    expect(h.chat.deliveries.filter((d) => d.conversationId === owner.conversationId)).toHaveLength(2);
  }, 30_000);

  it('API: create, list, run now, pause, resume, delete', async () => {
    const created = await api('POST', '/api/monitors', { url: `${fx.base}/article`, when: 'every 6 hours' });
    expect(created.status).toBe(201);
    const id: string = created.json.monitor.id;
    await h.waitForEvent((e) => e.taskId === created.json.firstRunTaskId && e.type === 'monitor.baseline');
    expect(created.json.monitor).toMatchObject({
      status: 'active',
      url: `${fx.base}/article`,
      description: expect.stringMatching(/6 hours/),
    });
    expect((await api('GET', '/api/monitors')).json.monitors.map((m: { id: string }) => m.id)).toContain(id);
    expect((await api('GET', '/api/monitors', undefined, 'bob-token-22')).json.monitors).toHaveLength(0);
    const run = await api('POST', `/api/monitors/${id}/run`);
    expect(run.status).toBe(202);
    await h.waitForEvent((e) => e.taskId === run.json.taskId && e.type === 'monitor.unchanged');
    expect((await api('POST', `/api/monitors/${id}/run`, undefined, 'bob-token-22')).status).toBe(404);
    expect((await api('POST', `/api/monitors/${id}/pause`)).json.monitor.status).toBe('paused');
    expect((await api('POST', `/api/monitors/${id}/run`)).status).toBe(400);
    expect((await api('POST', `/api/monitors/${id}/resume`)).json.monitor.status).toBe('active');
    expect((await api('DELETE', `/api/monitors/${id}`)).json.monitor.status).toBe('deleted');
    expect((await api('GET', '/api/monitors')).json.monitors).toHaveLength(0);
  }, 30_000);

  it('bad monitor requests get a clear 400/404, never a stack trace', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ when: 'every day at 9:00' }, /url/],
      [{ url: 'ftp://example.org', when: 'every day at 9:00' }, /http/],
      [{ url: 'not a url', when: 'every day at 9:00' }, /not a URL/],
      [{ url: 'https://example.org', when: 'tomorrow at 9:00' }, /repeatedly/],
      [{ url: 'https://example.org', when: 'every day at 9:00', ignore: ['('] }, /regular expression/],
      [{ url: 'https://example.org', when: 'every day at 9:00', extra: 1 }, /extra|unrecognized/i],
      ['just a string', /JSON object/],
    ];
    for (const [body, re] of cases) {
      const res = await api('POST', '/api/monitors', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.text).toMatch(re);
      expect(res.text).not.toMatch(/at .*\.ts:\d+/);
    }
    expect((await api('POST', '/api/monitors/ffffffff/run')).status).toBe(404);
    expect((await api('GET', '/api/monitors', undefined, null)).status).toBe(401);
  });

  it('chat: "monitor <url> every day at 9:00", "monitors", "monitors pause <id>"', async () => {
    const origin = { platform: 'test', conversationId: 'chat-bob', userId: 'test:bob' };
    const say = async (text: string) =>
      (await h.hub.commands.handle({ eventId: `e-${Math.random()}`, origin, text, plainTextIsTask: true }))!;
    const made = await say(`monitor ${fx.base}/article every day at 9:00`);
    expect(made.kind).toBe('info');
    expect(made.text).toMatch(/^Monitor [0-9a-f]{8} watches .*\/article every day at 09:00/);
    const id = /Monitor ([0-9a-f]{8})/.exec(made.text)![1]!;
    expect((await say('monitors')).text).toContain(`${id} active`);
    expect((await say(`monitors pause ${id}`)).text).toBe(`Monitor ${id} is now paused.`);
    const daily = await say(`Monitor ${fx.base}/bills/air for changes and summarise daily`);
    expect(daily.text).toMatch(/watches .*\/bills\/air every day/);
    expect((await say('monitor example.org')).kind).toBe('error');
    expect((await say('monitors pause')).text).toMatch(/Say which/);
  });

  it('CLI: monitors add, list, pause, delete; a bad URL is a clear error', async () => {
    const bin = fileURLToPath(new URL('../bin/switchboard.js', import.meta.url));
    const cli = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [bin, ...args],
          { env: { ...process.env, SWITCHBOARD_URL: base, SWITCHBOARD_TOKEN: ALICE, NO_COLOR: '1' }, timeout: 20_000 },
          (err, stdout, stderr) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const added = await cli(['monitors', 'add', `${fx.base}/article`, 'every', '6', 'hours', '--selector', 'article']);
    expect(added.stderr).toBe('');
    const id = /Monitor ([0-9a-f]{8}) watches/.exec(added.stdout)?.[1];
    expect(id).toBeDefined();
    expect((await cli(['monitors', 'list'])).stdout).toMatch(new RegExp(`${id}\\s+active.*every 6 hours`));
    expect((await cli(['monitors', 'pause', id!])).stdout).toBe(`Monitor ${id} is now paused.\n`);
    expect((await cli(['monitors', 'delete', id!])).stdout).toBe(`Monitor ${id} is now deleted.\n`);
    const bad = await cli(['monitors', 'add', 'ftp://example.org', 'every', 'hour']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/http/);
  }, 60_000);
});
