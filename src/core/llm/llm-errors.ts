// Errors of LLM calls. `permanent` ones must not be retried (a retry would be refused or fail the same way).
import { HubError } from '../errors.ts';
import type { LlmUsage } from './llm-client.ts';
import type { TraceEntry } from './trace.ts';

/** Base of LLM call errors; a call that reached the model carries its usage and trace (the tokens were spent). */
export abstract class LlmError extends HubError {
  abstract readonly permanent: boolean;
  usage?: LlmUsage | undefined;
  trace?: TraceEntry | undefined;
}

/** A call would exceed a budget; refused before anything was sent. Permanent. */
export class BudgetExceededError extends LlmError {
  readonly permanent = true;
  constructor(
    message: string,
    /** Which budget: 'TASK_TOKEN_BUDGET', 'TASK_BUDGET_USD' or 'USER_DAILY_BUDGET_USD'. */
    readonly budget: string,
  ) {
    super(message, 'budget_exceeded');
  }
}

/** The model stopped at its output limit (finish_reason "length"); the text is incomplete. */
export class LlmTruncatedError extends LlmError {
  readonly permanent = false;
  constructor(
    message: string,
    readonly partialText: string,
  ) {
    super(message, 'llm_truncated');
  }
}

/** The model refused to answer. Permanent for the same request. */
export class LlmRefusalError extends LlmError {
  readonly permanent = true;
  constructor(readonly refusal: string) {
    super(`The model refused: ${refusal.slice(0, 300)}`, 'llm_refusal');
  }
}

/** One problem with a structured answer, by path. */
export interface OutputIssue {
  path: string;
  message: string;
}

/** The structured answer is not valid JSON or does not match the schema; `issues` can be sent back in a re-ask. */
export class LlmOutputInvalidError extends LlmError {
  readonly permanent = false;
  constructor(
    message: string,
    readonly issues: OutputIssue[],
    readonly text: string,
  ) {
    super(message, 'llm_output_invalid');
  }
}

/** True for errors a retry cannot fix (budget refusals, refusals). */
export function isPermanentLlmError(err: unknown): boolean {
  return err instanceof LlmError && err.permanent;
}
