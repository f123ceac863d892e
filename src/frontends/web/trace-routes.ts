// GET /api/tasks/:id/traces: a task's LLM exchanges, tool calls, decisions, checkpoints and errors, with usage.
import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../../core/hub-context.ts';
import type { TaskService } from '../../core/task-service.ts';
import { loadTraces, usageSummary } from '../../core/traces/llm-accounting.ts';
import { callerOf } from './auth.ts';
import { parseInput } from './error-handler.ts';
import { taskParams } from './task-routes.ts';

const iso = (d: Date | string) => new Date(d).toISOString();

/** Registers the trace route on an authenticated scope (same visibility as the task itself). */
export function registerTraceRoutes(app: FastifyInstance, deps: { ctx: HubContext; tasks: TaskService }): void {
  app.get('/api/tasks/:id/traces', async (request) => {
    const { id } = parseInput(taskParams, request.params, 'task id');
    const task = await deps.tasks.findVisible(id, callerOf(request));
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
  });
}
