// The Telegram webhook route on the hub's HTTP server: secret token checked first, then the update handled.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Update } from 'grammy/types';
import { errorText } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';

/** Path Telegram posts updates to. */
export const TELEGRAM_WEBHOOK_PATH = '/webhooks/telegram';

/** What the route needs from the frontend. */
export interface TelegramWebhookOptions {
  secret: string;
  /** False until the bot knows who it is (getMe); Telegram is asked to retry meanwhile (503). */
  isReady: () => boolean;
  handle: (update: Update) => Promise<void>;
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
  http.post(TELEGRAM_WEBHOOK_PATH, { onRequest: verify, bodyLimit: 1024 * 1024 }, async (req, reply) => {
    const update = req.body as Update | undefined;
    if (!update || typeof update !== 'object' || !Number.isSafeInteger(update.update_id)) {
      return reply
        .code(400)
        .send({ ok: false, description: 'Bad Request: the body is not a Telegram update (no update_id).' });
    }
    if (!o.isReady())
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({ ok: false, description: 'The bot is starting; try again shortly.' });
    const work = o
      .handle(update)
      .catch((err: unknown) =>
        o.log.error({ err: errorText(err), updateId: update.update_id }, 'telegram update failed'),
      );
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), o.timeoutMs);
    });
    if ((await Promise.race([work, late])) === 'late')
      o.log.warn({ updateId: update.update_id }, 'telegram update still running; acknowledged to avoid a redelivery');
    clearTimeout(timer);
    return reply.code(200).send({ ok: true });
  });
}
