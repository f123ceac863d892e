// GET /api/tasks/:id/traces: a task's LLM exchanges, tool calls, decisions, checkpoints and errors, with usage.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HubContext } from '../../core/hub-context.ts';
import type { TaskService } from '../../core/tasks/task-service.ts';
import { loadTraces, usageSummary } from '../../core/traces/llm-accounting.ts';
import { callerOf } from './auth.ts';
import { useZodSchemas } from './openapi.ts';
import { taskParams } from './task-routes.ts';

const iso = (d: Date | string) => new Date(d).toISOString();

const usageTotals = z.object({
  calls: z.number(),
  promptTokens: z.number(),
  completionTokens: z.number(),
  cachedTokens: z.number(),
  tokens: z.number(),
  costUsd: z.number(),
  unpriced: z.boolean().describe('Some call used a model without a known price: costUsd is a lower bound'),
});

/** The answer of GET /api/tasks/:id/traces. */
export const tracesJson = z.object({
  taskId: z.string(),
  plannedBy: z.string().nullable(),
  totals: z.object({ task: usageTotals, userToday: usageTotals.describe("The task owner's usage today (UTC)") }),
  traces: z.array(
    z.object({
      id: z.string(),
      kind: z.string().describe('llm, tool, decision, checkpoint or error'),
      subtaskId: z.string().nullable(),
      at: z.string(),
      data: z.unknown().describe('What was recorded (JSON, by kind)'),
    }),
  ),
  usage: z.array(
    z.object({
      subtaskId: z.string().nullable(),
      purpose: z.string(),
      model: z.string(),
      promptTokens: z.number(),
      completionTokens: z.number(),
      cachedTokens: z.number(),
      costUsd: z.number(),
      priced: z.boolean(),
      latencyMs: z.number(),
      finishReason: z.string(),
      estimated: z.boolean(),
      cached: z.boolean(),
      at: z.string(),
    }),
  ),
});

/** Registers the trace route on an authenticated scope (same visibility as the task itself). */
export function registerTraceRoutes(scope: FastifyInstance, deps: { ctx: HubContext; tasks: TaskService }): void {
  useZodSchemas(scope);
  const app = scope.withTypeProvider<ZodTypeProvider>();
  app.get(
    '/api/tasks/:id/traces',
    {
      schema: {
        tags: ['tasks'],
        summary: "A task's LLM exchanges, tool calls, decisions and errors, with token usage and cost",
        params: taskParams,
        response: { 200: tracesJson },
      },
    },
    async (request) => {
      const task = await deps.tasks.findVisible(request.params.id, callerOf(request));
      const [{ traces, usage }, totals] = await Promise.all([
        loadTraces(deps.ctx.db, task.id),
        usageSummary(deps.ctx.db, task.id, task.user_id),
      ]);
      return {
        taskId: task.id,
        plannedBy: task.planned_by ?? null,
        totals,
        traces: traces.map((t) => ({
          id: String(t.id),
          kind: t.kind,
          subtaskId: t.subtask_id,
          at: iso(t.at),
          data: t.data,
        })),
        usage: usage.map((u) => ({
          subtaskId: u.subtask_id,
          purpose: u.purpose,
          model: u.model,
          promptTokens: u.prompt_tokens,
          completionTokens: u.completion_tokens,
          cachedTokens: u.cached_tokens,
          costUsd: u.cost_usd,
          priced: u.priced,
          latencyMs: u.latency_ms,
          finishReason: u.finish_reason,
          estimated: u.estimated,
          cached: u.cached,
          at: iso(u.created_at),
        })),
      };
    },
  );
}
