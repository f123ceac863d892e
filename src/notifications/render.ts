// Turns task state into the text people see in their conversation (the acknowledgement is core's renderAck).
import type { FrontendLimits } from '../frontends/frontend.ts';
import { markdownFor } from './markdown-text.ts';
import { formatDuration, progressLine, statusWord } from '../core/commands/describe-task.ts';
import { shortId } from '../core/ids.ts';
import type { TaskRow } from '../core/store/schema.ts';
import { usageLine } from '../core/traces/usage-text.ts';
import type { DerivedProgress } from '../core/types.ts';

/** "3 steps, 12.4k tokens, $0.018" for a task that made LLM calls, else empty. */
function usageNote(task: TaskRow): string {
  if (!task.llm_calls) return '';
  return `\n(${usageLine({ steps: task.plan_steps, tokens: task.llm_tokens, costUsd: task.llm_cost_usd, unpriced: task.llm_unpriced })})`;
}

/** The progress message: the task's live state in one line. */
export function renderProgress(task: TaskRow, p: DerivedProgress): string {
  return `Task ${shortId(task.id)}: ${progressLine(task.status, p)}`;
}

/** An info message from its outbox payload (the event that caused it and its data). */
export function renderInfo(task: TaskRow, payload: Record<string, unknown> | null): string {
  const data = (payload?.data ?? {}) as Record<string, unknown>;
  if (payload?.event === 'no_worker') {
    const caps = (data.capabilities as string[] | undefined)?.join(', ') ?? 'a needed capability';
    return `No worker is online for ${caps}; task ${shortId(task.id)} waits until one connects (or cancel it).`;
  }
  return String(data.message ?? payload?.text ?? `Task ${shortId(task.id)}: ${String(payload?.event ?? 'notice')}.`);
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
