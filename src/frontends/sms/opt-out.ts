// SMS opt-out: Twilio's STOP/START keywords, and where the opted-out numbers are kept.
/** Twilio's default opt-out keywords (a message that is only this word). "CANCEL <id>" stays our cancel command. */
export const OPT_OUT_WORDS: ReadonlySet<string> = new Set([
  'stop',
  'stopall',
  'unsubscribe',
  'cancel',
  'end',
  'quit',
  'optout',
  'revoke',
]);
/** Twilio's default opt-in keywords. */
export const OPT_IN_WORDS: ReadonlySet<string> = new Set(['start', 'yes', 'unstop']);

/** Whether a message is an opt-out or opt-in keyword (the whole message, any case, trailing punctuation ignored). */
export function optKeyword(body: string): 'stop' | 'start' | null {
  const word = body
    .trim()
    .replace(/[.!?]+$/, '')
    .toLowerCase();
  if (OPT_OUT_WORDS.has(word)) return 'stop';
  if (OPT_IN_WORDS.has(word)) return 'start';
  return null;
}

/** The numbers that said STOP; shared by every hub process and kept across restarts. */
export interface OptOutStore {
  isOptedOut(number: string): Promise<boolean>;
  optOut(number: string): Promise<void>;
  optIn(number: string): Promise<void>;
}
