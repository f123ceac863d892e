// Builds the grammY bot the Telegram frontend talks through: API root, request timeout, throttling and 429 retries.
import { autoRetry } from '@grammyjs/auto-retry';
import { apiThrottler, type APIThrottlerOptions } from '@grammyjs/transformer-throttler';
import { Bot } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';

/** How the bot's API client behaves; every field has a production default. */
export interface TelegramBotOptions {
  /** Bot API root without a trailing slash (a self-hosted Bot API server or a test fake). */
  apiRoot: string;
  /** Outgoing rate limits (Bottleneck configs of @grammyjs/transformer-throttler); false turns throttling off. Default: Telegram's published limits. */
  throttle?: APIThrottlerOptions | false | undefined;
  /** A 429 whose retry_after is at most this many seconds is waited out in place; a longer one surfaces as RateLimitedError. Default 5. */
  maxRetryDelaySeconds?: number | undefined;
  /** Timeout of one Bot API request in seconds (must exceed the long-polling timeout). Default 60. */
  requestTimeoutSeconds?: number | undefined;
  /** Known bot identity; skips `getMe` at start. */
  botInfo?: UserFromGetMe | undefined;
}

/** A grammY bot whose API honours 429 retry_after (auto-retry) and Telegram's rate limits (throttler). */
export function createTelegramBot(token: string, o: TelegramBotOptions): Bot {
  const bot = new Bot(token, {
    client: { apiRoot: o.apiRoot.replace(/\/+$/, ''), timeoutSeconds: o.requestTimeoutSeconds ?? 60 },
    ...(o.botInfo ? { botInfo: o.botInfo } : {}),
  });
  // Network errors and 5xx are rethrown at once: the notifier's queue retries those with backoff.
  bot.api.config.use(
    autoRetry({
      maxDelaySeconds: o.maxRetryDelaySeconds ?? 5,
      maxRetryAttempts: 3,
      rethrowHttpErrors: true,
      rethrowInternalServerErrors: true,
    }),
  );
  // Installed last, so it wraps auto-retry: a call waiting out retry_after keeps its chat's slot, and later
  // messages to that chat queue behind it instead of overtaking it.
  if (o.throttle !== false) bot.api.config.use(apiThrottler(o.throttle ?? {}));
  return bot;
}
