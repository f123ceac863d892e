// Scenario 8: LLM tasks against the local OpenAI fake (no model time): a 2-step plan made by the LLM planner over
// the specs a worker process advertises, then run to the final message. Measures what the hub adds around the
// model call: the planner's own work (specs, schema, validation, traces) and the whole submit beyond the call.
import { startOpenAiFake } from '../../test/fakes/openai-fake.ts';
import { benchOrigin } from '../lib/bench-frontend.ts';
import { startBenchHub } from '../lib/bench-hub.ts';
import type { BenchEnv } from '../lib/env.ts';
import { nowMs, summarize, type LatencySummary } from '../lib/stats.ts';

/** What scenario 8 measured. */
export interface LlmPlannerResult {
  tasks: number;
  /** Time inside the LLM client's call (budget reservation, HTTP to the fake, settlement, parsing). */
  modelCall: LatencySummary;
  /** The planner's time beyond the model call. */
  plannerOverhead: LatencySummary;
  /** submit() beyond the model call: planning overhead plus persisting the task, usage and trace. */
  submitOverhead: LatencySummary;
  /** Submit to the final message in the conversation (2 demo steps). */
  endToEnd: LatencySummary;
  planTokens: { prompt: number; completion: number };
}

const PLAN = {
  kind: 'plan',
  question: null,
  summary: 'echo twice',
  answer: 'second',
  steps: [
    {
      key: 'first',
      capability: 'demo.echo',
      title: 'first',
      input: { text: 'one', part: null },
      dependsOn: [],
      review: null,
    },
    {
      key: 'second',
      capability: 'demo.echo',
      title: 'second',
      input: { text: 'two', part: null },
      dependsOn: ['first'],
      review: null,
    },
  ],
};

/** Runs scenario 8 on its own hub and worker process. */
export async function runLlmPlanner(env: BenchEnv, opts: { quick: boolean }): Promise<LlmPlannerResult> {
  const fake = await startOpenAiFake();
  fake.script({ match: { purpose: 'plan' }, reply: { json: PLAN } });
  const h = await startBenchHub(env, 'llm', {
    config: { OPENAI_BASE_URL: fake.url, LLM_MODEL: 'gpt-5-mini', LLM_CACHE_TTL_MS: '0', PROGRESS_INTERVAL_MS: '0' },
  });
  const worker = env.spawnWorkerCli(h.prefix, 'demo.*', 16);
  try {
    await env.waitForWorkers(h.prefix, 1);
    const warm = 20;
    const n = opts.quick ? 50 : 300;
    const submitMs = new Map<string, number>();
    const started = new Map<string, number>();
    for (let i = 0; i < warm + n; i++) {
      const t0 = nowMs();
      const { task } = await h.hub.tasks.submit({ origin: benchOrigin('llm', i), text: `bench llm task #${i}` });
      if (i >= warm) {
        submitMs.set(task.id, nowMs() - t0);
        started.set(task.id, t0);
      }
    }
    const ids = [...submitMs.keys()];
    if (!(await h.finals.waitFor(ids, 120_000))) throw new Error('LLM tasks did not all finish in 120 s');
    const decisions = await h.hub.ctx.db
      .selectFrom('task_traces')
      .select(['task_id', 'data'])
      .where('task_id', 'in', ids)
      .where('kind', '=', 'decision')
      .execute();
    const byTask = new Map(decisions.map((d) => [d.task_id, d.data as { modelMs: number; overheadMs: number }]));
    const usage = await h.hub.ctx.db
      .selectFrom('llm_usage')
      .select(['prompt_tokens', 'completion_tokens'])
      .where('task_id', '=', ids[0]!)
      .executeTakeFirstOrThrow();
    return {
      tasks: n,
      modelCall: summarize(ids.map((id) => byTask.get(id)!.modelMs)),
      plannerOverhead: summarize(ids.map((id) => byTask.get(id)!.overheadMs)),
      submitOverhead: summarize(ids.map((id) => submitMs.get(id)! - byTask.get(id)!.modelMs)),
      endToEnd: summarize(ids.map((id) => h.finals.finals.get(id)! - started.get(id)!)),
      planTokens: { prompt: usage.prompt_tokens, completion: usage.completion_tokens },
    };
  } finally {
    await env.stopChild(worker);
    await h.close();
    await fake.close();
  }
}
