// The AI part of the configuration, read from the one Config (the zod entries live in src/core/config.ts).
import type { Config } from '../config.ts';

/** Structured-output mode: constrained decoding (json_schema), JSON mode (json_object), or the schema in the prompt. */
export type StructuredOutputMode = 'json_schema' | 'json_object' | 'prompt';

/** What the LLM client and the budgets need from the configuration. */
export interface LlmSettings {
  apiKey: string | undefined;
  baseURL: string | undefined;
  model: string;
  plannerModel: string;
  structuredOutput: StructuredOutputMode;
  contextTokens: number;
  prices: Config['LLM_PRICES'];
  planner: 'auto' | 'llm' | 'rules';
  /** 0 = no limit. */
  taskBudgetUsd: number;
  /** 0 = no limit. */
  taskTokenBudget: number;
  /** 0 = no limit; admins are exempt. */
  userDailyBudgetUsd: number;
  cacheTtlMs: number;
  maxRetries: number;
  timeoutMs: number;
}

/** True when an LLM endpoint is configured (an API key or a base URL). */
export function llmConfigured(config: Config): boolean {
  return Boolean(config.OPENAI_API_KEY || config.OPENAI_BASE_URL);
}

/** The AI settings of a configuration. */
export function llmSettings(config: Config): LlmSettings {
  return {
    apiKey: config.OPENAI_API_KEY,
    baseURL: config.OPENAI_BASE_URL,
    model: config.LLM_MODEL,
    plannerModel: config.LLM_PLANNER_MODEL ?? config.LLM_MODEL,
    structuredOutput: config.LLM_STRUCTURED_OUTPUT,
    contextTokens: config.LLM_CONTEXT_TOKENS,
    prices: config.LLM_PRICES,
    planner: config.PLANNER,
    taskBudgetUsd: config.TASK_BUDGET_USD,
    taskTokenBudget: config.TASK_TOKEN_BUDGET,
    userDailyBudgetUsd: config.USER_DAILY_BUDGET_USD,
    cacheTtlMs: config.LLM_CACHE_TTL_MS,
    maxRetries: config.LLM_MAX_RETRIES,
    timeoutMs: config.LLM_TIMEOUT_MS,
  };
}

/** The one line said at start when no LLM is configured. */
export const LLM_DISABLED_HINT =
  'No LLM configured: planning uses the rule planner and llm.* capabilities are off. Set OPENAI_API_KEY (OpenAI) ' +
  'or OPENAI_BASE_URL (an OpenAI-compatible server such as Ollama or vLLM) to enable AI.';
