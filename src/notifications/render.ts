// Turns task state into the text people see in their conversation.
import type { FrontendLimits } from '../frontends/frontend.ts';
import { markdownFor } from './markdown-text.ts';
import { formatDuration } from '../core/commands/describe-task.ts';
import { shortId } from '../core/ids.ts';
import type { SubtaskRow, TaskRow } from '../core/store/schema.ts';
import { usageLine } from '../core/traces/usage-text.ts';
import type { DerivedProgress } from '../core/types.ts';

/** The acknowledgement sent when a task is accepted; later edited in place with progress. */
export function renderAck(task: TaskRow, subtasks: Array<Pick<SubtaskRow, 'capability'>>): string {
  if (task.question) return `Task ${shortId(task.id)} accepted: I need one answer before I can plan it.`;
  const caps = [...new Set(subtasks.map((s) => s.capability))].join(', ');
  return `Task ${shortId(task.id)} accepted: ${subtasks.length} step${subtasks.length === 1 ? '' : 's'} (${caps})${plannerNote(task)}. I'll update this message as it runs.`;
}

/** Which planner made the plan, when it is worth saying (an LLM plan, or the rule planner standing in for one). */
function plannerNote(task: TaskRow): string {
  const by = task.planned_by;
  if (!by) return '';
  if (by === 'llm') return ', planned by the LLM planner';
  return by.startsWith('rules (fallback') ? `, planned by the rule planner ${by.slice('rules '.length)}` : '';
}

/** "3 steps, 12.4k tokens, $0.018" for a task that made LLM calls, else empty. */
function usageNote(task: TaskRow): string {
  if (!task.llm_calls) return '';
  return `\n(${usageLine({ steps: task.plan_steps, tokens: task.llm_tokens, costUsd: task.llm_cost_usd, unpriced: task.llm_unpriced })})`;
}

/** One line of live progress. */
export function renderProgress(task: TaskRow, p: DerivedProgress): string {
  const parts = [`Task ${shortId(task.id)}: ${statusWord(task.status)} ${Math.floor(p.percent)}%`];
  if (p.stage) parts.push(p.stage);
  if (p.total) parts.push(`${p.done ?? 0}/${p.total} items`);
  if (p.etaMs !== undefined && p.percent < 100) parts.push(`ETA ${formatDuration(p.etaMs)}`);
  parts.push(`step ${Math.min(p.subtasksDone + 1, p.subtasksTotal)} of ${p.subtasksTotal}`);
  if (p.message) parts.push(p.message);
  return parts.join(' · ');
}

/** The one-line final state that replaces the progress message. */
export function renderFinalLine(task: TaskRow): string {
  const took =
    task.finished_at && task.created_at
      ? ` in ${formatDuration(task.finished_at.getTime() - task.created_at.getTime())}`
      : '';
  return `Task ${shortId(task.id)}: ${statusWord(task.status)}${took}.`;
}

/** The final message: the result, or why it failed and what to do. */
export function renderFinal(task: TaskRow, markup: FrontendLimits['markup'] = 'markdown'): string {
  const id = shortId(task.id);
  switch (task.status) {
    case 'COMPLETED':
      return `Task ${id} completed.\n${renderResult(task.result, markup)}${usageNote(task)}`;
    case 'FAILED':
      return `Task ${id} failed. ${task.error ?? ''}\nSay "retry ${id}" to run it again from the failed step.${usageNote(task)}`;
    case 'CANCELLED':
      return `Task ${id} was cancelled.`;
    case 'REJECTED':
      return `Task ${id} was rejected. ${task.error ?? ''}`;
    default:
      return `Task ${id} is ${task.status}.`;
  }
}

/** The request for a decision on a task waiting in REVIEW. */
export function renderReview(task: TaskRow): string {
  const id = shortId(task.id);
  if (task.question)
    return `Task ${id} needs an answer before it can be planned: ${task.question}\nReply "revise ${id} <your answer>" (or "reject ${id}" to drop it).`;
  const sofar =
    task.result === null || task.result === undefined ? '' : `\nResult so far:\n${renderResult(task.result)}`;
  return `Task ${id} is waiting for your review.${sofar}\nReply "approve ${id}", "reject ${id} [reason]" or "revise ${id} <what to change>".`;
}

/** A result as text: its `markdown` (in the platform's markup) or `text` field when it has one, else JSON. */
export function renderResult(result: unknown, markup: FrontendLimits['markup'] = 'markdown'): string {
  // Capabilities that write for people (llm.*, web.fetch, doc.extract) put the readable form in `markdown`, which
  // each platform gets in its own markup.
  const markdown = (result as { markdown?: unknown } | null)?.markdown;
  if (typeof markdown === 'string' && markdown.trim()) return markdownFor(markdown, markup);
  if (
    result &&
    typeof result === 'object' &&
    typeof (result as { text?: unknown }).text === 'string' &&
    Object.keys(result).length === 1
  ) {
    return (result as { text: string }).text;
  }
  return typeof result === 'string' ? result : JSON.stringify(result, null, 2);
}

function statusWord(status: string): string {
  return (
    (
      {
        ASSIGNED: 'queued',
        IN_PROGRESS: 'running',
        COMPLETED: 'completed',
        FAILED: 'failed',
        CANCELLED: 'cancelled',
        REJECTED: 'rejected',
        REVIEW: 'awaiting review',
      } as Record<string, string>
    )[status] ?? status.toLowerCase()
  );
}
