// A rule-based planner over the demo capabilities: plain, fan-out/join, diamond, failure, explicit capability.
import { planFileRequest, type FilePlanOptions } from '../artifacts/file-plans.ts';
import type { Plan, PlanRequest, Planner, PlanStep } from './plan.ts';

const MAX_FANOUT = 50;

/** Maps request wording to DAGs; anything unrecognised becomes one `demo.echo` step. */
export class RulePlanner implements Planner {
  constructor(private readonly files: FilePlanOptions = {}) {}

  async plan(request: PlanRequest): Promise<Plan> {
    const { text } = request;
    const t = text.trim();
    const lower = t.toLowerCase();

    // "use web.fetch: https://example.org" -> one step on that capability.
    const explicit = /^use\s+([a-z0-9][a-z0-9_.-]*)\s*:\s*([\s\S]*)$/i.exec(t);
    if (explicit) {
      return {
        summary: `1 step on ${explicit[1]!.toLowerCase()}`,
        steps: [step('main', explicit[1]!.toLowerCase(), { text: explicit[2]!.trim() })],
      };
    }
    const filePlan = planFileRequest(request, this.files);
    if (filePlan) return filePlan;
    if (/\b(fail|failure)\b/.test(lower) && /\b(demo|test|please|always)\b/.test(lower)) {
      return { summary: 'a step that always fails (demo.fail)', steps: [step('main', 'demo.fail', { text: t })] };
    }
    const flaky = /\bflaky(?:\s+(\d+))?\b/.exec(lower);
    if (flaky) {
      const failures = Math.min(Number(flaky[1] ?? 2), 20);
      return {
        summary: `a step that fails ${failures} time(s) first (demo.flaky)`,
        steps: [step('main', 'demo.flaky', { text: t, failures })],
      };
    }
    const sleep = /\b(?:sleep|long|wait)\b(?:\D+(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|seconds?)?)?/.exec(lower);
    const itemCount = /(\d+)\s+items\b/.exec(lower);
    // "long work", "sleep 10 seconds" or "process 500 items": long work with item progress.
    if (sleep || itemCount) {
      const n = Number(sleep?.[1] ?? 5);
      const ms = sleep?.[2] === 'ms' ? n : n * 1000;
      const items = Number(itemCount?.[1] ?? 2000);
      return {
        summary: `long work: ${items} items over ${Math.round(ms / 100) / 10}s (demo.sleep)`,
        steps: [step('main', 'demo.sleep', { text: t, items, durationMs: Math.min(ms, 3_600_000) })],
      };
    }
    if (/\bdiamond\b/.test(lower)) {
      return {
        summary: '4 steps: a, then b and c in parallel, then d joins them',
        steps: [
          step('a', 'demo.echo', { text: t, part: 'a' }),
          step('b', 'demo.echo', { text: t, part: 'b' }, ['a']),
          step('c', 'demo.echo', { text: t, part: 'c' }, ['a']),
          step('d', 'demo.echo', { text: t, part: 'd', join: true }, ['b', 'c']),
        ],
      };
    }
    const fan =
      /\b(\d+)\s+(?:parallel\s+)?(?:steps|branches|parts)\b/.exec(lower) ??
      (/\bparallel\b/.test(lower) ? ['', '3'] : null);
    if (fan) {
      const n = Math.max(1, Math.min(Number(fan[1]), MAX_FANOUT));
      const branches = Array.from({ length: n }, (_, i) => step(`part${i + 1}`, 'demo.echo', { text: t, part: i + 1 }));
      return {
        summary: `${n} parallel step(s) and a join`,
        steps: [
          ...branches,
          step(
            'join',
            'demo.echo',
            { text: t, join: true },
            branches.map((b) => b.key),
          ),
        ],
      };
    }
    return { summary: '1 step (demo.echo)', steps: [step('main', 'demo.echo', { text: t })] };
  }
}

function step(key: string, capability: string, input: unknown, dependsOn: string[] = []): PlanStep {
  return { key, capability, input, dependsOn };
}
