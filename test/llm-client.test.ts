// The LLM client against the local OpenAI fake, through the real openai SDK, with budgets in real Redis.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../src/core/config.ts';
import { createLogger } from '../src/core/logger.ts';
import { createRedis } from '../src/core/queues.ts';
import { BudgetLedger } from '../src/core/llm/budget.ts';
import { LlmClient, type BudgetScope } from '../src/core/llm/llm-client.ts';
import { llmConfigured } from '../src/core/llm/llm-config.ts';
import {
  BudgetExceededError,
  LlmOutputInvalidError,
  LlmRefusalError,
  LlmTruncatedError,
} from '../src/core/llm/llm-errors.ts';
import { costOf, priceOf } from '../src/core/llm/prices.ts';
import { chunkText } from '../src/core/llm/context-fitter.ts';
import { countTokens } from '../src/core/llm/tokens.ts';
import { traceText } from '../src/core/llm/trace.ts';
import { untrusted } from '../src/core/llm/untrusted.ts';
import { INJECTION_TEXT, startOpenAiFake, type OpenAiFake } from './fakes/openai-fake.ts';
import { redisUrl } from './helpers/test-env.ts';

const redis = createRedis(redisUrl());
const prefix = `sbt-llm-${randomBytes(4).toString('hex')}`;
const log = createLogger('silent');
let fake: OpenAiFake;

const scope = (taskId = `t-${randomBytes(4).toString('hex')}`, userId = 'test:alice', admin = false): BudgetScope => ({
  taskId,
  userId,
  admin,
});
const client = (env: Record<string, string> = {}) =>
  new LlmClient(
    loadConfig({ OPENAI_BASE_URL: fake.url, LLM_MAX_RETRIES: '2', REDIS_URL: redisUrl(), ...env }),
    redis,
    prefix,
    log,
  );
const Answer = z.object({ title: z.string(), points: z.array(z.string()) });

beforeAll(async () => {
  fake = await startOpenAiFake();
});
afterEach(() => fake.reset());
afterAll(async () => {
  await fake.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

describe('LlmClient against the fake', () => {
  it('is configured by a base URL or a key', () => {
    expect(llmConfigured(loadConfig({}))).toBe(false);
    expect(llmConfigured(loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' }))).toBe(true);
    expect(llmConfigured(loadConfig({ OPENAI_API_KEY: 'sk-test' }))).toBe(true);
    expect(() => loadConfig({ LLM_STRUCTURED_OUTPUT: 'xml' })).toThrow(
      /LLM_STRUCTURED_OUTPUT: json_schema, json_object or prompt/,
    );
    expect(() => loadConfig({ LLM_PRICES: '{"m":{"input":"x"}}' })).toThrow(/LLM_PRICES: JSON of USD per 1M tokens/);
  });

  it('makes a plain call and reports usage and cost from the API', async () => {
    fake.script({
      match: { purpose: 'unit' },
      reply: { content: 'hello there', usage: { prompt_tokens: 1000, completion_tokens: 500, cached_tokens: 200 } },
    });
    const r = await client().complete({
      purpose: 'unit',
      messages: [{ role: 'user', content: 'hi' }],
      budget: scope(),
    });
    expect(r.text).toBe('hello there');
    expect(r.usage).toMatchObject({
      model: 'gpt-5-mini',
      promptTokens: 1000,
      completionTokens: 500,
      cachedTokens: 200,
      priced: true,
      estimated: false,
      cached: false,
      finishReason: 'stop',
    });
    expect(r.usage.costUsd).toBeCloseTo(
      costOf('gpt-5-mini', { promptTokens: 1000, completionTokens: 500, cachedTokens: 200 }).costUsd,
      12,
    );
    expect(r.usage.costUsd).toBeCloseTo((800 * 0.25 + 200 * 0.025 + 500 * 2) / 1e6, 12);
    expect(fake.completions('unit')).toHaveLength(1);
    expect(r.trace).toMatchObject({ kind: 'llm', data: { purpose: 'unit', response: 'hello there' } });
  });

  it('marks an unknown model unpriced at cost 0, and LLM_PRICES prices it', async () => {
    const messages = [{ role: 'user' as const, content: 'x' }];
    const a = await client({ LLM_MODEL: 'llama3.1:8b' }).complete({ purpose: 'p', messages, budget: scope() });
    expect(a.usage).toMatchObject({ model: 'llama3.1:8b', costUsd: 0, priced: false });
    const b = await client({ LLM_MODEL: 'llama3.1:8b', LLM_PRICES: '{"llama3.1:8b":{"input":1,"output":1}}' }).complete(
      { purpose: 'p', messages, budget: scope() },
    );
    expect(b.usage.priced).toBe(true);
    expect(b.usage.costUsd).toBeGreaterThan(0);
  });

  it('streams with a final usage chunk and reports deltas', async () => {
    fake.script({
      reply: {
        content: 'The quick brown fox jumps over the lazy dog.',
        usage: { prompt_tokens: 12, completion_tokens: 11 },
      },
    });
    const seen: [string, number][] = [];
    const r = await client().complete({
      purpose: 'stream',
      messages: [{ role: 'user', content: 'go' }],
      budget: scope(),
      onDelta: (t, n) => seen.push([t, n]),
    });
    expect(r.text).toBe('The quick brown fox jumps over the lazy dog.');
    expect(seen.length).toBeGreaterThan(5);
    expect(seen.at(-1)![0]).toBe(r.text);
    expect(r.usage).toMatchObject({ promptTokens: 12, completionTokens: 11, estimated: false });
    const req = fake.completions('stream')[0]!;
    expect(req.stream).toBe(true);
    expect(req.body.stream_options).toEqual({ include_usage: true });
  });

  it('estimates usage with the tokenizer when a stream sends none', async () => {
    fake.script({ reply: { content: 'some words without usage', usage: null } });
    const r = await client().complete({
      purpose: 's',
      messages: [{ role: 'user', content: 'go' }],
      budget: scope(),
      onDelta: () => {},
    });
    expect(r.usage.estimated).toBe(true);
    expect(r.usage.completionTokens).toBeGreaterThan(0);
    expect(r.usage.promptTokens).toBeGreaterThan(0);
  });

  it('sends json_schema response_format and parses the answer', async () => {
    fake.script({ match: { schemaName: 'answer' }, reply: { json: { title: 'T', points: ['a', 'b'] } } });
    const r = await client().complete({
      purpose: 'js',
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'q' },
      ],
      schema: { name: 'answer', zod: Answer },
      budget: scope(),
    });
    expect(r.parsed).toEqual({ title: 'T', points: ['a', 'b'] });
    const body = fake.completions('js')[0]!.body;
    expect(body.response_format.type).toBe('json_schema');
    expect(body.response_format.json_schema).toMatchObject({ name: 'answer', strict: true });
    expect(body.response_format.json_schema.schema.required).toEqual(['title', 'points']);
    expect(body.messages[0].content).toBe('sys');
  });

  it('json_object mode: JSON mode plus the schema described in the system prompt', async () => {
    fake.script({ reply: { json: { title: 'T', points: [] } } });
    const r = await client({ LLM_STRUCTURED_OUTPUT: 'json_object' }).complete({
      purpose: 'jo',
      messages: [
        { role: 'system', content: 'sys' },
        { role: 'user', content: 'q' },
      ],
      schema: { name: 'answer', zod: Answer },
      budget: scope(),
    });
    expect(r.parsed).toEqual({ title: 'T', points: [] });
    const req = fake.completions('jo')[0]!;
    expect(req.body.response_format).toEqual({ type: 'json_object' });
    expect(req.system).toContain('sys');
    expect(req.system).toContain('JSON schema named "answer"');
    expect(req.system).toContain('"points"');
  });

  it('prompt mode: no response_format, schema in the prompt, JSON found inside prose or fences', async () => {
    fake.script({ reply: { content: 'Sure! ```json\n{"title":"T","points":["x"]}\n```' } });
    const r = await client({ LLM_STRUCTURED_OUTPUT: 'prompt' }).complete({
      purpose: 'pr',
      messages: [{ role: 'user', content: 'q' }],
      schema: { name: 'answer', zod: Answer },
      budget: scope(),
    });
    expect(r.parsed).toEqual({ title: 'T', points: ['x'] });
    const req = fake.completions('pr')[0]!;
    expect(req.body.response_format).toBeUndefined();
    expect(req.body.messages[0]).toMatchObject({ role: 'system' });
    expect(req.system).toContain('JSON schema named "answer"');
  });

  it('malformed or mismatching JSON is LlmOutputInvalidError with issues (usage kept)', async () => {
    fake.script({ reply: { fault: 'malformed-json' }, times: 1 });
    fake.script({ reply: { json: { title: 3 } }, times: 1 });
    const c = client();
    const call = {
      purpose: 'bad',
      messages: [{ role: 'user' as const, content: 'q' }],
      schema: { name: 'answer', zod: Answer },
      budget: scope(),
    };
    const e1 = await c.complete(call).catch((e) => e);
    expect(e1).toBeInstanceOf(LlmOutputInvalidError);
    expect(e1.message).toMatch(/not valid JSON/);
    expect(e1.usage.promptTokens).toBeGreaterThan(0);
    const e2 = await c.complete(call).catch((e) => e);
    expect(e2).toBeInstanceOf(LlmOutputInvalidError);
    expect(e2.issues.map((i: { path: string }) => i.path)).toEqual(['title', 'points']);
  });

  it('retries a 429 after retry-after, through the SDK', async () => {
    fake.script({ reply: { status: 429, retryAfterMs: 30 }, times: 1 });
    fake.script({ reply: { content: 'after the wait' } });
    const r = await client().complete({ purpose: 'rl', messages: [{ role: 'user', content: 'q' }], budget: scope() });
    expect(r.text).toBe('after the wait');
    const reqs = fake.completions('rl');
    expect(reqs).toHaveLength(2);
    expect(reqs[1]!.at - reqs[0]!.at).toBeGreaterThanOrEqual(25);
  });

  it('gives up on repeated 500s and releases the reservation', async () => {
    fake.script({ reply: { status: 500 } });
    const s = scope();
    const c = client({ LLM_MAX_RETRIES: '1' });
    await expect(c.complete({ purpose: 'e', messages: [{ role: 'user', content: 'q' }], budget: s })).rejects.toThrow(
      /500/,
    );
    expect(fake.completions('e')).toHaveLength(2);
    expect(await c.ledger.taskSpent(s.taskId)).toEqual({ tokens: 0, usd: 0 });
  });

  it('finish_reason length is LlmTruncatedError, plain and streamed', async () => {
    fake.script({ reply: { content: 'cut of', finishReason: 'length' } });
    const c = client();
    const e = await c
      .complete({ purpose: 'len', messages: [{ role: 'user', content: 'q' }], maxTokens: 3, budget: scope() })
      .catch((x) => x);
    expect(e).toBeInstanceOf(LlmTruncatedError);
    expect(e.partialText).toBe('cut of');
    expect(fake.completions('len')[0]!.body.max_completion_tokens).toBe(3);
    const e2 = await c
      .complete({ purpose: 'len', messages: [{ role: 'user', content: 'q' }], budget: scope(), onDelta: () => {} })
      .catch((x) => x);
    expect(e2).toBeInstanceOf(LlmTruncatedError);
  });

  it('a refusal is LlmRefusalError, plain and streamed', async () => {
    fake.script({ reply: { refusal: 'I cannot help with that.' } });
    const c = client();
    const e = await c
      .complete({ purpose: 'ref', messages: [{ role: 'user', content: 'q' }], budget: scope() })
      .catch((x) => x);
    expect(e).toBeInstanceOf(LlmRefusalError);
    expect(e.message).toContain('I cannot help with that.');
    const e2 = await c
      .complete({ purpose: 'ref', messages: [{ role: 'user', content: 'q' }], budget: scope(), onDelta: () => {} })
      .catch((x) => x);
    expect(e2).toBeInstanceOf(LlmRefusalError);
  });

  it('serves an identical call from the result cache', async () => {
    const c = client();
    const call = {
      purpose: 'cache',
      messages: [{ role: 'user' as const, content: `same ${Math.random()}` }],
      budget: scope(),
      cacheTtlMs: 60_000,
    };
    const a = await c.complete(call);
    const b = await c.complete({ ...call, budget: scope() });
    expect(b.text).toBe(a.text);
    expect(b.usage).toMatchObject({ cached: true, costUsd: 0, promptTokens: 0 });
    expect(fake.completions('cache')).toHaveLength(1);
    await c.complete({ ...call, temperature: 0.5 });
    expect(fake.completions('cache')).toHaveLength(2);
  });

  it('lists models through the SDK', async () => {
    const ids = [];
    for await (const m of client().sdk.models.list()) ids.push(m.id);
    expect(ids).toContain('gpt-5-mini');
  });
});

describe('budgets', () => {
  it('refuses before the call when TASK_TOKEN_BUDGET would be exceeded; the fake sees nothing', async () => {
    const c = client({ TASK_TOKEN_BUDGET: '100' });
    const e = await c
      .complete({ purpose: 'b', messages: [{ role: 'user', content: 'q' }], budget: scope() })
      .catch((x) => x);
    expect(e).toBeInstanceOf(BudgetExceededError);
    expect(e.permanent).toBe(true);
    expect(e.message).toMatch(/TASK_TOKEN_BUDGET=100/);
    expect(e.message).toMatch(/Raise TASK_TOKEN_BUDGET/);
    expect(fake.completions('b')).toHaveLength(0);
  });

  it('settles reservations to the real usage', async () => {
    fake.script({ reply: { content: 'x', usage: { prompt_tokens: 40, completion_tokens: 2 } } });
    const c = client();
    const s = scope();
    await c.complete({ purpose: 's', messages: [{ role: 'user', content: 'q' }], budget: s });
    await c.complete({ purpose: 's', messages: [{ role: 'user', content: 'q' }], budget: s });
    const spent = await c.ledger.taskSpent(s.taskId);
    expect(spent.tokens).toBe(84);
    expect(spent.usd).toBeCloseTo((80 * 0.25 + 4 * 2) / 1e6, 9);
  });

  it('the user daily budget applies to users, not admins', async () => {
    const c = client({ USER_DAILY_BUDGET_USD: '0.000001' });
    await expect(
      c.complete({ purpose: 'u', messages: [{ role: 'user', content: 'q' }], budget: scope(undefined, 'test:bob') }),
    ).rejects.toThrow(/USER_DAILY_BUDGET_USD/);
    const r = await c.complete({
      purpose: 'u',
      messages: [{ role: 'user', content: 'q' }],
      budget: scope(undefined, 'test:admin', true),
    });
    expect(r.text).toBeTruthy();
    expect(fake.completions('u')).toHaveLength(1);
  });

  it('an aborted stream is settled with what it cost so far, not released', async () => {
    fake.script({ match: { purpose: 'abort' }, reply: { content: 'word '.repeat(200), chunkDelayMs: 5 } });
    const c = client();
    const s = scope();
    const ac = new AbortController();
    const err = await c
      .complete({
        purpose: 'abort',
        messages: [{ role: 'user', content: 'q' }],
        budget: s,
        signal: ac.signal,
        onDelta: (_t, n) => {
          if (n === 10) ac.abort();
        },
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toMatch(/Abort/);
    const spent = await c.ledger.taskSpent(s.taskId);
    expect(spent.tokens).toBeGreaterThan(10);
    expect(spent.tokens).toBeLessThan(200);
  });

  it('two workers cannot overspend a task budget concurrently', async () => {
    // Each call reserves ~1,040 tokens (prompt + 1,024 output); the budget fits exactly three.
    fake.script({ reply: { content: 'x', delayMs: 100, usage: { prompt_tokens: 5, completion_tokens: 5 } } });
    const s = scope();
    const workers = [client({ TASK_TOKEN_BUDGET: '3200' }), client({ TASK_TOKEN_BUDGET: '3200' })];
    const calls = Array.from({ length: 10 }, (_, i) =>
      workers[i % 2]!.complete({ purpose: 'race', messages: [{ role: 'user', content: `q${i}` }], budget: s }),
    );
    const results = await Promise.allSettled(calls);
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok).toHaveLength(3);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(BudgetExceededError);
    expect(fake.completions('race')).toHaveLength(3);
  });

  it('the ledger is atomic under many concurrent reservations', async () => {
    const ledgers = [
      new BudgetLedger(redis, prefix, { taskTokens: 1000, taskUsd: 0, userDailyUsd: 0 }),
      new BudgetLedger(redis, prefix, { taskTokens: 1000, taskUsd: 0, userDailyUsd: 0 }),
    ];
    const s = scope();
    const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => ledgers[i % 2]!.reserve(s, 7, 0)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(142);
    expect((await ledgers[0]!.taskSpent(s.taskId)).tokens).toBe(994);
  });
});

describe('untrusted', () => {
  it('wraps outside text in a labelled block it cannot close', () => {
    const block = untrusted('web page https://x.test', INJECTION_TEXT);
    const id = /<<<DATA id=([0-9a-f]{12}) /.exec(block)![1];
    expect(block.startsWith(`<<<DATA id=${id} source="web page https://x.test">>>\n`)).toBe(true);
    expect(block.endsWith(`\n<<<END DATA id=${id}>>>`)).toBe(true);
    expect(block.match(/<<<END DATA/g)).toHaveLength(1);
    expect(block).toContain('IGNORE ALL PREVIOUS INSTRUCTIONS');
    expect(untrusted('a', 'b')).toBe(untrusted('a', 'b'));
  });
});

describe('helpers', () => {
  it('prices dated model ids like their base, and overrides win', () => {
    expect(priceOf('gpt-4o-2024-08-06')).toEqual(priceOf('gpt-4o'));
    expect(priceOf('gpt-4o', { 'gpt-4o': { input: 1, output: 1 } })).toEqual({ input: 1, output: 1 });
    expect(costOf('mystery', { promptTokens: 1e6, completionTokens: 1e6 })).toEqual({ costUsd: 0, priced: false });
  });

  it('chunks long text at paragraph boundaries within the token size', () => {
    const text = Array.from({ length: 30 }, (_, i) => `Paragraph ${i}. ${'word '.repeat(80)}`).join('\n\n');
    const chunks = chunkText(text, 300);
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.join('')).toBe(text);
    for (const c of chunks) expect(countTokens(c)).toBeLessThanOrEqual(330);
    expect(chunks.slice(1).every((c) => c.startsWith('\n\nParagraph'))).toBe(true);
  });

  it('traces are cut and credentials masked', () => {
    const t = traceText(`key sk-abcdefghijklmnopqrstuvwx and Bearer abc.def.ghi123 ${'x'.repeat(3000)}`);
    expect(t).not.toContain('sk-abcdefghij');
    expect(t).not.toContain('abc.def.ghi123');
    expect(t).toMatch(/more chars\]$/);
  });
});
