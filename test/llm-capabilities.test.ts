// llm.* capabilities end to end: a fixed plan runs on the embedded worker against the OpenAI fake, and the
// result reaches the recording conversation. Budgets, context summarisation with checkpoints, untrusted data.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/core/config.ts';
import { InvalidInputError } from '../src/core/errors.ts';
import { BudgetLedger } from '../src/core/llm/budget.ts';
import { UNTRUSTED_RULE } from '../src/core/llm/untrusted.ts';
import type { Plan, Planner } from '../src/core/planning/plan.ts';
import { listLiveWorkers } from '../src/core/worker-registry.ts';
import { builtinCapabilities } from '../src/workers/capabilities/index.ts';
import { INJECTION_TEXT, startOpenAiFake, type OpenAiFake } from './fakes/openai-fake.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';
import { stepLlmRecord } from './helpers/llm-record.ts';

/** A planner that returns the plan registered for the exact request text. */
class FixedPlanner implements Planner {
  readonly plans = new Map<string, Plan>();
  async plan(req: { text: string }): Promise<Plan> {
    const p = this.plans.get(req.text);
    if (!p) throw new InvalidInputError(`no test plan for "${req.text}"`);
    return p;
  }
}

const ARTICLE =
  'The Clean Rivers Act (HB 2231) was introduced on 3 March 2026 by Senator Maria Lopez. It would fund ' +
  '$40 million for watershed restoration in Oregon and cap industrial runoff at 5 ppm.';

let fake: OpenAiFake;
const planner = new FixedPlanner();
let h: Harness;

const finalText = (taskId: string) =>
  h.chat
    .forTask(taskId)
    .filter((d) => d.op === 'send' && (d.message.kind === 'result' || d.message.kind === 'failure'))
    .map((d) => d.message.text)
    .join('\n');

beforeAll(async () => {
  fake = await startOpenAiFake();
  h = await createHarness({
    planner,
    env: {
      OPENAI_BASE_URL: fake.url,
      WORKER_CAPABILITIES: 'demo.*,test.*,llm.*',
      LLM_MAX_RETRIES: '0',
      LLM_CONTEXT_TOKENS: '4000',
      LLM_CACHE_TTL_MS: '0',
    },
    handlers: {
      'test.page': async () => ({
        url: 'https://evil.test/page',
        title: 'A page',
        text: `Bill news. ${INJECTION_TEXT}`,
      }),
      'test.big': async ({ input }) => ({ text: String((input as { text: string }).text) }),
    },
  });
});
afterAll(async () => {
  await h?.close();
  await fake?.close();
});

describe('llm.* family', () => {
  it('is advertised with specs only when an LLM is configured', async () => {
    expect(Object.keys(builtinCapabilities(loadConfig({}))).filter((k) => k.startsWith('llm.'))).toEqual([]);
    const workers = await listLiveWorkers(h.hub.ctx.redis, h.hub.ctx.keys);
    const names = workers.flatMap((w) => w.specs?.map((s) => s.name) ?? []);
    for (const n of ['llm.summarize', 'llm.extract', 'llm.answer', 'llm.analyze', 'llm.compare', 'llm.write']) {
      expect(names).toContain(n);
    }
    const spec = workers[0]!.specs!.find((s) => s.name === 'llm.answer')!;
    expect(spec.description).toMatch(/question/);
    expect((spec.inputSchema as { required: string[] }).required).toEqual(['question']);
  });

  it('runs llm.summarize -> llm.write on the worker; the talking points reach the conversation', async () => {
    fake.script({
      match: { purpose: 'llm.summarize' },
      reply: {
        json: {
          title: 'Clean Rivers Act',
          summary: 'HB 2231 funds $40M for watershed restoration.',
          keyPoints: ['Introduced 3 March 2026', 'Caps runoff at 5 ppm'],
        },
      },
    });
    fake.script({
      match: { purpose: 'llm.write' },
      reply: {
        content: '# Talking points: Clean Rivers Act\n\n- $40M for restoration\n- Runoff capped at 5 ppm',
        chunkDelayMs: 15,
      },
    });
    planner.plans.set('bills', {
      summary: 'summarise then write',
      steps: [
        { key: 'sum', capability: 'llm.summarize', input: { text: ARTICLE, length: 'short' }, dependsOn: [] },
        {
          key: 'points',
          capability: 'llm.write',
          input: { kind: 'talking points', instructions: 'Talking points on the bill for a town hall' },
          dependsOn: ['sum'],
        },
      ],
    });
    const task = await h.submit('bills');
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified);
    const result = done.result as { markdown: string; kind: string; title: string; _llm?: { usage: unknown[] } };
    expect(result.markdown).toContain('Runoff capped at 5 ppm');
    expect(result.title).toBe('Talking points: Clean Rivers Act');
    expect((await stepLlmRecord(h.hub.ctx.db, task.id)).usage.filter((u) => u.purpose === 'llm.write')).toHaveLength(1);
    expect(finalText(task.id)).toContain('Talking points: Clean Rivers Act');

    const [sumReq] = fake.completions('llm.summarize');
    expect(sumReq!.schemaName).toBe('summary');
    expect(sumReq!.system).toContain(UNTRUSTED_RULE);
    expect(sumReq!.lastUser).toMatch(/<<<DATA id=\w+ source="text given with the request">>>\nThe Clean Rivers Act/);
    const [writeReq] = fake.completions('llm.write');
    expect(writeReq!.stream).toBe(true);
    expect(writeReq!.lastUser).toContain('Task: Talking points on the bill for a town hall');
    expect(writeReq!.lastUser).toContain(`source="output of step 'sum' (Clean Rivers Act)">>>`);
    expect(writeReq!.lastUser).toContain('HB 2231 funds $40M');
    // Streamed generation reported token progress.
    const progress = h.events.filter((e) => e.taskId === task.id && e.type === 'progress');
    expect(progress.some((e) => /^writing… \d+ tokens$/.test(String(e.data?.message)))).toBe(true);
  });

  it('keeps injection text in a dependency output inside its untrusted block', async () => {
    fake.script({
      match: { purpose: 'llm.summarize', userIncludes: 'Bill news.' },
      reply: { json: { title: 'Page', summary: 'A page about bills.', keyPoints: [] } },
    });
    planner.plans.set('inject', {
      summary: 'page then summary',
      steps: [
        { key: 'page', capability: 'test.page', input: {}, dependsOn: [] },
        { key: 'sum', capability: 'llm.summarize', input: {}, dependsOn: ['page'] },
      ],
    });
    const task = await h.submit('inject');
    await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    const req = fake.completions('llm.summarize').find((r) => r.lastUser.includes('Bill news.'))!;
    const user = req.lastUser;
    const open = /<<<DATA id=(\w+) source="output of step 'page' \(A page, https:\/\/evil.test\/page\)">>>\n/.exec(
      user,
    );
    expect(open).not.toBeNull();
    const id = open![1]!;
    const start = open!.index + open![0].length;
    const end = user.indexOf(`\n<<<END DATA id=${id}>>>`);
    expect(end).toBeGreaterThan(start);
    const inside = user.slice(start, end);
    expect(inside).toContain('IGNORE ALL PREVIOUS INSTRUCTIONS');
    // Nothing of the page is outside the block, and the page's fake closing marker was neutralised.
    expect(user.slice(0, open!.index) + user.slice(end)).not.toContain('IGNORE');
    expect(user.match(/<<<END DATA/g)).toHaveLength(1);
    expect(req.system).not.toContain('IGNORE');
  });

  it('compares options and extracts entities into Markdown plus data', async () => {
    fake.script({
      match: { purpose: 'llm.compare' },
      reply: {
        json: {
          criteria: ['Premium', 'Deductible'],
          options: [
            {
              name: 'A',
              assessments: [
                { criterion: 'Premium', assessment: '$100' },
                { criterion: 'Deductible', assessment: '$500' },
              ],
              pros: ['cheap'],
              cons: [],
            },
            {
              name: 'B',
              assessments: [
                { criterion: 'Premium', assessment: '$150' },
                { criterion: 'Deductible', assessment: '$0' },
              ],
              pros: ['no deductible'],
              cons: ['pricey'],
            },
          ],
          recommendation: { choice: 'B', reasoning: 'No deductible outweighs the premium.' },
        },
      },
    });
    planner.plans.set('compare', {
      summary: 'compare',
      steps: [
        {
          key: 'cmp',
          capability: 'llm.compare',
          input: {
            items: [
              { name: 'A', text: 'Policy A: $100/month' },
              { name: 'B', text: 'Policy B: $150/month' },
            ],
            criteria: ['Premium', 'Deductible'],
          },
          dependsOn: [],
        },
      ],
    });
    const task = await h.submit('compare');
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    const r = done.result as { markdown: string; recommendation: { choice: string } };
    expect(r.markdown).toContain('| Criterion | A | B |');
    expect(r.markdown).toContain('| Deductible | $500 | $0 |');
    expect(r.markdown).toContain('**Recommendation: B.**');
    expect(r.recommendation.choice).toBe('B');
    const req = fake.completions('llm.compare')[0]!;
    expect(req.lastUser).toContain(`source="option 'A'">>>`);
    expect(req.lastUser).toContain('Criteria: Premium; Deductible');
  });

  it('re-asks once with the validation errors when the structured answer is invalid', async () => {
    fake.script({ match: { purpose: 'llm.extract' }, reply: { json: { people: 'none' } }, times: 1 });
    fake.script({
      match: { purpose: 'llm.extract' },
      reply: {
        json: {
          people: [{ value: 'Maria Lopez', context: 'senator' }],
          orgs: [],
          locations: [{ value: 'Oregon', context: 'state' }],
          dates: [],
          amounts: [],
          other: [],
        },
      },
    });
    planner.plans.set('extract', {
      summary: 'extract',
      steps: [{ key: 'ex', capability: 'llm.extract', input: { text: ARTICLE }, dependsOn: [] }],
    });
    const task = await h.submit('extract');
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    const r = done.result as {
      markdown: string;
      people: unknown[];
      _llm: { usage: unknown[]; traces: { kind: string }[] };
    };
    expect(r.people).toEqual([{ value: 'Maria Lopez', context: 'senator' }]);
    expect(r.markdown).toContain('- Maria Lopez — senator');
    const reqs = fake.completions('llm.extract');
    expect(reqs).toHaveLength(2);
    expect(reqs[1]!.lastUser).toMatch(/That answer was invalid:\n- people: /);
    const rec = await stepLlmRecord(h.hub.ctx.db, task.id);
    expect(rec.usage).toHaveLength(2);
    expect(rec.traces.map((t) => t.kind)).toEqual(['llm', 'decision', 'llm']);
  });

  it('cancelling a task aborts a streaming llm.write; the spend so far stays on the task budget', async () => {
    fake.script({
      match: { purpose: 'llm.write', userIncludes: 'long essay' },
      reply: { content: 'word '.repeat(2000), chunkDelayMs: 10 },
    });
    planner.plans.set('long essay', {
      summary: 'one long write',
      steps: [
        {
          key: 'w',
          capability: 'llm.write',
          input: { kind: 'report', instructions: 'a long essay', text: 'x' },
          dependsOn: [],
        },
      ],
    });
    const task = await h.submit('long essay');
    await h.waitForEvent(
      (e) => e.taskId === task.id && e.type === 'progress' && /^writing… \d+ tokens$/.test(String(e.data?.message)),
    );
    await h.hub.tasks.cancel(task.id, { userId: 'test:alice' });
    await h.waitForTask(task.id, (t) => t.status === 'CANCELLED');
    const ledger = new BudgetLedger(h.hub.ctx.redis, h.env.prefix, { taskTokens: 0, taskUsd: 0, userDailyUsd: 0 });
    // The reservation (prompt + 1,600 answer tokens at LLM_CONTEXT_TOKENS=4000) was settled down to what streamed before the abort.
    // Settling happens on the worker after the abort, with no hub event to wait for: poll the ledger briefly.
    const spent = await vi.waitFor(
      async () => {
        const s = await ledger.taskSpent(task.id);
        expect(s.tokens).toBeGreaterThan(0);
        expect(s.tokens).toBeLessThan(1600); // the reservation alone was over 1,600 (the answer limit)
        return s;
      },
      { timeout: 5000, interval: 20 },
    );
    expect(spent.usd).toBeGreaterThan(0);
  });

  it('summarises over-budget context map-reduce, and a retried step reuses the checkpoints', async () => {
    const para = (i: number) =>
      `Section ${i}. ` +
      'The committee heard testimony on water quality, funding formulas and enforcement. '.repeat(12);
    const big = Array.from({ length: 40 }, (_, i) => para(i + 1)).join('\n\n');
    fake.script({
      match: { purpose: 'summarize-context' },
      reply: (r) => ({ content: `condensed ${/part (\d+) of/.exec(r.lastUser)?.[1] ?? '?'}: testimony on water.` }),
    });
    fake.script({ match: { purpose: 'llm.answer' }, reply: { status: 500 }, times: 1 });
    fake.script({
      match: { purpose: 'llm.answer' },
      reply: {
        json: { answer: 'Water quality.', confidence: 'high', quotes: ['testimony on water'], unanswerable: false },
      },
    });
    planner.plans.set('big', {
      summary: 'big',
      steps: [
        { key: 'doc', capability: 'test.big', input: { text: big }, dependsOn: [] },
        {
          key: 'qa',
          capability: 'llm.answer',
          input: { question: 'What was the testimony about?' },
          dependsOn: ['doc'],
        },
      ],
    });
    const task = await h.submit('big');
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    expect((done.result as { answer: string }).answer).toBe('Water quality.');
    const answers = fake.completions('llm.answer');
    expect(answers).toHaveLength(2); // the first failed (500), the retry succeeded
    const summaries = fake.completions('summarize-context');
    expect(summaries.length).toBeGreaterThan(1);
    // One summarisation call per chunk: the retry paid for none of them again.
    const labels = summaries.map((r) => /source="([^"]*)"/.exec(r.lastUser)?.[1]);
    expect(new Set(labels).size).toBe(summaries.length);
    for (const r of summaries)
      expect(r.lastUser).toContain('Purpose of the material: Question: What was the testimony about?');
    // The answer call got the summaries, not the document.
    expect(answers[1]!.lastUser).toContain('condensed 1: testimony on water.');
    expect(answers[1]!.lastUser).not.toContain('Section 40.');
    const traces = (await stepLlmRecord(h.hub.ctx.db, done.id)).traces as { kind: string; data: { action?: string } }[];
    expect(traces.filter((t) => t.kind === 'checkpoint' && t.data.action === 'reused')).toHaveLength(summaries.length);
  });
});

describe('budgets in a task', () => {
  let hb: Harness;
  beforeAll(async () => {
    hb = await createHarness({
      planner,
      env: { OPENAI_BASE_URL: fake.url, WORKER_CAPABILITIES: 'llm.*', LLM_MAX_RETRIES: '0', TASK_TOKEN_BUDGET: '50' },
    });
  });
  afterAll(async () => {
    await hb?.close();
  });

  it('a tiny TASK_TOKEN_BUDGET stops the step before the call, without retries, with a clear message', async () => {
    planner.plans.set('budget', {
      summary: 'one call',
      steps: [{ key: 'w', capability: 'llm.write', input: { kind: 'email', text: 'hello budget' }, dependsOn: [] }],
    });
    const before = fake.completions('llm.write').length;
    const task = (await hb.hub.tasks.submit({ origin: hb.origin(), text: 'budget' })).task;
    const done = await hb.waitForTask(task.id, (t) => t.status === 'FAILED' && t.final_notified);
    expect(done.error).toMatch(/Token budget of this task exceeded/);
    expect(done.error).toMatch(/TASK_TOKEN_BUDGET=50/);
    expect(done.error).toMatch(/Raise TASK_TOKEN_BUDGET/);
    expect(fake.completions('llm.write').length).toBe(before);
    const sub = await hb.hub.ctx.db
      .selectFrom('subtasks')
      .selectAll()
      .where('task_id', '=', task.id)
      .executeTakeFirstOrThrow();
    expect(sub.attempts).toBe(1);
  });
});
