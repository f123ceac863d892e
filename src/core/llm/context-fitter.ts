// Fits outside sources into the model's context: when they exceed the budget, they are summarised map-reduce
// style (chunks summarised, then the summaries again) and every summary is a checkpoint in Redis.
import type { BudgetScope, LlmClient, LlmUsage } from './llm-client.ts';
import { contentHash, type CheckpointStore } from './checkpoints.ts';
import { countTokens } from './tokens.ts';
import type { TraceEntry } from './trace.ts';
import { UNTRUSTED_RULE, untrusted } from './untrusted.ts';

/** A piece of outside text with a label saying where it came from. */
export interface Source {
  label: string;
  text: string;
}

/** How to fit. */
export interface FitOptions {
  client: LlmClient;
  checkpoints: CheckpointStore;
  budget: BudgetScope;
  /** Tokens the sources may take together. */
  maxTokens: number;
  /** What the sources will be used for; summaries keep what matters for it. */
  focus: string;
  model?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Called as chunks are summarised. */
  onProgress?: ((done: number, total: number) => void) | undefined;
  /** Collects usage and trace entries (calls and checkpoints). */
  record?: ((usage: LlmUsage | undefined, trace: TraceEntry) => void) | undefined;
  /** Parallel summarisation calls (default 4). */
  concurrency?: number | undefined;
}

/** The purpose of summarisation calls (what the fake and the traces see). */
export const SUMMARIZE_CONTEXT_PURPOSE = 'summarize-context';

const SYSTEM =
  'You condense source material so that another step can work from it. Keep every fact, name, number, date, ' +
  'quote and claim that matters for the stated purpose; drop boilerplate, navigation and repetition. Write plain ' +
  `Markdown, no preamble. ${UNTRUSTED_RULE}`;

/** Splits a text into chunks of about `tokens` tokens, at paragraph or line boundaries where possible. */
export function chunkText(text: string, tokens: number): string[] {
  const total = countTokens(text);
  if (total <= tokens) return [text];
  const charsPerToken = text.length / total;
  const size = Math.max(200, Math.floor(tokens * charsPerToken));
  const chunks: string[] = [];
  let rest = text;
  while (rest.length > size) {
    const window = rest.slice(0, size);
    let cut = window.lastIndexOf('\n\n');
    if (cut < size / 2) cut = window.lastIndexOf('\n');
    if (cut < size / 2) cut = window.lastIndexOf('. ') + 1;
    if (cut < size / 2) cut = size;
    chunks.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest.trim()) chunks.push(rest);
  return chunks;
}

/** Total estimated tokens of sources. */
export function sourceTokens(sources: Source[]): number {
  return sources.reduce((n, s) => n + countTokens(s.text) + 20, 0);
}

/**
 * Returns sources that fit in `maxTokens`: unchanged when they already fit, else summarised (map, then reduce
 * up to 3 rounds, then cut). A summary already checkpointed for this task and content is reused, not paid again.
 */
export async function fitSources(
  sources: Source[],
  o: FitOptions,
): Promise<{ sources: Source[]; summarised: boolean }> {
  let current = sources;
  for (let round = 1; round <= 3 && sourceTokens(current) > o.maxTokens; round++) {
    current = await summariseRound(current, o, round);
  }
  if (sourceTokens(current) > o.maxTokens) {
    const share = Math.floor((o.maxTokens / current.length) * 3.5);
    current = current.map((s) => ({ label: s.label, text: `${s.text.slice(0, share)}\n[cut to fit the context]` }));
  }
  return { sources: current, summarised: current !== sources };
}

async function summariseRound(sources: Source[], o: FitOptions, round: number): Promise<Source[]> {
  const total = sourceTokens(sources);
  // Each chunk fits comfortably in one call; each summary gets its share of the budget.
  const chunkTokens = Math.max(256, Math.min(Math.floor(o.maxTokens * 0.75), 8000));
  const jobs = sources.flatMap((s, si) => {
    const chunks = chunkText(s.text, chunkTokens);
    return chunks.map((text, ci) => ({ si, ci, n: chunks.length, label: s.label, text }));
  });
  const ratio = Math.min(0.9, (o.maxTokens * 0.9) / total);
  let done = 0;
  o.onProgress?.(0, jobs.length);
  const results: string[] = new Array(jobs.length);
  let next = 0;
  const run = async () => {
    while (next < jobs.length) {
      const j = jobs[next]!;
      const index = next++;
      const target = Math.max(64, Math.floor(countTokens(j.text) * ratio));
      results[index] = await summariseChunk(
        j.label + (j.n > 1 ? ` (part ${j.ci + 1} of ${j.n})` : ''),
        j.text,
        target,
        o,
        round,
      );
      o.onProgress?.(++done, jobs.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 4, jobs.length) }, run));
  return sources.map((s, si) => ({
    label: s.label.startsWith('summary of ') ? s.label : `summary of ${s.label}`,
    text: jobs
      .map((j, i) => ({ j, i }))
      .filter(({ j }) => j.si === si)
      .map(({ i }) => results[i])
      .join('\n\n'),
  }));
}

async function summariseChunk(
  label: string,
  text: string,
  target: number,
  o: FitOptions,
  round: number,
): Promise<string> {
  const model = o.model ?? o.client.settings.model;
  const hash = contentHash(model, o.focus, label, String(target), text);
  const saved = await o.checkpoints.get(o.budget.taskId, hash);
  if (saved !== undefined) {
    o.record?.(undefined, {
      kind: 'checkpoint',
      at: Date.now(),
      data: { action: 'reused', what: 'context summary', label, hash: hash.slice(0, 16), round },
    });
    return saved;
  }
  const words = Math.max(40, Math.floor(target * 0.7));
  const res = await o.client.complete({
    purpose: SUMMARIZE_CONTEXT_PURPOSE,
    model,
    messages: [
      { role: 'system', content: SYSTEM },
      {
        role: 'user',
        content: `Purpose of the material: ${o.focus}\nCondense the data below to at most about ${words} words.\n\n${untrusted(label, text)}`,
      },
    ],
    maxTokens: Math.max(256, target * 2),
    budget: o.budget,
    signal: o.signal,
  });
  o.record?.(res.usage, res.trace);
  await o.checkpoints.set(o.budget.taskId, hash, res.text);
  o.record?.(undefined, {
    kind: 'checkpoint',
    at: Date.now(),
    data: { action: 'saved', what: 'context summary', label, hash: hash.slice(0, 16), round },
  });
  return res.text;
}
