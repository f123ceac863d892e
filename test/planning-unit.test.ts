// The planner's parts without a hub: strict schemas, the planner factory, budgets and fallbacks of LlmPlanner.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../src/core/config.ts';
import { ConfigError } from '../src/core/errors.ts';
import { LlmClient } from '../src/core/llm/llm-client.ts';
import { LLM_DISABLED_HINT } from '../src/core/llm/llm-config.ts';
import { BudgetExceededError } from '../src/core/llm/llm-errors.ts';
import { createLogger } from '../src/core/logger.ts';
import { createRedis } from '../src/core/queues.ts';
import { createPlanner } from '../src/core/planning/create-planner.ts';
import { LlmPlanner } from '../src/core/planning/llm-planner.ts';
import { fromStrictValue, toStrictSchema } from '../src/core/planning/strict-schema.ts';
import { RulePlanner } from '../src/core/planning/rule-planner.ts';
import { splitLlmOutput } from '../src/core/traces/llm-accounting.ts';
import { usageLine } from '../src/core/traces/usage-text.ts';
import type { CapabilitySpec } from '../src/core/types.ts';
import { specOf, defineCapability } from '../src/workers/define-capability.ts';
import { startOpenAiFake, type OpenAiFake } from './fakes/openai-fake.ts';
import { redisUrl } from './helpers/test-env.ts';

const fetchSpec = specOf(
  defineCapability({
    name: 'web.fetch',
    description: 'Fetches a page.',
    input: z.object({
      url: z.url(),
      headers: z.record(z.string(), z.string()).optional(),
      depth: z.number().int().min(0).max(3).default(0),
      tags: z.array(z.object({ name: z.string().min(1), weight: z.number().optional() })).optional(),
    }),
    handler: async () => null,
  }),
)!;

describe('strict schema', () => {
  it('closes objects, requires every property, makes optional ones nullable and drops unsupported keywords', () => {
    const s = toStrictSchema(fetchSpec.inputSchema) as any;
    expect(s.required).toEqual(['url', 'headers', 'depth', 'tags']);
    expect(s.additionalProperties).toBe(false);
    expect(s.properties.url).toMatchObject({ type: 'string', format: 'uri' });
    // A free-form map cannot be strict: it travels as JSON text.
    expect(s.properties.headers.type).toEqual(['string', 'null']);
    expect(s.properties.depth.type).toEqual(['integer', 'null']);
    expect(s.properties.depth.default).toBeUndefined();
    const item = s.properties.tags.items;
    expect(item).toMatchObject({ required: ['name', 'weight'], additionalProperties: false });
    expect(item.properties.name.minLength).toBeUndefined();
    expect(item.properties.weight.type).toEqual(['number', 'null']);
  });

  it('maps an answer back: nulls of optional fields removed, unknown fields dropped, JSON text parsed', () => {
    const back = fromStrictValue(
      { url: 'https://x.org', headers: '{"a":"b"}', depth: null, tags: [{ name: 't', weight: null, x: 1 }], more: 2 },
      fetchSpec.inputSchema,
    );
    expect(back).toEqual({ url: 'https://x.org', headers: { a: 'b' }, tags: [{ name: 't' }] });
  });
});

describe('accounting helpers', () => {
  it('strips the reserved _llm key and reads its payload leniently', () => {
    const { output, llm } = splitLlmOutput({
      text: 'hi',
      _llm: { usage: [{ model: 'm', promptTokens: 10, completionTokens: '5', costUsd: -1 }], traces: [{ kind: 'x' }] },
    });
    expect(output).toEqual({ text: 'hi' });
    expect(llm!.usage[0]).toMatchObject({ model: 'm', promptTokens: 10, completionTokens: 5, costUsd: 0 });
    expect(llm!.traces[0]!.kind).toBe('tool');
    expect(splitLlmOutput('plain').output).toBe('plain');
  });

  it('formats usage as people read it', () => {
    expect(usageLine({ steps: 3, tokens: 12_400, costUsd: 0.018 })).toBe('3 steps, 12.4k tokens, $0.018');
    expect(usageLine({ steps: 1, tokens: 900, costUsd: 0, unpriced: true })).toBe(
      '1 step, 900 tokens, ≥$0 (some models unpriced)',
    );
  });
});

describe('planner selection', () => {
  const ctxFor = (env: Record<string, string>) => {
    const lines: string[] = [];
    const log = createLogger('silent');
    const spy = Object.assign(Object.create(log), {
      info: (a: unknown, b?: unknown) => lines.push(typeof a === 'string' ? a : String(b)),
      child: () => spy,
    });
    const config = loadConfig(env);
    return { ctx: { config, log: spy, redis: null, keys: null } as never, lines };
  };

  it('without an LLM: the rule planner, and one line naming OPENAI_API_KEY and OPENAI_BASE_URL', () => {
    const { ctx, lines } = ctxFor({});
    expect(createPlanner(ctx)).toBeInstanceOf(RulePlanner);
    expect(lines).toEqual([LLM_DISABLED_HINT]);
    expect(LLM_DISABLED_HINT).toMatch(/OPENAI_API_KEY.*OPENAI_BASE_URL/);
  });

  it('PLANNER=llm without an LLM is a configuration error naming the fix', () => {
    expect(() => createPlanner(ctxFor({ PLANNER: 'llm' }).ctx)).toThrow(ConfigError);
    expect(() => createPlanner(ctxFor({ PLANNER: 'llm' }).ctx)).toThrow(/OPENAI_API_KEY/);
  });

  it('auto with a base URL plans with the LLM; rules stays rules', () => {
    const redis = createRedis(redisUrl());
    try {
      const base = { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' };
      expect(createPlanner({ ...(ctxFor(base).ctx as object), redis } as never)).toBeInstanceOf(LlmPlanner);
      expect(createPlanner(ctxFor({ ...base, PLANNER: 'rules' }).ctx)).toBeInstanceOf(RulePlanner);
    } finally {
      redis.disconnect();
    }
  });
});

describe('LlmPlanner against the fake', () => {
  let fake: OpenAiFake;
  const redis = createRedis(redisUrl());
  const prefix = `sbt-${randomBytes(4).toString('hex')}`;
  const log = createLogger('silent');
  const planner = (env: Record<string, string>, specs: CapabilitySpec[] = [fetchSpec]) =>
    new LlmPlanner({
      model: new LlmClient(loadConfig({ OPENAI_BASE_URL: fake.url, LLM_MAX_RETRIES: '0', ...env }), redis, prefix, log),
      specs: async () => specs,
      fallback: new RulePlanner(),
      log,
    });
  beforeAll(async () => {
    fake = await startOpenAiFake();
  });
  afterAll(async () => {
    await fake.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('a tiny TASK_TOKEN_BUDGET refuses the planning call before it is sent, naming the budget', async () => {
    const before = fake.completions().length;
    const err = await planner({ TASK_TOKEN_BUDGET: '50' })
      .plan({ text: 'fetch https://example.org', userId: 'test:u', taskId: `t-${randomBytes(3).toString('hex')}` })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExceededError);
    expect((err as Error).message).toMatch(/TASK_TOKEN_BUDGET/);
    expect(fake.completions().length).toBe(before);
  });

  it('with no advertised capability, or an unreachable model, the rule planner plans and says why', async () => {
    const none = await planner({}, []).plan({ text: 'hello', userId: 'test:u', taskId: 't-none' });
    expect(none.plannedBy).toBe('rules (fallback: no live worker advertises a capability)');
    fake.script({ match: { purpose: 'plan' }, reply: { status: 500 }, times: 1 });
    const down = await planner({}).plan({ text: 'hello', userId: 'test:u', taskId: 't-down' });
    expect(down.plannedBy).toMatch(/^rules \(fallback: the LLM did not answer/);
    expect(down.steps[0]!.capability).toBe('demo.echo');
  });

  it('a step that does not lead to the answer, or a cycle, is refused with a precise problem', async () => {
    const step = (key: string, dependsOn: string[]) => ({
      key,
      capability: 'web.fetch',
      title: key,
      input: { url: 'https://example.org', headers: null, depth: null, tags: null },
      dependsOn,
      review: null,
    });
    fake.script({
      match: { purpose: 'plan' },
      reply: {
        json: { kind: 'plan', question: null, summary: 's', answer: 'a', steps: [step('a', []), step('b', [])] },
      },
      times: 1,
    });
    fake.script({
      match: { purpose: 'plan' },
      reply: {
        json: { kind: 'plan', question: null, summary: 's', answer: 'a', steps: [step('a', ['b']), step('b', ['a'])] },
      },
      times: 1,
    });
    const p = await planner({}).plan({ text: 'x', userId: 'test:u', taskId: 't-stray' });
    expect(fake.completions('plan').at(-1)!.lastUser).toContain('steps b do not lead to the answer step "a"');
    expect(p.plannedBy).toBe("rules (fallback: the LLM's plan was invalid twice: The plan has a dependency cycle.)");
  });
});
