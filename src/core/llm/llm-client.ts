// The one way the hub and workers call a model: budgets reserved before, usage and cost settled after, cached.
import OpenAI from 'openai';
import type {
  ChatCompletion,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Config } from '../config.ts';
import { BudgetLedger } from './budget.ts';
import { CheckpointStore } from './checkpoints.ts';
import { llmSettings, type LlmSettings } from './llm-config.ts';
import { LlmError, LlmRefusalError, LlmTruncatedError } from './llm-errors.ts';
import { costOf, priceOf } from './prices.ts';
import { ResultCache } from './result-cache.ts';
import { parseStructured, structuredRequest, withInstruction } from './structured-output.ts';
import { countMessageTokens, countTokens } from './tokens.ts';
import { llmTrace, type TraceEntry } from './trace.ts';

export type { ChatCompletionMessageParam };

/** Who pays: the task, its user, and whether the user is an admin (exempt from the daily user budget). */
export interface BudgetScope {
  taskId: string;
  userId: string;
  admin: boolean;
}

/** Usage and cost of one call. */
export interface LlmUsage {
  model: string;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  costUsd: number;
  /** False when the model has no known price (cost counted as 0). */
  priced: boolean;
  latencyMs: number;
  finishReason: string;
  /** True when the server sent no usage and tokens were estimated with the tokenizer. */
  estimated: boolean;
  /** True when served from the result cache (no tokens spent). */
  cached: boolean;
}

/** One model call. */
export interface LlmCall<T = unknown> {
  /** What the call is for ('plan', 'llm.summarize', 'summarize-context', …); sent as x-switchboard-purpose. */
  purpose: string;
  /** Default LLM_MODEL. */
  model?: string | undefined;
  messages: ChatCompletionMessageParam[];
  /** Structured output in the configured mode; the answer is validated with `zod` either way. */
  schema?: { name: string; zod: z.ZodType<T> } | undefined;
  maxTokens?: number | undefined;
  temperature?: number | undefined;
  /** Streams when given: called with the text so far and the tokens so far. */
  onDelta?: ((textSoFar: string, tokensSoFar: number) => void) | undefined;
  signal?: AbortSignal | undefined;
  budget: BudgetScope;
  /** Result cache TTL for identical calls; none when absent or 0. */
  cacheTtlMs?: number | undefined;
  /** Logger with the caller's ids (taskId, subtaskId, jobId); the client's own otherwise. */
  log?: Logger | undefined;
}

/** Process-wide observers of every model call's usage (metrics register here; core knows nothing of them). */
export const llmUsageObservers = new Set<(usage: LlmUsage) => void>();

/** The answer, its parsed form (with a schema), its usage and a trace entry. */
export interface LlmResult<T = unknown> {
  text: string;
  parsed?: T;
  usage: LlmUsage;
  trace: TraceEntry;
}

/** Output tokens reserved for a call without maxTokens; the real count settles the difference. */
export const DEFAULT_OUTPUT_RESERVE = 1024;

/** Header that tells a server (and the test fake) what a call is for. */
export const PURPOSE_HEADER = 'x-switchboard-purpose';

/** Reasoning-era OpenAI models take max_completion_tokens; compatible servers take max_tokens. */
const usesCompletionTokens = (model: string) => /^(gpt-5|o\d)/.test(model);

type RawAnswer = {
  text: string;
  refusal: string | null;
  finishReason: string;
  model: string;
  usage?: {
    prompt_tokens: number;
    completion_tokens: number;
    prompt_tokens_details?: { cached_tokens?: number };
  } | null;
};

/** An LLM client over the official openai SDK (Chat Completions, any OpenAI-compatible server). */
export class LlmClient {
  readonly settings: LlmSettings;
  readonly ledger: BudgetLedger;
  readonly sdk: OpenAI;
  /** Checkpoints of intermediate results (context summaries) by task and content. */
  readonly checkpoints: CheckpointStore;
  private readonly cache: ResultCache;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    config: Config,
    /** The connection budgets, cache and checkpoints use. */
    readonly redis: Redis,
    prefix: string,
    private readonly log: Logger,
  ) {
    this.settings = llmSettings(config);
    this.sdk = new OpenAI({
      apiKey: this.settings.apiKey ?? 'no-key',
      baseURL: this.settings.baseURL ?? null,
      maxRetries: this.settings.maxRetries,
      timeout: this.settings.timeoutMs,
    });
    this.ledger = new BudgetLedger(redis, prefix, {
      taskTokens: this.settings.taskTokenBudget,
      taskUsd: this.settings.taskBudgetUsd,
      userDailyUsd: this.settings.userDailyBudgetUsd,
    });
    this.cache = new ResultCache(redis, prefix);
    this.checkpoints = new CheckpointStore(redis, prefix);
  }

  /** Runs one call: cache lookup, budget reservation, the request (streamed when onDelta), settlement, validation. */
  async complete<T>(call: LlmCall<T>): Promise<LlmResult<T>> {
    const run = this.run(call);
    this.inflight.add(run);
    try {
      return await run;
    } finally {
      this.inflight.delete(run);
    }
  }

  /** Resolves once every call in flight has settled its budget (before its Redis connection may be closed). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  private async run<T>(call: LlmCall<T>): Promise<LlmResult<T>> {
    const started = performance.now();
    const model = call.model ?? this.settings.model;
    const structured = call.schema
      ? structuredRequest(this.settings.structuredOutput, call.schema.name, call.schema.zod)
      : {};
    const messages = structured.instruction ? withInstruction(call.messages, structured.instruction) : call.messages;
    const body: ChatCompletionCreateParamsNonStreaming = { model, messages };
    if (structured.responseFormat) body.response_format = structured.responseFormat;
    if (call.maxTokens !== undefined) {
      if (usesCompletionTokens(model)) body.max_completion_tokens = call.maxTokens;
      else body.max_tokens = call.maxTokens;
    }
    if (call.temperature !== undefined) body.temperature = call.temperature;

    const cacheKey = call.cacheTtlMs ? this.cache.keyOf(body) : undefined;
    if (cacheKey) {
      const hit = await this.cache.get(cacheKey);
      if (hit) {
        const usage = this.usageOf(model, hit.finishReason, started, undefined, hit.text, 0, true);
        const parsed = call.schema ? parseStructured(hit.text, call.schema.zod) : undefined;
        call.onDelta?.(hit.text, 0);
        return {
          text: hit.text,
          ...(parsed !== undefined ? { parsed } : {}),
          usage,
          trace: llmTrace(call.purpose, messages, hit.text, usage),
        };
      }
    }

    const estimatedPrompt =
      countMessageTokens(messages) +
      (structured.responseFormat ? countTokens(JSON.stringify(structured.responseFormat)) : 0);
    const reserveOutput = call.maxTokens ?? DEFAULT_OUTPUT_RESERVE;
    const estimate = costOf(
      model,
      { promptTokens: estimatedPrompt, completionTokens: reserveOutput },
      this.settings.prices,
    );
    const reservation = await this.ledger.reserve(call.budget, estimatedPrompt + reserveOutput, estimate.costUsd);

    let raw: RawAnswer;
    const partial: RawAnswer = { text: '', refusal: null, finishReason: 'unknown', model };
    try {
      raw = call.onDelta ? await this.stream(body, call, partial) : await this.plain(body, call);
    } catch (err) {
      // A stream cut off after text arrived was paid for: settle with an estimate; otherwise nothing was spent.
      const spent = partial.text
        ? this.usageOf(model, 'interrupted', started, partial, partial.text, estimatedPrompt, false)
        : undefined;
      await this.ledger
        .settle(reservation, spent ? spent.promptTokens + spent.completionTokens : 0, spent?.costUsd ?? 0)
        .catch(() => {});
      throw err;
    }
    const usage = this.usageOf(model, raw.finishReason, started, raw, raw.text, estimatedPrompt, false);
    await this.ledger.settle(reservation, usage.promptTokens + usage.completionTokens, usage.costUsd);
    for (const observe of llmUsageObservers) observe(usage);
    const trace = llmTrace(call.purpose, messages, raw.refusal ?? raw.text, usage);
    (call.log ?? this.log).debug(
      {
        purpose: call.purpose,
        model: usage.model,
        tokens: usage.promptTokens + usage.completionTokens,
        costUsd: usage.costUsd,
        latencyMs: usage.latencyMs,
      },
      'llm call',
    );
    const fail = (err: LlmError) => {
      err.usage = usage;
      err.trace = trace;
      return err;
    };
    if (raw.refusal) throw fail(new LlmRefusalError(raw.refusal));
    if (raw.finishReason === 'length') {
      throw fail(
        new LlmTruncatedError(
          `The model's answer was cut off at its output limit (${usage.completionTokens} tokens); ask for less or raise the limit.`,
          raw.text,
        ),
      );
    }
    let parsed: T | undefined;
    if (call.schema) {
      try {
        parsed = parseStructured(raw.text, call.schema.zod);
      } catch (err) {
        throw err instanceof LlmError ? fail(err) : err;
      }
    }
    if (cacheKey) {
      await this.cache
        .set(cacheKey, { text: raw.text, model: usage.model, finishReason: raw.finishReason }, call.cacheTtlMs!)
        .catch((err) => this.log.warn({ err: String(err) }, 'llm cache write failed'));
    }
    return { text: raw.text, ...(parsed !== undefined ? { parsed } : {}), usage, trace };
  }

  private async plain(body: ChatCompletionCreateParamsNonStreaming, call: LlmCall<unknown>): Promise<RawAnswer> {
    const res: ChatCompletion = await this.sdk.chat.completions.create(body, this.requestOptions(call));
    const choice = res.choices[0];
    return {
      text: choice?.message.content ?? '',
      refusal: choice?.message.refusal ?? null,
      finishReason: choice?.finish_reason ?? 'unknown',
      model: res.model || body.model,
      usage: res.usage,
    };
  }

  /** Streams into `out` (so an interrupted stream leaves what arrived) and returns it. */
  private async stream(
    body: ChatCompletionCreateParamsNonStreaming,
    call: LlmCall<unknown>,
    out: RawAnswer,
  ): Promise<RawAnswer> {
    const stream = await this.sdk.chat.completions.create(
      { ...body, stream: true, stream_options: { include_usage: true } },
      this.requestOptions(call),
    );
    let chunks = 0;
    for await (const chunk of stream) {
      if (chunk.model) out.model = chunk.model;
      if (chunk.usage) out.usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.delta?.refusal) out.refusal = (out.refusal ?? '') + choice.delta.refusal;
      if (choice.delta?.content) {
        out.text += choice.delta.content;
        chunks++;
        call.onDelta?.(out.text, chunks);
      }
      if (choice.finish_reason) out.finishReason = choice.finish_reason;
    }
    // The SDK ends an aborted stream quietly: what arrived is incomplete, never an answer.
    call.signal?.throwIfAborted();
    return out;
  }

  private requestOptions(call: LlmCall<unknown>) {
    return { signal: call.signal, headers: { [PURPOSE_HEADER]: call.purpose } };
  }

  private usageOf(
    model: string,
    finishReason: string,
    started: number,
    raw: RawAnswer | undefined,
    text: string,
    estimatedPrompt: number,
    cached: boolean,
  ): LlmUsage {
    const latencyMs = Math.round(performance.now() - started);
    if (cached) {
      return {
        model,
        promptTokens: 0,
        completionTokens: 0,
        cachedTokens: 0,
        costUsd: 0,
        priced: priceOf(model, this.settings.prices) !== undefined,
        latencyMs,
        finishReason,
        estimated: false,
        cached,
      };
    }
    const u = raw?.usage;
    const tokens = u
      ? {
          promptTokens: u.prompt_tokens,
          completionTokens: u.completion_tokens,
          cachedTokens: u.prompt_tokens_details?.cached_tokens ?? 0,
        }
      : { promptTokens: estimatedPrompt, completionTokens: countTokens(text), cachedTokens: 0 };
    const usedModel = raw?.model ?? model;
    const { costUsd, priced } = costOf(usedModel, tokens, this.settings.prices);
    return { model: usedModel, ...tokens, costUsd, priced, latencyMs, finishReason, estimated: !u, cached };
  }
}
