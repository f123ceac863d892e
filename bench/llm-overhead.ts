// Per-call overhead of LlmClient (cache lookup + budget reserve + settle + cache write + token estimate) over a
// raw openai SDK call, both against the local OpenAI fake. Run: npx tsx bench/llm-overhead.ts [calls]
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { loadConfig } from '../src/core/config.ts';
import { LlmClient } from '../src/core/llm/llm-client.ts';
import { createLogger } from '../src/core/logger.ts';
import { createRedis } from '../src/core/queues.ts';
import { startOpenAiFake } from '../test/fakes/openai-fake.ts';

const N = Number(process.argv[2] ?? 400);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms`;

const fake = await startOpenAiFake();
fake.script({
  reply: { content: 'A short answer of a few words.', usage: { prompt_tokens: 600, completion_tokens: 8 } },
});
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = createRedis(redisUrl);
const prefix = `bench-llm-${randomBytes(4).toString('hex')}`;
const client = new LlmClient(
  loadConfig({ OPENAI_BASE_URL: fake.url, LLM_MAX_RETRIES: '0', TASK_TOKEN_BUDGET: '0', TASK_BUDGET_USD: '0' }),
  redis,
  prefix,
  createLogger('silent'),
);
const raw = new OpenAI({ apiKey: 'x', baseURL: fake.url, maxRetries: 0 });
const system = 'You are a careful assistant. '.repeat(12);
const body = 'The committee heard testimony on water quality, funding formulas and enforcement. '.repeat(25);
const messages = (i: number) => [
  { role: 'system' as const, content: system },
  { role: 'user' as const, content: `${i} ${body}` },
];
const budget = { taskId: 'bench', userId: 'bench:user', admin: false };

const rawMs: number[] = [];
const clientMs: number[] = [];
const hitMs: number[] = [];
for (let i = -50; i < N; i++) {
  let t = performance.now();
  await raw.chat.completions.create({ model: 'gpt-5-mini', messages: messages(i) });
  if (i >= 0) rawMs.push(performance.now() - t);
  t = performance.now();
  await client.complete({ purpose: 'bench', messages: messages(i + 1_000_000), budget, cacheTtlMs: 60_000 });
  if (i >= 0) clientMs.push(performance.now() - t);
  t = performance.now();
  await client.complete({ purpose: 'bench', messages: messages(i + 1_000_000), budget, cacheTtlMs: 60_000 });
  if (i >= 0) hitMs.push(performance.now() - t);
}
const diff = rawMs.map((r, i) => clientMs[i]! - r);
console.log(`calls: ${N} each, prompt ~${system.length + body.length} chars`);
console.log(`raw SDK call to the fake:        ${fmt(rawMs)}`);
console.log(`LlmClient.complete (cache miss): ${fmt(clientMs)}`);
console.log(`LlmClient.complete (cache hit):  ${fmt(hitMs)}`);
console.log(`overhead per call (paired diff): p50 ${pct(diff, 50).toFixed(2)} ms, p99 ${pct(diff, 99).toFixed(2)} ms`);
const keys = await redis.keys(`${prefix}:*`);
if (keys.length) await redis.del(...keys);
redis.disconnect();
await fake.close();
