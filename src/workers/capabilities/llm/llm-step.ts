// What every llm.* capability shares: the client per task, sources from inputs and dependencies, context fitting
// with checkpoints, streamed progress, one re-ask on invalid output, and errors mapped to retry or not.
import { UnrecoverableError } from 'bullmq';
import type { z } from 'zod';
import type { Config } from '../../../core/config.ts';
import { fitSources, sourceTokens, type Source } from '../../../core/llm/context-fitter.ts';
import { LlmClient, type BudgetScope, type ChatCompletionMessageParam } from '../../../core/llm/llm-client.ts';
import {
  isPermanentLlmError,
  LlmError,
  LlmOutputInvalidError,
  LlmTruncatedError,
} from '../../../core/llm/llm-errors.ts';
import { countTokens } from '../../../core/llm/tokens.ts';
import { LlmRecorder, RESERVED_LLM_KEY } from '../../../core/llm/trace.ts';
import { untrusted } from '../../../core/llm/untrusted.ts';
import { createRedis } from '../../../core/queues.ts';
import type { HandlerContext } from '../../capability.ts';
import type { PromptTemplate } from './prompts.ts';

/** One model step of a capability. */
export interface LlmStep<T> {
  template: PromptTemplate;
  /** The task line(s): instructions, never outside text. */
  instructions: string;
  /** Outside text, passed as labelled data blocks. */
  sources: Source[];
  schema?: { name: string; zod: z.ZodType<T> } | undefined;
  /** Progress stage while the model generates ("writing", "extracting"). */
  stage: string;
}

/** The answer of a step and the recorder holding its usage and traces. */
export interface LlmStepResult<T> {
  text: string;
  parsed: T;
  recorder: LlmRecorder;
}

const SKIP_KEYS = new Set([RESERVED_LLM_KEY]);

/** One extracted document of a doc.extract output, pages numbered. */
interface PagedDocument {
  name: string;
  pages: Array<{ n: number; text: string }>;
  note?: string;
}

/** The documents of a doc.extract-shaped output ({documents: [{name, pages: [{n, text}]}]}), else none. */
function pagedDocuments(value: unknown): PagedDocument[] {
  const docs = (value as { documents?: unknown } | null)?.documents;
  if (!Array.isArray(docs)) return [];
  return docs.filter(
    (d): d is PagedDocument =>
      typeof d?.name === 'string' &&
      Array.isArray(d.pages) &&
      d.pages.every((p: { n?: unknown; text?: unknown }) => typeof p?.n === 'number' && typeof p.text === 'string'),
  );
}

/** Documents as text with page markers ("[p. 2]") the model can cite. */
function documentsText(docs: PagedDocument[]): string {
  return docs
    .map((d) =>
      [`# ${d.name}`, ...(d.note ? [d.note] : []), ...d.pages.map((p) => `[p. ${p.n}]\n${p.text}`)].join('\n\n'),
    )
    .join('\n\n');
}

/** A dependency output as text: its markdown or text field, documents page by page, else JSON. */
export function outputText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const docs = pagedDocuments(value);
    if (docs.length) return documentsText(docs);
    for (const k of ['markdown', 'text', 'content', 'summary'])
      if (typeof o[k] === 'string' && o[k]) return o[k] as string;
    return JSON.stringify(Object.fromEntries(Object.entries(o).filter(([k]) => !SKIP_KEYS.has(k))), null, 2);
  }
  return JSON.stringify(value ?? null);
}

/** The document names of a doc.extract-shaped output, else none. */
function documentNames(value: unknown): string[] {
  return pagedDocuments(value).map((d) => d.name);
}

/** A short name for a dependency output: its title or name, its documents' names, or its URL. */
export function outputName(value: unknown): string | undefined {
  const o = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const own = [o.title, o.name].find((x): x is string => typeof x === 'string' && x.length > 0);
  const docs = documentNames(value).join(', ');
  return (own ?? (docs || (typeof o.url === 'string' && o.url ? o.url : undefined)))?.slice(0, 160);
}

/** A label for a dependency output: the step key plus its title, URL or document names when it has them. */
function depLabel(key: string, value: unknown): string {
  const o = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const own = [o.title, o.url, o.name].filter((x): x is string => typeof x === 'string' && x.length > 0);
  const extra = own.length ? own : documentNames(value);
  return `output of step '${key}'${extra.length ? ` (${extra.join(', ').slice(0, 160)})` : ''}`;
}

/** The outside text a step works on: its own `text` input and every dependency output. */
export function sourcesOf(text: string | undefined, deps: Record<string, unknown>): Source[] {
  const out: Source[] = [];
  if (text?.trim()) out.push({ label: 'text given with the request', text });
  for (const [key, value] of Object.entries(deps)) out.push({ label: depLabel(key, value), text: outputText(value) });
  return out;
}

/** "1.2k" for 1234. */
export function formatTokens(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

/** The shared runner of the llm.* family for one configuration. */
export class LlmFamily {
  constructor(private readonly config: Config) {}

  /** The task's LLM client on this worker (one Redis connection per task, closed when the task ends and its calls settled). */
  private client(ctx: HandlerContext): Promise<LlmClient> {
    return ctx.session.get(
      'llm-client',
      () => {
        if (!this.config.REDIS_URL) throw new Error('llm.* capabilities need REDIS_URL');
        return new LlmClient(this.config, createRedis(this.config.REDIS_URL), this.config.QUEUE_PREFIX, ctx.log);
      },
      // A cancelled call still settles its budget after the abort: close only once it has.
      async (c) => {
        await c.drain();
        c.redis.disconnect();
      },
    );
  }

  /** Who pays for this job's calls. */
  scope(ctx: HandlerContext): BudgetScope {
    return { taskId: ctx.job.taskId, userId: ctx.job.userId, admin: this.config.HUB_ADMINS.includes(ctx.job.userId) };
  }

  /** Runs one step: fits the sources, calls the model (streamed, with progress), validates, re-asks once. */
  async run<T>(ctx: HandlerContext, step: LlmStep<T>): Promise<LlmStepResult<T>> {
    const client = await this.client(ctx);
    const recorder = new LlmRecorder(ctx.job.subtaskId);
    const budget = this.scope(ctx);
    const contextTokens = this.config.LLM_CONTEXT_TOKENS;
    const maxTokens = Math.min(step.template.maxTokens, Math.floor(contextTokens * 0.4));
    const overhead = countTokens(step.template.system) + countTokens(step.instructions) + (step.schema ? 600 : 0) + 200;
    const dataBudget = Math.max(256, contextTokens - maxTokens - overhead);
    try {
      let sources = step.sources;
      if (sourceTokens(sources) > dataBudget) {
        ctx.progress.stage('summarising context');
        const fitted = await fitSources(sources, {
          client,
          checkpoints: client.checkpoints,
          budget,
          maxTokens: dataBudget,
          focus: step.instructions,
          signal: ctx.signal,
          onProgress: (done, total) => ctx.progress.items(done, total),
          record: (usage, trace) =>
            usage ? recorder.call(usage, trace) : recorder.traces.push({ ...trace, subtaskId: ctx.job.subtaskId }),
        });
        sources = fitted.sources;
      }
      const data = sources.map((s) => untrusted(s.label, s.text)).join('\n\n');
      const messages: ChatCompletionMessageParam[] = [
        { role: 'system', content: step.template.system },
        { role: 'user', content: data ? `${step.instructions}\n\nData:\n\n${data}` : step.instructions },
      ];
      ctx.progress.stage(step.stage);
      const call = {
        purpose: ctx.job.capability,
        messages,
        schema: step.schema,
        maxTokens,
        budget,
        signal: ctx.signal,
        log: ctx.log,
        cacheTtlMs: this.config.LLM_CACHE_TTL_MS,
        onDelta: (_text: string, tokens: number) =>
          ctx.progress.message(`${step.stage}… ${formatTokens(tokens)} tokens`),
      };
      let res;
      try {
        res = await client.complete(call);
      } catch (err) {
        if (!(err instanceof LlmOutputInvalidError)) throw err;
        if (err.usage && err.trace) recorder.call(err.usage, err.trace);
        recorder.add('decision', { action: 're-ask', reason: err.message.slice(0, 500) });
        const problems = err.issues.map((i) => `- ${i.path || '(root)'}: ${i.message}`).join('\n');
        res = await client.complete({
          ...call,
          messages: [
            ...messages,
            { role: 'assistant', content: err.text.slice(0, 20_000) },
            {
              role: 'user',
              content: `That answer was invalid:\n${problems}\nAnswer again with only the corrected JSON.`,
            },
          ],
        });
      }
      recorder.call(res.usage, res.trace);
      ctx.progress.message(
        `${step.stage}: done, ${formatTokens(res.usage.promptTokens + res.usage.completionTokens)} tokens`,
      );
      return { text: res.text, parsed: res.parsed as T, recorder };
    } catch (err) {
      throw stepError(err);
    }
  }
}

/** Maps an LLM error to what the worker runtime understands: permanent ones skip retries. */
function stepError(err: unknown): unknown {
  if (isPermanentLlmError(err)) return new UnrecoverableError((err as LlmError).message);
  if (err instanceof LlmTruncatedError) return new UnrecoverableError(err.message);
  return err;
}

/** The sources, or a permanent failure saying the step has nothing to work on. */
export function requireSources(ctx: HandlerContext, sources: Source[]): Source[] {
  if (sources.length === 0) {
    throw new UnrecoverableError(`${ctx.job.capability} needs text to work on: give "text" or a step to depend on.`);
  }
  return sources;
}
