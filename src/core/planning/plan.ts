// The Planner seam and the validation every plan passes before it is stored.
import { validateCapability } from '../capability-pattern.ts';
import { InvalidInputError } from '../errors.ts';
import type { LlmRecord } from '../traces/llm-accounting.ts';

/** One step of a plan: a capability to run on an input once its dependencies have succeeded. */
export interface PlanStep {
  key: string;
  capability: string;
  input: unknown;
  dependsOn: string[];
  /** Pause the task in REVIEW once this step has succeeded, until someone approves. */
  review?: boolean | undefined;
  /** A short title for people (LLM plans). */
  title?: string | undefined;
}

/** A DAG of steps plus a one-line description for the user. */
export interface Plan {
  summary: string;
  steps: PlanStep[];
  /** Which planner made it ('llm', 'rules', 'rules (fallback: why)'); absent means the default planner. */
  plannedBy?: string | undefined;
  /** A clarifying question instead of steps: the task waits for the answer (`revise <id> <answer>`). */
  question?: string | undefined;
  /** Usage and traces of the model calls that made this plan, stored with the task. */
  llm?: LlmRecord | undefined;
}

/** What a planner sees of a request. */
export interface PlanRequest {
  text: string;
  userId: string;
  feedback?: string | undefined;
  /** The clarifying question `feedback` answers. */
  question?: string | undefined;
  /** The task being planned (for budgets and traces) and whether its owner is an admin (budget exemption). */
  taskId?: string | undefined;
  admin?: boolean | undefined;
  /** Files attached to the request (names and sizes; steps read the bytes through their job). */
  attachments?: Array<{ name: string; mediaType: string; size: number }> | undefined;
}

/** Turns a request into a plan. Rule-based now; an LLM planner plugs in here later. */
export interface Planner {
  plan(request: PlanRequest): Promise<Plan>;
}

/** Checks keys, capabilities, dependency references and acyclicity; throws InvalidInputError. */
export function validatePlan(plan: Plan): void {
  if (plan.steps.length === 0) throw new InvalidInputError('The plan has no steps.');
  if (plan.steps.length > 500) throw new InvalidInputError('The plan has more than 500 steps.');
  const keys = new Set<string>();
  for (const s of plan.steps) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(s.key)) throw new InvalidInputError(`Step key "${s.key}" is not valid.`);
    if (keys.has(s.key)) throw new InvalidInputError(`Step key "${s.key}" is used twice.`);
    keys.add(s.key);
    const bad = validateCapability(s.capability);
    if (bad) throw new InvalidInputError(bad);
  }
  for (const s of plan.steps) {
    for (const d of s.dependsOn) {
      if (!keys.has(d)) throw new InvalidInputError(`Step "${s.key}" depends on unknown step "${d}".`);
    }
  }
  // Kahn's algorithm: every step must be reachable in a topological order.
  const indeg = new Map(plan.steps.map((s) => [s.key, s.dependsOn.length]));
  const queue = plan.steps.filter((s) => s.dependsOn.length === 0).map((s) => s.key);
  let seen = 0;
  while (queue.length) {
    const k = queue.shift()!;
    seen++;
    for (const s of plan.steps) {
      if (s.dependsOn.includes(k)) {
        const n = indeg.get(s.key)! - 1;
        indeg.set(s.key, n);
        if (n === 0) queue.push(s.key);
      }
    }
  }
  if (seen !== plan.steps.length) throw new InvalidInputError('The plan has a dependency cycle.');
}
