// Process-wide metrics: prom-client's defaults (CPU, memory, event loop, GC) and LLM usage, one set per process.
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { llmUsageObservers } from '../core/llm/llm-client.ts';

/** The registry of process-wide metrics; hub and worker registries are served together with it. */
export const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry, prefix: 'switchboard_' });

const llmTokens = new Counter({
  name: 'switchboard_llm_tokens_total',
  help: 'LLM tokens used, by model and kind (prompt or completion).',
  labelNames: ['model', 'kind'] as const,
  registers: [processRegistry],
});
const llmCost = new Counter({
  name: 'switchboard_llm_cost_usd_total',
  help: 'LLM spending in US dollars, by model.',
  labelNames: ['model'] as const,
  registers: [processRegistry],
});
const llmCalls = new Counter({
  name: 'switchboard_llm_calls_total',
  help: 'LLM calls, by model.',
  labelNames: ['model'] as const,
  registers: [processRegistry],
});

/** One model call's usage, as the AI layer records it. */
export interface LlmUsage {
  model: string;
  promptTokens?: number | undefined;
  completionTokens?: number | undefined;
  costUsd?: number | undefined;
}

/** Counts one model call's tokens and cost (call it wherever usage is recorded; cheap: three counter bumps). */
export function observeLlmUsage(usage: LlmUsage): void {
  const model = usage.model || 'unknown';
  llmCalls.inc({ model });
  if (usage.promptTokens) llmTokens.inc({ model, kind: 'prompt' }, usage.promptTokens);
  if (usage.completionTokens) llmTokens.inc({ model, kind: 'completion' }, usage.completionTokens);
  if (usage.costUsd) llmCost.inc({ model }, usage.costUsd);
}

llmUsageObservers.add(observeLlmUsage);

/** Prometheus text of the given registries plus the process-wide one. */
export async function exposition(...registries: Registry[]): Promise<string> {
  const parts = await Promise.all([...registries, processRegistry].map((r) => r.metrics()));
  return parts.filter(Boolean).join('\n');
}

/** The Prometheus text content type. */
export const METRICS_CONTENT_TYPE = processRegistry.contentType;
