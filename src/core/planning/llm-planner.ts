// The LLM planner: one structured-output call over the capabilities live workers advertise, validated before
// anything runs; one re-ask with the problems, then the rule planner. A truncated or refused answer is its own
// error, and a question instead of a plan makes the task wait for the user's answer.
import { HubError, InvalidInputError } from '../errors.ts';
import type { ChatCompletionMessageParam, LlmClient } from '../llm/llm-client.ts';
import {
  BudgetExceededError,
  LlmError,
  LlmOutputInvalidError,
  LlmRefusalError,
  LlmTruncatedError,
} from '../llm/llm-errors.ts';
import type { Logger } from '../logger.ts';
import { validatePlan, type Plan, type PlanRequest, type Planner, type PlanStep } from './plan.ts';
import type { TraceRecord, UsageRecord } from '../traces/llm-accounting.ts';
import type { CapabilitySpec } from '../types.ts';
import { InputValidator } from './input-validator.ts';
import { PLAN_PURPOSE, plannerRetryPrompt, plannerSystemPrompt, plannerUserPrompt } from './plan-prompt.ts';
import { PLAN_SCHEMA_NAME, planSchema, type RawPlan } from './plan-schema.ts';
import { fromStrictValue } from './strict-schema.ts';

/** What the planner needs of the LLM client. */
export type PlannerModel = Pick<LlmClient, 'complete'>;

/** The model's answer could not be used as a plan and was not repaired (cut off, refused). */
export class PlanningError extends HubError {
  constructor(message: string, cause?: unknown) {
    super(message, 'planning_failed', cause);
  }
}

/** Options of the LLM planner. */
export interface LlmPlannerOptions {
  model: PlannerModel;
  /** The capabilities live workers advertise now that this request's user may use. */
  specs: (request: PlanRequest) => Promise<CapabilitySpec[]>;
  /** Used when the model's plan is invalid twice, or the model cannot be reached. */
  fallback: Planner;
  log: Logger;
  /** LLM_PLANNER_MODEL; the client's default model when unset. */
  plannerModel?: string | undefined;
  maxSteps?: number;
  maxTokens?: number;
}

const TRACE_TEXT = 4000;
const cut = (s: string, n = TRACE_TEXT) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

/** Plans with a model over advertised capabilities; see the file comment. */
export class LlmPlanner implements Planner {
  private readonly inputs = new InputValidator();

  constructor(private readonly opts: LlmPlannerOptions) {}

  async plan(request: PlanRequest): Promise<Plan> {
    const started = performance.now();
    let modelMs = 0;
    const usage: UsageRecord[] = [];
    const traces: TraceRecord[] = [];
    const trace = (kind: TraceRecord['kind'], data: Record<string, unknown>) =>
      traces.push({ kind, at: Date.now(), subtaskId: undefined, data });
    const finish = (plan: Plan, decision: Record<string, unknown>): Plan => {
      const planMs = performance.now() - started;
      trace('decision', {
        ...decision,
        plannedBy: plan.plannedBy,
        planMs: Math.round(planMs * 10) / 10,
        modelMs: Math.round(modelMs * 10) / 10,
        overheadMs: Math.round((planMs - modelMs) * 10) / 10,
      });
      return { ...plan, llm: { usage, traces } };
    };
    const fallback = async (reason: string): Promise<Plan> => {
      this.opts.log.warn({ taskId: request.taskId, reason }, 'LLM plan unusable; the rule planner plans this task');
      const plan = await this.opts.fallback.plan(request);
      return finish({ ...plan, plannedBy: `rules (fallback: ${cut(reason, 300)})` }, { chosen: 'rules', reason });
    };

    const specs = dedupe(await this.opts.specs(request));
    if (specs.length === 0) return fallback('no live worker advertises a capability');
    const maxSteps = this.opts.maxSteps ?? 20;
    const schema = planSchema(specs);
    const messages: ChatCompletionMessageParam[] = [
      { role: 'system', content: plannerSystemPrompt(specs, maxSteps) },
      { role: 'user', content: plannerUserPrompt(request.text, request.feedback, request.question) },
    ];
    const budget = {
      taskId: request.taskId ?? 'unassigned',
      userId: request.userId,
      admin: Boolean(request.admin),
    };

    for (let attempt = 1; attempt <= 2; attempt++) {
      const t0 = performance.now();
      let raw: RawPlan | undefined;
      let text = '';
      let problems: string[];
      try {
        const res = await this.opts.model.complete({
          purpose: PLAN_PURPOSE,
          ...(this.opts.plannerModel ? { model: this.opts.plannerModel } : {}),
          messages,
          schema: { name: PLAN_SCHEMA_NAME, zod: schema },
          maxTokens: this.opts.maxTokens ?? 4000,
          temperature: 0,
          budget,
        });
        modelMs += performance.now() - t0;
        usage.push({ ...res.usage, purpose: PLAN_PURPOSE });
        traces.push({ ...res.trace, data: { ...res.trace.data, attempt } });
        text = res.text;
        raw = res.parsed;
        problems = raw ? [] : ['the answer is not a JSON plan'];
      } catch (err) {
        modelMs += performance.now() - t0;
        const message = err instanceof Error ? err.message : String(err);
        if (err instanceof LlmError) {
          if (err.usage) usage.push({ ...err.usage, purpose: PLAN_PURPOSE });
          if (err.trace) traces.push({ ...err.trace, data: { ...err.trace.data, attempt } });
        }
        trace('error', {
          purpose: PLAN_PURPOSE,
          attempt,
          error: err instanceof Error ? err.name : 'Error',
          message: cut(message, 1000),
        });
        if (err instanceof LlmTruncatedError)
          throw new PlanningError(
            `The planner's answer was cut off (the model hit its output limit), so no plan was made. Try a shorter request, or a model with a larger output limit (LLM_PLANNER_MODEL).`,
            err,
          );
        if (err instanceof LlmRefusalError)
          throw new PlanningError(`The planner model refused to plan this request: ${cut(err.refusal, 300)}`, err);
        if (err instanceof BudgetExceededError || err instanceof InvalidInputError) throw err;
        if (!(err instanceof LlmOutputInvalidError)) return fallback(`the LLM did not answer (${cut(message, 200)})`);
        text = err.text;
        problems = err.issues.length
          ? err.issues.slice(0, 20).map((i) => `${i.path || 'the answer'}: ${i.message}`)
          : [cut(message, 1000)];
      }
      let plan: Plan | undefined;
      if (raw && problems.length === 0) {
        const checked = this.check(raw, specs, request, maxSteps);
        problems = checked.problems;
        plan = checked.plan;
      }
      if (plan && problems.length === 0) {
        plan.plannedBy = 'llm';
        return finish(plan, {
          chosen: plan.question ? 'question' : 'llm',
          attempt,
          summary: plan.summary,
          ...(plan.question ? { question: plan.question } : {}),
          steps: plan.steps.map((s) => ({ key: s.key, capability: s.capability, dependsOn: s.dependsOn })),
        });
      }
      trace('decision', { chosen: 'reject', attempt, problems });
      if (attempt === 2) return fallback(`the LLM's plan was invalid twice: ${problems.slice(0, 3).join('; ')}`);
      messages.push(
        { role: 'assistant', content: text || '(no answer)' },
        { role: 'user', content: plannerRetryPrompt(problems) },
      );
    }
    return fallback('unreachable');
  }

  /** Turns the model's answer into a plan and lists everything wrong with it (nothing runs unless it is empty). */
  private check(
    raw: RawPlan,
    specs: CapabilitySpec[],
    request: PlanRequest,
    maxSteps: number,
  ): { plan?: Plan; problems: string[] } {
    const problems: string[] = [];
    if (raw.kind === 'question') {
      const question = (raw.question ?? '').trim();
      if (request.feedback) problems.push('the user has already answered or given feedback: make a plan, do not ask');
      else if (!question) problems.push('kind is "question" but the question is empty');
      else
        return {
          plan: { summary: raw.summary || 'a question', steps: [], question: question.slice(0, 1000) },
          problems,
        };
      return { problems };
    }
    const byName = new Map(specs.map((s) => [s.name, s]));
    if (raw.steps.length === 0) problems.push('the plan has no steps');
    if (raw.steps.length > maxSteps) problems.push(`the plan has ${raw.steps.length} steps; at most ${maxSteps}`);
    const steps: PlanStep[] = raw.steps.map((s) => {
      const spec = byName.get(s.capability);
      const label = `step "${s.key}"`;
      if (!spec) {
        problems.push(
          `${label} uses capability "${s.capability}", which no live worker offers; use one of ${[...byName.keys()].join(', ')}`,
        );
        return { key: s.key, capability: s.capability, input: s.input, dependsOn: s.dependsOn ?? [] };
      }
      const input = fromStrictValue(s.input ?? {}, spec.inputSchema);
      for (const p of this.inputs.check(spec, input)) problems.push(`${label} (${spec.name}): ${p}`);
      return {
        key: s.key,
        capability: s.capability,
        input,
        dependsOn: [...new Set(s.dependsOn ?? [])],
        ...(s.review ? { review: true } : {}),
        ...(s.title ? { title: s.title.slice(0, 200) } : {}),
      };
    });
    const plan: Plan = { summary: (raw.summary || `${steps.length} steps`).slice(0, 500), steps };
    if (steps.length) {
      try {
        validatePlan(plan);
      } catch (err) {
        problems.push((err as Error).message);
      }
      const answer = raw.answer ?? '';
      if (!steps.some((s) => s.key === answer)) problems.push(`"answer" must be the key of a step (got "${answer}")`);
      else {
        const feeds = ancestorsOf(answer, steps);
        const stray = steps.filter((s) => s.key !== answer && !feeds.has(s.key)).map((s) => s.key);
        if (stray.length) problems.push(`steps ${stray.join(', ')} do not lead to the answer step "${answer}"`);
      }
    }
    return { plan, problems };
  }
}

/** The steps a step depends on, directly or not. */
function ancestorsOf(key: string, steps: PlanStep[]): Set<string> {
  const byKey = new Map(steps.map((s) => [s.key, s]));
  const seen = new Set<string>();
  const stack = [...(byKey.get(key)?.dependsOn ?? [])];
  while (stack.length) {
    const k = stack.pop()!;
    if (seen.has(k)) continue;
    seen.add(k);
    stack.push(...(byKey.get(k)?.dependsOn ?? []));
  }
  return seen;
}

/** One spec per capability name (several workers advertise the same ones). */
function dedupe(specs: CapabilitySpec[]): CapabilitySpec[] {
  const seen = new Map<string, CapabilitySpec>();
  for (const s of specs) if (!seen.has(s.name)) seen.set(s.name, s);
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
}
