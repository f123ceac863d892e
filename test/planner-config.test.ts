import { describe, expect, it } from 'vitest';
import { loadConfig, policyFor } from '../src/core/config.ts';
import { ConfigError, InvalidInputError } from '../src/core/errors.ts';
import { validatePlan } from '../src/core/planning/plan.ts';
import { RulePlanner } from '../src/core/planning/rule-planner.ts';
import { splitText } from '../src/core/text.ts';
import { renderProgress } from '../src/notifications/render.ts';

const planner = new RulePlanner();
const plan = (text: string) => planner.plan({ text, userId: 'test:u' });

describe('rule planner', () => {
  it('plans a plain request as one echo step', async () => {
    const p = await plan('summarise the news');
    expect(p.steps).toEqual([
      { key: 'main', capability: 'demo.echo', input: { text: 'summarise the news' }, dependsOn: [] },
    ]);
  });

  it('fans out N steps with a join that depends on every branch', async () => {
    const p = await plan('do it in 3 steps');
    expect(p.steps.map((s) => s.key)).toEqual(['part1', 'part2', 'part3', 'join']);
    expect(p.steps[3]!.dependsOn).toEqual(['part1', 'part2', 'part3']);
    validatePlan(p);
  });

  it('plans a diamond', async () => {
    const p = await plan('diamond please');
    expect(p.steps.map((s) => [s.key, s.dependsOn])).toEqual([
      ['a', []],
      ['b', ['a']],
      ['c', ['a']],
      ['d', ['b', 'c']],
    ]);
  });

  it('recognises failure, flaky, long work and explicit capabilities', async () => {
    expect((await plan('demo fail')).steps[0]!.capability).toBe('demo.fail');
    expect((await plan('flaky 2')).steps[0]).toMatchObject({ capability: 'demo.flaky', input: { failures: 2 } });
    expect((await plan('sleep 2 seconds')).steps[0]).toMatchObject({
      capability: 'demo.sleep',
      input: { durationMs: 2000, items: 2000 },
    });
    expect((await plan('use gpu.render: a cat')).steps[0]).toMatchObject({
      capability: 'gpu.render',
      input: { text: 'a cat' },
    });
  });

  it('refuses bad plans', () => {
    const step = (key: string, dependsOn: string[] = [], capability = 'demo.echo') => ({
      key,
      capability,
      input: null,
      dependsOn,
    });
    expect(() => validatePlan({ summary: '', steps: [] })).toThrow(InvalidInputError);
    expect(() => validatePlan({ summary: '', steps: [step('a', ['b']), step('b', ['a'])] })).toThrow(/cycle/);
    expect(() => validatePlan({ summary: '', steps: [step('a', ['zz'])] })).toThrow(/unknown step "zz"/);
    expect(() => validatePlan({ summary: '', steps: [step('a'), step('a')] })).toThrow(/used twice/);
    expect(() => validatePlan({ summary: '', steps: [step('a', [], 'Bad Cap')] })).toThrow(/not a capability name/);
  });
});

describe('config', () => {
  it('applies defaults', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(3000);
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.HUB_API_TOKENS.size).toBe(0);
    expect(c.WORKER_CAPABILITIES).toEqual(['demo.*']);
  });

  it('parses tokens, admins and per-capability policies', () => {
    const c = loadConfig({
      HUB_API_TOKENS: 'alice=s3cretT0ken,bob=an0therOne',
      HUB_ADMINS: 'telegram:42,web:alice',
      CAPABILITY_POLICIES: '{"demo.flaky":{"attempts":5}}',
      DEFAULT_BACKOFF_MS: '10',
    });
    expect(c.HUB_API_TOKENS.get('s3cretT0ken')).toBe('alice');
    expect(c.HUB_ADMINS).toEqual(['telegram:42', 'web:alice']);
    expect(policyFor(c, 'demo.flaky')).toMatchObject({ attempts: 5, backoffMs: 10 });
    expect(policyFor(c, 'demo.echo').attempts).toBe(3);
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT/],
    [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL: must start with redis:\/\//],
    [{ DATABASE_URL: 'mysql://x/y' }, /DATABASE_URL/],
    [{ HUB_ADMINS: 'alice' }, /HUB_ADMINS: each admin is platform:id/],
    [{ HUB_API_TOKENS: 'alice' }, /HUB_API_TOKENS: each entry is user=token/],
    [{ CAPABILITY_POLICIES: '{nope' }, /CAPABILITY_POLICIES: is not valid JSON/],
    [{ WORKER_CAPABILITIES: 'Demo Stuff' }, /WORKER_CAPABILITIES/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
  ])('refuses %o naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('rendering', () => {
  it('splits long text at line or word boundaries within the limit', () => {
    const text = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ');
    const parts = splitText(text, 100);
    expect(parts.every((p) => p.length <= 100)).toBe(true);
    expect(parts.join(' ')).toBe(text);
    expect(splitText('short', 100)).toEqual(['short']);
  });

  it('renders progress with percent, items and ETA', () => {
    const task = { id: '12345678-aaaa', status: 'IN_PROGRESS' } as never;
    const line = renderProgress(task, {
      percent: 45.6,
      elapsedMs: 1000,
      etaMs: 12_000,
      done: 900,
      total: 2000,
      stage: 'working',
      subtasksDone: 0,
      subtasksTotal: 1,
    });
    expect(line).toBe('Task 12345678: running 45% · working · 900/2000 items · ETA 12s · step 1 of 1');
  });
});
