// The Telegram webhook route on the hub's HTTP server: secret token checked first, then grammY's webhookCallback.
// The checks in front of grammY are the hub's: a wrong secret is 401 before anything else runs (grammY would first
// call getMe, so an unauthenticated request could reach Telegram), a body that is no update is a readable 400, and
// while the bot has not identified itself Telegram is asked to retry (503) instead of the request failing.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Bot, webhookCallback } from 'grammy';
import type { Update } from 'grammy/types';
import type { Logger } from '../../core/logger.ts';

/** Path Telegram posts updates to. */
export const TELEGRAM_WEBHOOK_PATH = '/webhooks/telegram';

/** What the route needs from the frontend. */
export interface TelegramWebhookOptions {
  secret: string;
  /** The bot whose middleware handles the updates; until it knows who it is (getMe), Telegram is asked to retry (503). */
  bot: Bot;
  /** After this long the update is acknowledged anyway (it keeps being processed). */
  timeoutMs: number;
  log: Logger;
}

/** Constant-time comparison of the X-Telegram-Bot-Api-Secret-Token header with the configured secret. */
export function secretMatches(header: unknown, secret: string): boolean {
  if (typeof header !== 'string') return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(header), digest(secret));
}

/** Adds `POST /webhooks/telegram` to the server (before it listens). */
export function registerTelegramWebhook(http: FastifyInstance, o: TelegramWebhookOptions): void {
  const verify = (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
    if (secretMatches(req.headers['x-telegram-bot-api-secret-token'], o.secret)) {
      done();
      return;
    }
    void reply
      .code(401)
      .send({ ok: false, description: 'Unauthorized: wrong or missing X-Telegram-Bot-Api-Secret-Token.' });
  };
  // A slow update is acknowledged after `timeoutMs` and keeps running (a redelivery would only be deduplicated).
  const callback = webhookCallback(o.bot, 'fastify', {
    secretToken: o.secret,
    timeoutMilliseconds: o.timeoutMs,
    onTimeout: () => o.log.warn('telegram update still running; acknowledged to avoid a redelivery'),
  });
  http.post(TELEGRAM_WEBHOOK_PATH, { onRequest: verify, bodyLimit: 1024 * 1024 }, async (req, reply) => {
    const update = req.body as Update | undefined;
    if (!update || typeof update !== 'object' || !Number.isSafeInteger(update.update_id)) {
      return reply
        .code(400)
        .send({ ok: false, description: 'Bad Request: the body is not a Telegram update (no update_id).' });
    }
    if (!o.bot.isInited())
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({ ok: false, description: 'The bot is starting; try again shortly.' });
    await callback(req, reply);
    return reply;
  });
}
