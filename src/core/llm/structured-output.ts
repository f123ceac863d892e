// Structured output in the three modes: constrained decoding, JSON mode, or the schema described in the prompt.
import { zodResponseFormat } from 'openai/helpers/zod';
import type { ChatCompletionCreateParams, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { z } from 'zod';
import type { StructuredOutputMode } from './llm-config.ts';
import { LlmOutputInvalidError } from './llm-errors.ts';

/** What a schema adds to a request: a response_format and/or a prompt instruction. */
export interface StructuredRequest {
  responseFormat?: ChatCompletionCreateParams['response_format'];
  /** Appended to the system prompt (json_object and prompt modes). */
  instruction?: string;
}

/** The request parts for `schema` in `mode`. */
export function structuredRequest(mode: StructuredOutputMode, name: string, schema: z.ZodType): StructuredRequest {
  if (mode === 'json_schema') return { responseFormat: zodResponseFormat(schema, name) };
  const jsonSchema = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;
  delete jsonSchema.$schema;
  const instruction =
    `Answer with one JSON object only (no prose, no code fences) that matches this JSON schema named "${name}":\n` +
    JSON.stringify(jsonSchema);
  return mode === 'json_object' ? { responseFormat: { type: 'json_object' }, instruction } : { instruction };
}

/** The JSON value in a model's text: the whole text, else a fenced block, else the outermost braces. */
function extractJson(text: string): unknown {
  const t = text.trim();
  try {
    return JSON.parse(t);
  } catch {
    const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(t)?.[1];
    if (fenced) return JSON.parse(fenced);
    const start = t.indexOf('{');
    const end = t.lastIndexOf('}');
    if (start >= 0 && end > start) return JSON.parse(t.slice(start, end + 1));
    throw new SyntaxError('no JSON object in the answer');
  }
}

/** Parses and validates a structured answer; throws LlmOutputInvalidError with the issues (for a re-ask). */
export function parseStructured<T>(text: string, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = extractJson(text);
  } catch (err) {
    const message = `not valid JSON: ${(err as Error).message}`;
    throw new LlmOutputInvalidError(`The model's answer is ${message}.`, [{ path: '', message }], text);
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  throw new LlmOutputInvalidError(
    `The model's answer does not match the schema: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
    issues,
    text,
  );
}

/** The messages with `instruction` appended to the system prompt (or a system message added first). */
export function withInstruction(
  messages: ChatCompletionMessageParam[],
  instruction: string,
): ChatCompletionMessageParam[] {
  const first = messages[0];
  if (first?.role === 'system' && typeof first.content === 'string') {
    return [{ role: 'system', content: `${first.content}\n\n${instruction}` }, ...messages.slice(1)];
  }
  return [{ role: 'system', content: instruction }, ...messages];
}
