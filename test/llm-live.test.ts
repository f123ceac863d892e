// Opt-in: the client against a real endpoint, when OPENAI_BASE_URL or OPENAI_API_KEY is set (never in CI).
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../src/core/config.ts';
import { createLogger } from '../src/core/logger.ts';
import { LlmClient } from '../src/core/llm/llm-client.ts';
import { createRedis } from '../src/core/queues.ts';
import { redisUrl } from './helpers/test-env.ts';

const live = Boolean((process.env.OPENAI_BASE_URL || process.env.OPENAI_API_KEY) && !process.env.CI);

describe.skipIf(!live)('LLM client against a real endpoint (opt-in)', () => {
  const redis = createRedis(redisUrl());
  const prefix = `sbt-live-${randomBytes(4).toString('hex')}`;
  const client = new LlmClient(
    loadConfig({ ...process.env, TASK_BUDGET_USD: '0.05' }),
    redis,
    prefix,
    createLogger('silent'),
  );
  const budget = { taskId: 'live', userId: 'test:live', admin: true };
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('answers a plain and a structured call with usage', async () => {
    const plain = await client.complete({ purpose: 'live', messages: [{ role: 'user', content: 'Say OK.' }], budget });
    expect(plain.text.length).toBeGreaterThan(0);
    expect(plain.usage.promptTokens).toBeGreaterThan(0);
    const structured = await client.complete({
      purpose: 'live',
      messages: [{ role: 'user', content: 'Name two primary colours.' }],
      schema: { name: 'colours', zod: z.object({ colours: z.array(z.string()) }) },
      budget,
    });
    expect(structured.parsed?.colours.length).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
