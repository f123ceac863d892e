// The hub side of LLM accounting: strips the reserved `_llm` key from job outputs and stores usage and traces,
// in the caller's transaction, with running totals on the task row; totals per task and per user for the views.
import { sql, type Kysely, type Transaction } from 'kysely';
import { z } from 'zod';
import type { Database } from '../store/schema.ts';
import type { LlmUsageRow, TaskTraceRow } from '../store/trace-rows.ts';

type Db = Kysely<Database> | Transaction<Database>;

/** The reserved output key under which workers hand usage and traces to the hub. */
export const LLM_OUTPUT_KEY = '_llm';

const count = z.coerce.number().finite().nonnegative().catch(0);
const usageSchema = z.object({
  purpose: z.string().max(200).optional().catch(undefined),
  model: z.string().max(200).catch('unknown'),
  promptTokens: count.transform(Math.round),
  completionTokens: count.transform(Math.round),
  cachedTokens: count.transform(Math.round),
  costUsd: count,
  priced: z.boolean().catch(true),
  latencyMs: count.transform(Math.round),
  finishReason: z.string().max(100).catch(''),
  estimated: z.boolean().catch(false),
  cached: z.boolean().catch(false),
});
const traceSchema = z.object({
  kind: z.enum(['llm', 'tool', 'decision', 'checkpoint', 'error']).catch('tool'),
  at: z
    .number()
    .finite()
    .catch(() => Date.now()),
  subtaskId: z.string().max(100).optional().catch(undefined),
  data: z.record(z.string(), z.unknown()).catch({}),
});
const payloadSchema = z.object({
  usage: z.array(z.unknown()).catch([]),
  traces: z.array(z.unknown()).catch([]),
});

/** One model call as the hub stores it (a subset of the worker's LlmUsage, plus what it was for). */
export type UsageRecord = z.output<typeof usageSchema>;
/** One trace entry as the hub stores it. */
export type TraceRecord = z.output<typeof traceSchema>;
/** Usage and traces of one step or one planning call. */
export interface LlmRecord {
  usage: UsageRecord[];
  traces: TraceRecord[];
}

/** Largest stored trace entry (JSON characters); bigger request/response texts are cut. */
const MAX_TRACE_CHARS = 16_000;
const SECRET = /\b(sk-[A-Za-z0-9_-]{12,}|Bearer\s+[A-Za-z0-9._~+/-]{12,})/g;

/** Reads a worker's `_llm` payload leniently: malformed entries are dropped or defaulted, never fatal. */
export function parseLlmRecord(raw: unknown): LlmRecord | null {
  if (!raw || typeof raw !== 'object') return null;
  const p = payloadSchema.parse(raw);
  const usage = p.usage.flatMap((u) => {
    const r = usageSchema.safeParse(u ?? {});
    return r.success ? [r.data] : [];
  });
  const traces = p.traces.flatMap((t) => {
    const r = traceSchema.safeParse(t ?? {});
    return r.success ? [r.data] : [];
  });
  return usage.length || traces.length ? { usage, traces } : null;
}

/** Splits a job output into what is stored as the step's output and the `_llm` accounting payload. */
export function splitLlmOutput(output: unknown): { output: unknown; llm: LlmRecord | null } {
  if (!output || typeof output !== 'object' || Array.isArray(output) || !(LLM_OUTPUT_KEY in output))
    return { output, llm: null };
  const { [LLM_OUTPUT_KEY]: raw, ...rest } = output as Record<string, unknown>;
  return { output: rest, llm: parseLlmRecord(raw) };
}

/** A trace entry's data as stored: secrets masked, long texts cut. */
function storedData(data: Record<string, unknown>): string {
  let text = JSON.stringify(data).replace(SECRET, '[redacted]');
  if (text.length > MAX_TRACE_CHARS)
    text = JSON.stringify({ truncated: true, chars: text.length, head: text.slice(0, MAX_TRACE_CHARS - 200) });
  return text;
}

/** Stores usage and traces for a task (and step; `purpose` defaults to its capability) and adds the usage to the task's running totals. */
export async function recordLlm(
  db: Db,
  scope: { taskId: string; subtaskId: string | null; userId: string; purpose?: string },
  llm: LlmRecord,
): Promise<void> {
  if (llm.usage.length) {
    await db
      .insertInto('llm_usage')
      .values(
        llm.usage.map((u) => ({
          task_id: scope.taskId,
          subtask_id: scope.subtaskId,
          user_id: scope.userId,
          purpose: u.purpose ?? scope.purpose ?? 'llm',
          model: u.model,
          prompt_tokens: u.promptTokens,
          completion_tokens: u.completionTokens,
          cached_tokens: u.cachedTokens,
          cost_usd: u.costUsd,
          priced: u.priced,
          latency_ms: u.latencyMs,
          finish_reason: u.finishReason,
          estimated: u.estimated,
          cached: u.cached,
        })),
      )
      .execute();
    const t = totalsOf(llm.usage);
    await db
      .updateTable('tasks')
      .set((eb) => ({
        llm_calls: eb('llm_calls', '+', t.calls),
        llm_tokens: eb('llm_tokens', '+', t.tokens),
        llm_cost_usd: eb('llm_cost_usd', '+', t.costUsd),
        ...(t.unpriced ? { llm_unpriced: true } : {}),
      }))
      .where('id', '=', scope.taskId)
      .execute();
  }
  if (llm.traces.length)
    await db
      .insertInto('task_traces')
      .values(
        llm.traces.map((t) => ({
          task_id: scope.taskId,
          subtask_id: t.subtaskId ?? scope.subtaskId,
          kind: t.kind,
          at: new Date(t.at),
          data: storedData(t.data),
        })),
      )
      .execute();
}

/** Token and cost totals over some LLM calls. */
export interface UsageTotals {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  tokens: number;
  costUsd: number;
  /** Some call used a model without a known price, so costUsd is a lower bound. */
  unpriced: boolean;
}

/** Sums usage records. */
export function totalsOf(usage: UsageRecord[]): UsageTotals {
  const t: UsageTotals = {
    calls: 0,
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
    tokens: 0,
    costUsd: 0,
    unpriced: false,
  };
  for (const u of usage) {
    t.calls++;
    t.promptTokens += u.promptTokens;
    t.completionTokens += u.completionTokens;
    t.cachedTokens += u.cachedTokens;
    t.tokens += u.promptTokens + u.completionTokens;
    t.costUsd += u.costUsd;
    if (!u.priced) t.unpriced = true;
  }
  return t;
}

const totalsSelect = [
  sql<number>`count(*)::int`.as('calls'),
  sql<number>`coalesce(sum(prompt_tokens), 0)::int`.as('promptTokens'),
  sql<number>`coalesce(sum(completion_tokens), 0)::int`.as('completionTokens'),
  sql<number>`coalesce(sum(cached_tokens), 0)::int`.as('cachedTokens'),
  sql<number>`coalesce(sum(prompt_tokens + completion_tokens), 0)::int`.as('tokens'),
  sql<number>`coalesce(sum(cost_usd), 0)::float8`.as('costUsd'),
  sql<boolean>`coalesce(bool_or(not priced), false)`.as('unpriced'),
] as const;

/** LLM usage of one task and of its owner today (UTC), as the API and CLI show them. */
export async function usageSummary(
  db: Db,
  taskId: string,
  userId: string,
): Promise<{ task: UsageTotals; userToday: UsageTotals }> {
  const [task, userToday] = await Promise.all([
    db.selectFrom('llm_usage').select(totalsSelect).where('task_id', '=', taskId).executeTakeFirstOrThrow(),
    db
      .selectFrom('llm_usage')
      .select(totalsSelect)
      .where('user_id', '=', userId)
      .where('created_at', '>=', sql<Date>`date_trunc('day', now() at time zone 'UTC') at time zone 'UTC'`)
      .executeTakeFirstOrThrow(),
  ]);
  return { task, userToday };
}

/** A task's traces and per-call usage, oldest first. */
export async function loadTraces(
  db: Db,
  taskId: string,
  limit = 1000,
): Promise<{ traces: TaskTraceRow[]; usage: LlmUsageRow[] }> {
  const [traces, usage] = await Promise.all([
    db.selectFrom('task_traces').selectAll().where('task_id', '=', taskId).orderBy('id').limit(limit).execute(),
    db.selectFrom('llm_usage').selectAll().where('task_id', '=', taskId).orderBy('id').limit(limit).execute(),
  ]);
  return { traces, usage };
}
