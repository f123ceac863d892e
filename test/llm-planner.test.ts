// The LLM planner end to end: a full hub on real Redis + Postgres, the real openai SDK against the local OpenAI
// fake, capabilities with the real names and schemas on an embedded worker, results in the origin conversation.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countTokens } from '../src/core/llm/tokens.ts';
import { renderFinal } from '../src/notifications/render.ts';
import type { TaskRow } from '../src/core/store/schema.ts';
import { startOpenAiFake, type FakeReply, type OpenAiFake, type RecordedRequest } from './fakes/openai-fake.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';
import { planningCapabilities } from './helpers/planning-capabilities.ts';

const execFileAsync = promisify(execFile);
let fake: OpenAiFake;
let h: Harness;

beforeAll(async () => {
  fake = await startOpenAiFake();
  const handlers = planningCapabilities();
  h = await createHarness({
    env: {
      OPENAI_BASE_URL: fake.url,
      LLM_MODEL: 'gpt-5-mini',
      LLM_MAX_RETRIES: '0',
      WORKER_CAPABILITIES: 'demo.*,web.*,doc.*,code.*,llm.*',
      // alice may analyse code (code.* is admins-only by default); everyone else keeps the default.
      CAPABILITY_ACL: '{"test:alice":["*"],"*":["!command.*","!code.*","*"]}',
    },
    handlers,
  });
});
afterEach(() => fake.reset());
afterAll(async () => {
  await h?.close();
  await fake?.close();
});

type Step = { key: string; capability: string; title: string; input: unknown; dependsOn: string[]; review: null };
const step = (key: string, capability: string, input: unknown, dependsOn: string[] = []): Step => ({
  key,
  capability,
  title: `${capability} ${key}`,
  input,
  dependsOn,
  review: null,
});
const plan = (summary: string, answer: string, steps: Step[]) => ({
  kind: 'plan',
  question: null,
  summary,
  answer,
  steps,
});
/** Scripts the planner's answer(s) for requests containing `text`, in order. */
const scriptPlan = (text: string, ...replies: FakeReply[]) => {
  for (const reply of replies)
    fake.script({
      match: (r) => r.purpose === 'plan' && JSON.stringify(r.body.messages).includes(text),
      reply,
      times: 1,
    });
};
const planCalls = () => fake.completions('plan');
/** Answers of the real llm.* capabilities (structured ones by schema name, llm.write by purpose). */
const answers = {
  analysis: () =>
    fake.script({
      match: { schemaName: 'analysis' },
      reply: {
        json: {
          title: 'Analysis',
          overview: 'What the material shows',
          findings: [{ title: 'A finding', detail: 'the detail', severity: 'medium' }],
          recommendations: ['Do the obvious thing first'],
        },
      },
    }),
  summary: (summary: string) =>
    fake.script({
      match: { schemaName: 'summary' },
      reply: { json: { title: 'Summary', summary, keyPoints: [summary] } },
    }),
  write: (content: string) => fake.script({ match: { purpose: 'llm.write' }, reply: { content } }),
};
const sentTo = (purpose: string) => JSON.stringify(fake.completions(purpose).map((r) => r.body.messages));
const finals = (taskId: string) =>
  h.chat
    .forTask(taskId)
    .filter((d) => d.op === 'send' && (d.message.kind === 'result' || d.message.kind === 'failure'));
const subtasksOf = (taskId: string) =>
  h.hub.ctx.db.selectFrom('subtasks').selectAll().where('task_id', '=', taskId).orderBy('key').execute();
const comparison = (names: string[], choice: string) => ({
  criteria: ['premium'],
  options: names.map((name) => ({
    name,
    assessments: [{ criterion: 'premium', assessment: `${name} costs ${name.length * 10}` }],
    pros: ['clear terms'],
    cons: [],
  })),
  recommendation: { choice, reasoning: 'the best value' },
});
const done = (t: TaskRow) => t.status === 'COMPLETED' && t.final_notified;
/** Tokens per plan (fake usage) and a tiktoken count of what was sent, for the report. */
const tokenReport: Array<Record<string, string | number>> = [];
const recordTokens = async (request: string, taskId: string, sent: RecordedRequest) => {
  const rows = await h.hub.ctx.db
    .selectFrom('llm_usage')
    .selectAll()
    .where('task_id', '=', taskId)
    .where('purpose', '=', 'plan')
    .execute();
  const messages = (sent.body.messages as Array<{ content: string }>).map((m) => m.content).join('\n');
  tokenReport.push({
    request,
    promptTokens: rows.reduce((n, r) => n + r.prompt_tokens, 0),
    completionTokens: rows.reduce((n, r) => n + r.completion_tokens, 0),
    tiktokenMessages: countTokens(messages),
    tiktokenSchema: countTokens(JSON.stringify(sent.body.response_format?.json_schema?.schema ?? {})),
  });
};

describe('LLM planner: the five example requests', () => {
  it('"Do my latest homework assignment": extract -> solve -> write, extra fields dropped', async () => {
    const request = 'Do my latest homework assignment';
    const p = plan('Read the assignment, solve it, write up the answers', 'write', [
      {
        ...step('fetch', 'doc.extract', { source: 'latest homework assignment', pages: null, color: 'red' }),
        extra: 1,
      },
      step('solve', 'llm.analyze', { text: null, instructions: 'Solve every problem in the assignment' }, ['fetch']),
      step(
        'write',
        'llm.write',
        { kind: 'answer', instructions: 'Write up the solutions', audience: null, tone: null, text: null },
        ['solve'],
      ),
    ] as Step[]);
    scriptPlan(request, { json: p });
    answers.analysis();
    answers.write('Solutions: 1) x = 4 2) y = 7');
    const task = await h.submit(request);
    const finished = await h.waitForTask(task.id, done);
    const subs = await subtasksOf(task.id);
    expect(subs.map((s) => [s.key, s.capability, s.depends_on])).toEqual([
      ['fetch', 'doc.extract', []],
      ['solve', 'llm.analyze', ['fetch']],
      ['write', 'llm.write', ['solve']],
    ]);
    // The unknown step field and input field never reach the worker; the optional null is removed.
    expect(subs[0]!.input).toEqual({ source: 'latest homework assignment' });
    expect(finished.result).toMatchObject({ markdown: 'Solutions: 1) x = 4 2) y = 7', kind: 'answer' });
    expect(finished.planned_by).toBe('llm');
    expect(sentTo('llm.analyze')).toContain('Text of latest homework assignment');
    const [final] = finals(task.id);
    expect(final!.message.text).toContain('Solutions: 1) x = 4');
    expect(final!.message.text).toMatch(/3 steps, [\d.]+k? tokens, \$\d/);
    // The request carried the structured-output schema, each step's input typed by its capability.
    const sent = planCalls()[0]!;
    expect(sent.schemaName).toBe('switchboard_plan');
    const schema = sent.body.response_format.json_schema;
    expect(schema.strict).toBe(true);
    const variants = schema.schema.properties.steps.items.anyOf as Array<{ properties: Record<string, any> }>;
    const fetchVariant = variants.find((v) => v.properties.capability.const === 'web.fetch')!;
    expect(fetchVariant.properties.input).toMatchObject({
      type: 'object',
      required: ['url', 'selector'],
      additionalProperties: false,
    });
    expect(fetchVariant.properties.input.properties.selector.type).toEqual(['string', 'null']);
    expect(variants.map((v) => v.properties.capability.const)).toEqual(
      expect.arrayContaining(['web.search', 'doc.extract', 'code.analyze', 'llm.write', 'llm.compare']),
    );
    // The schema is also described in the prompt (servers that ignore response_format).
    expect(sent.system).toContain('- web.fetch: Fetches a web page');
    expect(sent.system).toContain('"kind": "plan" or "question"');
    await recordTokens(request, task.id, sent);
  });

  it('"Research upcoming environmental bills and prepare talking points": two searches -> summary -> points', async () => {
    const request = 'Research upcoming environmental bills and prepare talking points';
    scriptPlan(request, {
      json: plan('Search federal and state bills, summarise, write talking points', 'points', [
        step('federal', 'web.search', {
          query: 'upcoming federal environmental bills',
          maxResults: 5,
          recency: 'month',
        }),
        step('state', 'web.search', { query: 'upcoming state environmental bills', maxResults: null, recency: null }),
        step(
          'summary',
          'llm.summarize',
          { text: null, instructions: 'What each bill does and its status', length: 'medium' },
          ['federal', 'state'],
        ),
        step(
          'points',
          'llm.write',
          { kind: 'talking points', instructions: null, audience: 'a city council', tone: null, text: null },
          ['summary'],
        ),
      ]),
    });
    answers.summary('Bill A cuts emissions; Bill B funds parks.');
    answers.write('- Bill A cuts emissions\n- Bill B funds parks');
    const task = await h.submit(request);
    const finished = await h.waitForTask(task.id, done);
    const subs = await subtasksOf(task.id);
    expect(subs.find((s) => s.key === 'summary')!.depends_on.sort()).toEqual(['federal', 'state']);
    expect(subs.find((s) => s.key === 'state')!.input).toEqual({ query: 'upcoming state environmental bills' });
    // The summary step's model call received both searches' outputs.
    expect(sentTo('llm.summarize')).toContain('upcoming federal environmental bills');
    expect(sentTo('llm.summarize')).toContain('upcoming state environmental bills');
    expect(sentTo('llm.write')).toContain('Bill B funds parks');
    expect(finished.result).toMatchObject({ markdown: '- Bill A cuts emissions\n- Bill B funds parks' });
    expect(finals(task.id)[0]!.message.text).toContain('Bill B funds parks');
    await recordTokens(request, task.id, planCalls()[0]!);
  });

  it('"Analyze and improve the logging system in my codebase": analyse -> review -> report', async () => {
    const request = 'Analyze and improve the logging system in my codebase';
    scriptPlan(request, {
      json: plan('Analyse the logging code, decide improvements, write a report', 'report', [
        step('scan', 'code.analyze', { repository: 'my codebase', focus: 'logging', paths: ['src'] }),
        step('review', 'llm.analyze', { text: null, instructions: 'What is wrong with the logging, how to fix it' }, [
          'scan',
        ]),
        step(
          'report',
          'llm.write',
          { kind: 'report', instructions: 'Concrete changes, file by file', audience: null, tone: null, text: null },
          ['review'],
        ),
      ]),
    });
    answers.analysis();
    answers.write('Report: use pino child loggers');
    const task = await h.submit(request);
    const finished = await h.waitForTask(task.id, done);
    expect((await subtasksOf(task.id)).map((s) => [s.key, s.capability])).toEqual([
      ['report', 'llm.write'],
      ['review', 'llm.analyze'],
      ['scan', 'code.analyze'],
    ]);
    expect(sentTo('llm.analyze')).toContain('console.log in hot path');
    expect(finished.result).toMatchObject({ markdown: 'Report: use pino child loggers', kind: 'report' });
    await recordTokens(request, task.id, planCalls()[0]!);
  });

  it('"Monitor this website for changes and summarize daily": a clarifying question, the answer, a new plan', async () => {
    const request = 'Monitor this website for changes and summarize daily';
    scriptPlan(request, {
      json: { kind: 'question', question: 'Which website should I monitor?', summary: '', answer: null, steps: [] },
    });
    const task = await h.submit(request);
    expect(task.status).toBe('REVIEW');
    expect(task.question).toBe('Which website should I monitor?');
    expect(await subtasksOf(task.id)).toEqual([]);
    const asked = await h.chat.waitFor((d) => d.message.taskId === task.id && d.message.text.includes('Which website'));
    expect(asked.message.text).toContain(`revise ${task.id.slice(0, 8)} <your answer>`);
    await expect(h.hub.tasks.approve(task.id, { userId: 'test:alice' })).rejects.toThrow(/waiting for an answer/);

    scriptPlan(request, {
      json: plan('Fetch the page and summarise what changed', 'summary', [
        step('fetch', 'web.fetch', { url: 'https://example.org/news', selector: null }),
        step(
          'summary',
          'llm.summarize',
          { text: null, instructions: 'What changed since yesterday', length: 'short' },
          ['fetch'],
        ),
      ]),
    });
    answers.summary('Today: two new articles.');
    await h.hub.tasks.revise(task.id, { userId: 'test:alice' }, 'https://example.org/news');
    const finished = await h.waitForTask(task.id, done);
    // The second planning call carried the question and the answer.
    const second = planCalls()[1]!;
    expect(second.lastUser).toContain('You asked: Which website should I monitor?');
    expect(second.lastUser).toContain('The user answered: https://example.org/news');
    expect(finished.question).toBeNull();
    expect((await subtasksOf(task.id)).map((s) => s.input)).toEqual([
      { url: 'https://example.org/news' },
      { instructions: 'What changed since yesterday', length: 'short' },
    ]);
    expect(finished.result).toMatchObject({ summary: 'Today: two new articles.' });
    await recordTokens(request, task.id, second);
  });

  it('"Compare these three insurance policies and recommend the best one": three extractions -> comparison', async () => {
    const request = 'Compare these three insurance policies and recommend the best one';
    scriptPlan(request, {
      json: plan('Read each policy, compare them and recommend one', 'compare', [
        step('p1', 'doc.extract', { source: 'policy-1.pdf', pages: null }),
        step('p2', 'doc.extract', { source: 'policy-2.pdf', pages: null }),
        step('p3', 'doc.extract', { source: 'policy-3.pdf', pages: null }),
        step(
          'compare',
          'llm.compare',
          { items: null, criteria: ['premium', 'deductible', 'coverage'], instructions: 'the best value for a family' },
          ['p1', 'p2', 'p3'],
        ),
      ]),
    });
    fake.script({ match: { schemaName: 'comparison' }, reply: { json: comparison(['p1', 'p2', 'p3'], 'p2') } });
    const task = await h.submit(request);
    const finished = await h.waitForTask(task.id, done);
    const subs = await subtasksOf(task.id);
    const compare = subs.find((s) => s.key === 'compare')!;
    for (const s of subs.filter((x) => x.key !== 'compare'))
      expect(s.finished_at!.getTime()).toBeLessThanOrEqual(compare.started_at!.getTime());
    expect(sentTo('llm.compare')).toContain('Text of policy-3.pdf');
    expect(finished.result).toMatchObject({ recommendation: { choice: 'p2' } });
    expect((finished.result as { markdown: string }).markdown).toContain('**Recommendation: p2.**');
    expect(finals(task.id)[0]!.message.text).toMatch(/4 steps, .* tokens/);
    await recordTokens(request, task.id, planCalls()[0]!);
    console.log(
      `tokens per plan (fake usage = chars/4 of the messages; tiktoken of the last request's messages and schema):\n${JSON.stringify(tokenReport, null, 1)}`,
    );
  });
});

describe('LLM planner: a question answered by a reply in the conversation', () => {
  it('the next plain message of the asker there is the answer, and the task is planned with it', async () => {
    const request = 'Watch that blog for me';
    scriptPlan(request, {
      json: { kind: 'question', question: 'Which blog?', summary: '', answer: null, steps: [] },
    });
    scriptPlan(request, {
      json: plan('Fetch and summarise the blog', 'sum', [
        step('page', 'web.fetch', { url: 'https://example.org/blog', selector: null }),
        step('sum', 'llm.summarize', { text: null, instructions: null, length: 'short' }, ['page']),
      ]),
    });
    answers.summary('Nothing new on the blog.');
    const origin = { ...h.origin('test:carol'), threadId: 'thread-9' };
    const ask = await h.hub.commands.handle({ eventId: 'q-1', origin, text: request, plainTextIsTask: true });
    expect(ask!.text).toMatch(/needs one answer first/);
    const taskId = ask!.taskId!;
    await h.chat.waitFor((d) => d.message.taskId === taskId && d.message.text.includes('Which blog?'));
    // Someone else's message, or one in another thread, is not the answer.
    expect(await h.hub.tasks.pendingQuestion({ ...origin, userId: 'test:dave' })).toBeUndefined();
    expect(await h.hub.tasks.pendingQuestion({ ...origin, threadId: 'other' })).toBeUndefined();
    const reply = await h.hub.commands.handle({
      eventId: 'q-2',
      origin,
      text: 'https://example.org/blog',
      plainTextIsTask: true,
    });
    expect(reply!.text).toContain('is planned with your answer');
    const finished = await h.waitForTask(taskId, done);
    expect(finished.result).toMatchObject({ summary: 'Nothing new on the blog.' });
    expect(planCalls()[1]!.lastUser).toContain('The user answered: https://example.org/blog');
  });
});

describe('LLM planner: invalid answers', () => {
  it('malformed JSON is re-asked once with the problem, and a valid second answer is used', async () => {
    const request = 'summarise https://example.org/report please';
    scriptPlan(
      request,
      { fault: 'malformed-json' },
      {
        json: plan('Fetch and summarise', 'sum', [
          step('page', 'web.fetch', { url: 'https://example.org/report', selector: null }),
          step('sum', 'llm.summarize', { text: null, instructions: null, length: null }, ['page']),
        ]),
      },
    );
    answers.summary('The report says X.');
    const task = await h.submit(request);
    await h.waitForTask(task.id, done);
    const calls = planCalls();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.lastUser).toContain('That plan cannot be used');
    expect(calls[1]!.lastUser).toMatch(/not valid JSON/);
    expect(task.planned_by).toBe('llm');
  });

  it('an unadvertised capability, then bad input: both refused before anything runs, the rule planner plans', async () => {
    const request = 'render a poster of a cat';
    scriptPlan(
      request,
      { json: plan('Render it', 'r', [step('r', 'gpu.render', { prompt: 'a cat' })]) },
      { json: plan('Fetch it', 'f', [step('f', 'web.fetch', { url: 'not a url', selector: null })]) },
    );
    const task = await h.submit(request);
    expect(task.planned_by).toMatch(/^rules \(fallback: the LLM's plan was invalid twice/);
    const subs = await subtasksOf(task.id);
    expect(subs.map((s) => s.capability)).toEqual(['demo.echo']);
    const calls = planCalls();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.lastUser).toContain('uses capability "gpu.render", which no live worker offers');
    expect(task.planned_by).toContain('url must match format "uri"');
    // The user is told which planner made the plan.
    const ack = await h.chat.waitFor((d) => d.message.taskId === task.id && d.message.kind === 'ack');
    expect(ack.message.text).toContain('planned by the rule planner (fallback');
    await h.waitForTask(task.id, done);
    const decision = await h.hub.ctx.db
      .selectFrom('task_traces')
      .selectAll()
      .where('task_id', '=', task.id)
      .where('kind', '=', 'decision')
      .orderBy('id')
      .execute();
    expect(decision.map((d) => d.data.chosen)).toEqual(['reject', 'reject', 'rules']);
  });

  it('plans only over what the user may use: code.* is not offered to bob, and a plan with it is refused', async () => {
    const request = 'look through my repository for logging calls';
    const analyse = plan('Analyse', 'a', [step('a', 'code.analyze', { source: '/srv/app', topic: 'logging' })]);
    scriptPlan(request, { json: analyse }, { json: analyse });
    const task = await h.submit(request, 'test:bob');
    const calls = planCalls();
    const variants = calls[0]!.body.response_format.json_schema.schema.properties.steps.items.anyOf as Array<{
      properties: { capability: { const: string } };
    }>;
    const offered = variants.map((v) => v.properties.capability.const);
    expect(offered).toContain('web.fetch');
    expect(offered).not.toContain('code.analyze');
    expect(calls[1]!.lastUser).toContain('uses capability "code.analyze", which no live worker offers');
    expect(task.planned_by).toMatch(/^rules \(fallback/);
    await h.waitForTask(task.id, done);
  });

  it('a truncated or refused answer is its own error, and no task is created', async () => {
    scriptPlan('write a novel', { content: '{"kind":"plan","steps":[{"key":"a"', finishReason: 'length' });
    await expect(h.submit('write a novel')).rejects.toThrow(/cut off/);
    scriptPlan('do something bad', { refusal: 'I cannot help with that.' });
    await expect(h.submit('do something bad')).rejects.toThrow(/refused to plan this request: I cannot help/);
    const tasks = await h.hub.ctx.db
      .selectFrom('tasks')
      .select('id')
      .where('text', 'in', ['write a novel', 'do something bad'])
      .execute();
    expect(tasks).toEqual([]);
  });
});

describe('LLM accounting', () => {
  it('usage and traces of the plan and the steps reach the API, and no step output keeps _llm', async () => {
    const request = 'Compare plan A and plan B';
    scriptPlan(request, {
      json: plan('Compare', 'cmp', [
        step('a', 'doc.extract', { source: 'a.pdf', pages: null }),
        step('b', 'doc.extract', { source: 'b.pdf', pages: null }),
        step('cmp', 'llm.compare', { items: null, criteria: ['price'], instructions: null }, ['a', 'b']),
      ]),
      usage: { prompt_tokens: 1800, completion_tokens: 200 },
    });
    fake.script({
      match: { schemaName: 'comparison' },
      reply: { json: comparison(['a', 'b'], 'a'), usage: { prompt_tokens: 1000, completion_tokens: 100 } },
    });
    const base = h.hub.web.url();
    const auth = { authorization: 'Bearer alice-token-1', 'content-type': 'application/json' };
    const created = await fetch(`${base}/api/tasks`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ text: request }),
    }).then((r) => r.json() as Promise<any>);
    const id = created.task.id as string;
    await h.waitForTask(id, done);
    const subs = await subtasksOf(id);
    expect(subs.every((s) => !JSON.stringify(s.output).includes('_llm'))).toBe(true);
    const detail = await fetch(`${base}/api/tasks/${id}`, { headers: auth }).then((r) => r.json() as Promise<any>);
    expect(detail.task.plannedBy).toBe('llm');
    expect(detail.task.llm).toMatchObject({ calls: 2, tokens: 3100 });
    expect(detail.task.usage.task).toMatchObject({ calls: 2, promptTokens: 2800, completionTokens: 300, tokens: 3100 });
    // gpt-5-mini at 0.25 / 2 USD per 1M tokens: 2800 in, 300 out.
    expect(detail.task.usage.task.costUsd).toBeCloseTo((2800 * 0.25 + 300 * 2) / 1e6, 8);
    expect(detail.task.usage.userToday.calls).toBeGreaterThanOrEqual(2);
    const traces = await fetch(`${base}/api/tasks/${id}/traces`, { headers: auth }).then(
      (r) => r.json() as Promise<any>,
    );
    expect(traces.usage.map((u: { purpose: string }) => u.purpose)).toEqual(['plan', 'llm.compare']);
    const kinds = traces.traces.map((t: { kind: string }) => t.kind);
    expect(kinds.filter((k: string) => k === 'llm')).toHaveLength(2);
    expect(kinds).toContain('decision');
    const stepTrace = traces.traces.find((t: { subtaskId: string | null }) => t.subtaskId);
    expect(stepTrace.subtaskId).toBe(subs.find((s) => s.key === 'cmp')!.id);
    expect(JSON.stringify(traces)).not.toContain('alice-token-1');
    // Another user cannot read them.
    const other = await fetch(`${base}/api/tasks/${id}/traces`, { headers: { authorization: 'Bearer bob-token-22' } });
    expect(other.status).toBe(404);
    // The audit trail has the plan, its model, tokens and cost.
    const planned = await h.hub.ctx.db
      .selectFrom('task_events')
      .selectAll()
      .where('task_id', '=', id)
      .where('type', '=', 'planned')
      .executeTakeFirstOrThrow();
    expect(planned.data).toMatchObject({
      plannedBy: 'llm',
      llm: { model: 'gpt-5-mini', tokens: 2000 },
      steps: [{ key: 'a', title: 'doc.extract a' }, { key: 'b' }, { key: 'cmp', dependsOn: ['a', 'b'] }],
    });
    // The final message (this task answers on the web frontend) carries the totals.
    const row = await h.hub.ctx.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(renderFinal(row)).toContain('(3 steps, 3.1k tokens, $0.0013)');
    // The CLI shows the planner, the totals and (with --trace) the trace.
    const { stdout } = await execFileAsync(process.execPath, ['bin/switchboard.js', 'tasks', 'show', id, '--trace'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, SWITCHBOARD_URL: base, SWITCHBOARD_TOKEN: 'alice-token-1', NO_COLOR: '1' },
    });
    expect(stdout).toContain('planner   llm');
    expect(stdout).toMatch(/LLM {7}2 calls, 3\.1k tokens, \$0\.0013 \(2800 in, 300 out, 0 cached\)/);
    expect(stdout).toContain('Trace:');
    expect(stdout).toMatch(/plan {13}gpt-5-mini {2}1800\+200 tokens/);
    expect(stdout).toMatch(/llm\.compare {6}gpt-5-mini {2}1000\+100 tokens/);
  });
});

const real = Boolean(process.env.OPENAI_BASE_URL || process.env.OPENAI_API_KEY) && !process.env.CI;
describe.skipIf(!real)(
  'against a real endpoint (skipped unless OPENAI_BASE_URL/OPENAI_API_KEY are set and CI is not)',
  () => {
    it('plans a research request into a valid DAG over the advertised capabilities', async () => {
      const { LlmPlanner } = await import('../src/core/planning/llm-planner.ts');
      const { LlmClient } = await import('../src/core/llm/llm-client.ts');
      const { loadConfig } = await import('../src/core/config.ts');
      const { advertisedSpecs } = await import('../src/core/planning/create-planner.ts');
      const { RulePlanner } = await import('../src/core/planning/rule-planner.ts');
      const config = loadConfig({ ...process.env, REDIS_URL: h.env.config.REDIS_URL, QUEUE_PREFIX: h.env.prefix });
      const planner = new LlmPlanner({
        model: new LlmClient(config, h.hub.ctx.redis, h.env.prefix, h.hub.ctx.log),
        specs: () => advertisedSpecs(h.hub.ctx.redis, h.hub.ctx.keys),
        fallback: new RulePlanner(),
        log: h.hub.ctx.log,
        plannerModel: config.LLM_PLANNER_MODEL,
      });
      const p = await planner.plan({
        text: 'Research upcoming environmental bills and prepare talking points',
        userId: 'test:real',
        taskId: 'real-endpoint-test',
      });
      expect(p.plannedBy).toBe('llm');
      expect(p.steps.length).toBeGreaterThan(1);
    }, 120_000);
  },
);
