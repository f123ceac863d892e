// Token estimates before a call (js-tiktoken's o200k encoding; chars/4 with a margin when that is not usable).
import { Tiktoken } from 'js-tiktoken/lite';
import o200k from 'js-tiktoken/ranks/o200k_base';

let encoder: Tiktoken | undefined;

/** Texts longer than this are estimated by length: tokenising megabytes costs more than the estimate is worth. */
const EXACT_LIMIT = 200_000;

/** Estimated tokens of a text. */
export function countTokens(text: string): number {
  if (!text) return 0;
  if (text.length > EXACT_LIMIT) return Math.ceil(text.length / 3.5);
  try {
    encoder ??= new Tiktoken(o200k);
    return encoder.encode(text, [], []).length;
  } catch {
    return Math.ceil(text.length / 3.5);
  }
}

/** A chat message as far as counting goes. */
type CountableMessage = { content?: unknown };

/** Estimated prompt tokens of chat messages (content plus a small per-message overhead). */
export function countMessageTokens(messages: readonly CountableMessage[]): number {
  let n = 3;
  for (const m of messages) {
    n += 4;
    const c = m.content;
    if (typeof c === 'string') n += countTokens(c);
    else if (Array.isArray(c))
      for (const part of c) n += countTokens(typeof part?.text === 'string' ? part.text : JSON.stringify(part));
  }
  return n;
}
