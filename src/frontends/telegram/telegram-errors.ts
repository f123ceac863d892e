// Maps Bot API failures to the hub's delivery errors: permanent 4xx, rate limits, and retryable rest.
import { GrammyError, HttpError } from 'grammy';
import { PermanentError, RateLimitedError } from '../../core/errors.ts';

/**
 * The error `send`/`edit` throw for a failed Bot API call: a 429 that auto-retry did not wait out becomes
 * RateLimitedError(retry_after), another 4xx (chat not found, bot blocked, bad request) PermanentError,
 * and 5xx or network failures a plain Error that the notifier retries with backoff.
 */
export function mapTelegramError(err: unknown): Error {
  if (err instanceof GrammyError) {
    const what = `Telegram ${err.method} failed (${err.error_code}: ${err.description})`;
    if (err.error_code === 429)
      return new RateLimitedError(what, Math.max(1, err.parameters.retry_after ?? 1) * 1000, err);
    if (err.error_code >= 400 && err.error_code < 500) return new PermanentError(what, err);
    return new Error(what, { cause: err });
  }
  if (err instanceof HttpError) return new Error(`Telegram is unreachable: ${err.message}`, { cause: err });
  return err instanceof Error ? err : new Error(String(err));
}

/** True for the 400 Telegram answers when an edit would not change the message (not an error for us). */
export function isNotModified(err: unknown): boolean {
  return err instanceof GrammyError && err.error_code === 400 && /message is not modified/i.test(err.description);
}

/** The new chat id when a group was upgraded to a supergroup (400 with migrate_to_chat_id). */
export function migratedChatId(err: unknown): number | undefined {
  return err instanceof GrammyError ? err.parameters.migrate_to_chat_id : undefined;
}

/** True when the bot token itself was refused (401), which no retry can fix. */
export function isUnauthorized(err: unknown): boolean {
  return err instanceof GrammyError && (err.error_code === 401 || err.error_code === 404) && err.method === 'getMe';
}
