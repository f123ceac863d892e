// Validation shared by everything that accepts a request: tasks now, and schedules that submit them later.
import type { Config } from '../config.ts';
import { InvalidInputError } from '../errors.ts';
import { NOTIFY_POLICIES, PRIORITIES, type NotifyPolicy, type Priority } from '../types.ts';

/** A request's text, priority and notify policy, checked and defaulted; `emptyMessage` says what to do instead. */
export function validateRequest(
  config: Config,
  req: { text?: unknown; priority?: Priority | undefined; notifyPolicy?: NotifyPolicy | undefined },
  emptyMessage: string,
): { text: string; priority: Priority; notifyPolicy: NotifyPolicy } {
  const text = typeof req.text === 'string' ? req.text.trim() : '';
  if (!text) throw new InvalidInputError(emptyMessage);
  if (text.includes('\u0000')) throw new InvalidInputError('The request contains a NUL character; remove it.');
  if (/\p{Cs}/u.test(text)) {
    throw new InvalidInputError(
      'The request contains a broken character (a lone UTF-16 surrogate); re-type or re-copy it.',
    );
  }
  if (text.length > config.MAX_REQUEST_CHARS) {
    throw new InvalidInputError(
      `The request is ${text.length} characters long; the limit is ${config.MAX_REQUEST_CHARS}. Shorten it or attach the material as a link.`,
    );
  }
  const priority = req.priority ?? config.DEFAULT_PRIORITY;
  if (!PRIORITIES.includes(priority)) throw new InvalidInputError(`Priority must be one of ${PRIORITIES.join(', ')}.`);
  const notifyPolicy = req.notifyPolicy ?? config.DEFAULT_NOTIFY_POLICY;
  if (!NOTIFY_POLICIES.includes(notifyPolicy))
    throw new InvalidInputError(`Notify policy must be one of ${NOTIFY_POLICIES.join(', ')}.`);
  return { text, priority, notifyPolicy };
}
