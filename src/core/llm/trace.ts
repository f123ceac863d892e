// Trace entries and usage that workers return with their output under `_llm` (the hub strips and stores them).
import type { LlmUsage } from './llm-client.ts';

/** One entry of a task's trace. */
export interface TraceEntry {
  kind: 'llm' | 'tool' | 'decision' | 'checkpoint' | 'error';
  /** Epoch ms. */
  at: number;
  subtaskId?: string | undefined;
  data: Record<string, unknown>;
}

/** What a worker attaches to its job output under RESERVED_LLM_KEY. */
export interface LlmOutputEnvelope {
  usage: LlmUsage[];
  traces: TraceEntry[];
}

/** The reserved output key carrying LlmOutputEnvelope. */
export const RESERVED_LLM_KEY = '_llm';

/** Longest request/response text kept in a trace entry. */
export const TRACE_TEXT_LIMIT = 2000;

const SECRETS = [/\bsk-[A-Za-z0-9_-]{16,}/g, /\bBearer\s+[A-Za-z0-9._~+/-]{8,}=*/gi, /\bxox[abp]-[A-Za-z0-9-]{8,}/g];

/** Cuts a text for a trace and masks anything that looks like a credential. */
export function traceText(text: string, limit = TRACE_TEXT_LIMIT): string {
  let t = text.length > limit ? `${text.slice(0, limit)}… [${text.length - limit} more chars]` : text;
  for (const re of SECRETS) t = t.replace(re, '[redacted]');
  return t;
}

/** Collects usage and traces of one job; `attach` puts them on the output under `_llm`. */
export class LlmRecorder {
  readonly usage: LlmUsage[] = [];
  readonly traces: TraceEntry[] = [];

  constructor(private readonly subtaskId?: string) {}

  /** Records one entry. */
  add(kind: TraceEntry['kind'], data: Record<string, unknown>): void {
    this.traces.push({ kind, at: Date.now(), subtaskId: this.subtaskId, data });
  }

  /** Records an LLM call's usage and its trace entry. */
  call(usage: LlmUsage, trace: TraceEntry): void {
    this.usage.push(usage);
    this.traces.push({ ...trace, subtaskId: trace.subtaskId ?? this.subtaskId });
  }

  /** The output with the envelope added. */
  attach<T extends object>(output: T): T & { [RESERVED_LLM_KEY]: LlmOutputEnvelope } {
    return { ...output, [RESERVED_LLM_KEY]: { usage: this.usage, traces: this.traces } };
  }
}

/** The trace entry of one model call: purpose, usage, and the cut request and answer. */
export function llmTrace(
  purpose: string,
  messages: { role: string; content?: unknown }[],
  answer: string,
  usage: LlmUsage,
): TraceEntry {
  const request = messages
    .map((m) => `${m.role}: ${typeof m.content === 'string' ? m.content : JSON.stringify(m.content)}`)
    .join('\n');
  return {
    kind: 'llm',
    at: Date.now(),
    data: { purpose, ...usage, request: traceText(request), response: traceText(answer) },
  };
}
