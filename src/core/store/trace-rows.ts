// Row types of the AI accounting tables (migration 0030): per-call LLM usage and task traces.
import type { ColumnType, Generated, Selectable } from 'kysely';

/** A row of `llm_usage`: one model call made for a task (by the planner or a step). */
export interface LlmUsageTable {
  id: Generated<string>;
  task_id: string;
  subtask_id: string | null;
  user_id: string;
  purpose: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cost_usd: number;
  priced: boolean;
  latency_ms: number;
  finish_reason: string;
  estimated: boolean;
  cached: boolean;
  created_at: Generated<Date>;
}

/** A row of `task_traces`: an LLM exchange, a tool call, a decision, a checkpoint or an error. */
export interface TaskTracesTable {
  id: Generated<string>;
  task_id: string;
  subtask_id: string | null;
  kind: string;
  at: ColumnType<Date, Date | string, Date | string>;
  data: ColumnType<Record<string, unknown>, string, string>;
}

export type LlmUsageRow = Selectable<LlmUsageTable>;
export type TaskTraceRow = Selectable<TaskTracesTable>;
