// `tasks show` additions: the planner, LLM totals of the task and its owner today, and the trace (--trace).
import { usageLine } from '../core/traces/usage-text.ts';
import { truncate } from './format.ts';

interface Totals {
  calls: number;
  tokens: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  costUsd: number;
  unpriced: boolean;
}

/** What GET /api/tasks/:id adds for AI work. */
export interface TaskAiView {
  plannedBy?: string | null;
  question?: string | null;
  subtasks?: unknown[];
  usage?: { task: Totals; userToday: Totals };
}

/** What GET /api/tasks/:id/traces returns. */
export interface TracesView {
  traces: Array<{ kind: string; subtaskId: string | null; at: string; data: Record<string, unknown> }>;
  usage: Array<{
    purpose: string;
    model: string;
    promptTokens: number;
    completionTokens: number;
    costUsd: number;
    latencyMs: number;
    finishReason: string;
    cached: boolean;
  }>;
}

const totalsText = (t: Totals) =>
  `${t.calls} call${t.calls === 1 ? '' : 's'}, ${usageLine(t)} (${t.promptTokens} in, ${t.completionTokens} out, ${t.cachedTokens} cached)`;

/** Lines for the planner, a pending question and LLM totals; empty when there is nothing to say. */
export function aiSummary(t: TaskAiView): string {
  const out: string[] = [];
  if (t.plannedBy) out.push(`  planner   ${t.plannedBy}`);
  if (t.question) out.push(`  question  ${t.question}`);
  if (t.usage?.task.calls) out.push(`  LLM       ${totalsText(t.usage.task)}`);
  if (t.usage?.userToday.calls) out.push(`  you today ${totalsText(t.usage.userToday)}`);
  return out.join('\n');
}

/** The trace, one line per entry, then each LLM call. */
export function traceText(v: TracesView): string {
  const out = ['', 'Trace:'];
  if (v.traces.length === 0) out.push('  (none)');
  for (const t of v.traces) {
    const step = t.subtaskId ? ` [${t.subtaskId.slice(0, 8)}]` : '';
    out.push(`  ${t.at}  ${t.kind.padEnd(10)}${step}  ${truncate(JSON.stringify(t.data), 160)}`);
  }
  if (v.usage.length) {
    out.push('', 'LLM calls:');
    for (const u of v.usage)
      out.push(
        `  ${u.purpose.padEnd(16)} ${u.model}  ${u.promptTokens}+${u.completionTokens} tokens  $${u.costUsd.toFixed(4)}  ${u.latencyMs}ms  ${u.finishReason}${u.cached ? '  (cached)' : ''}`,
      );
  }
  return out.join('\n');
}
