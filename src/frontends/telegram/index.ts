// The Telegram frontend (grammY): long polling or a verified webhook in, one progress message edited in place out.
import type { Update } from 'grammy/types';
import { ConfigError, errorText, PermanentError } from '../../core/errors.ts';
import type { CommandReply } from '../../core/commands/command-service.ts';
import type { FrontendDeps, FrontendLimits, IFrontend, OutboundMessage } from '../frontend.ts';
import { handleInbound } from '../handle-inbound.ts';
import { createTelegramBot, type TelegramBotOptions } from './telegram-bot.ts';
import { syncTelegramCommands } from './telegram-commands.ts';
import { isUnauthorized, mapTelegramError } from './telegram-errors.ts';
import { withAttachments } from '../attachments.ts';
import { sendTelegramFiles, telegramAttachments } from './telegram-attachments.ts';
import { inboundFromUpdate } from './telegram-inbound.ts';
import { TELEGRAM_MAX_LENGTH, TelegramOutbound } from './telegram-outbound.ts';
import { registerTelegramWebhook, TELEGRAM_WEBHOOK_PATH } from './telegram-webhook.ts';

/** Tuning for the Telegram frontend; the defaults are for production. */
export interface TelegramFrontendOptions extends Omit<TelegramBotOptions, 'apiRoot'> {
  /** Long-polling timeout of getUpdates in seconds. Default 30. */
  pollingTimeoutSeconds?: number | undefined;
  /** A webhook update still running after this long is acknowledged anyway. Default 8000. */
  webhookTimeoutMs?: number | undefined;
  /** Longest pause between getMe attempts while Telegram is unreachable at start. Default 60000. */
  maxInitDelayMs?: number | undefined;
}

const ALLOWED_UPDATES = ['message', 'callback_query'] as const;

/** Builds the Telegram frontend from TELEGRAM_* settings; webhook mode when TELEGRAM_WEBHOOK_SECRET is set, long polling otherwise. */
export function createTelegramFrontend(deps: FrontendDeps, opts: TelegramFrontendOptions = {}): IFrontend {
  const { config } = deps;
  const token = config.TELEGRAM_BOT_TOKEN;
  if (!token)
    throw new ConfigError(
      'TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and set its token (123456:ABC-DEF...).',
    );
  const log = deps.log.child({ frontend: 'telegram' });
  const bot = createTelegramBot(token, { ...opts, apiRoot: config.TELEGRAM_API_ROOT });
  const out = new TelegramOutbound(bot.api);
  const secret = config.TELEGRAM_WEBHOOK_SECRET;
  const abort = new AbortController();
  const signal = abort.signal as unknown as Parameters<typeof bot.api.getMe>[0]; // grammY types its own AbortSignal shim
  let polling: Promise<void> | undefined;
  let background: Promise<void> | undefined;
  let started = false;

  const onUpdate = async (update: Update): Promise<void> => {
    const inbound = inboundFromUpdate(update, bot.botInfo);
    if (!inbound) return;
    if (inbound.kind === 'button')
      await out.answerButton(inbound.callbackQueryId, inbound.msg ? undefined : 'This button is no longer valid.');
    if (!inbound.msg) return;
    if (inbound.kind === 'message') {
      const files = { apiRoot: config.TELEGRAM_API_ROOT, token, maxBytes: config.MAX_ARTIFACT_BYTES };
      inbound.msg = withAttachments(inbound.msg, await telegramAttachments(bot.api, files, update));
    }
    const origin = inbound.msg.origin;
    const replyTo = inbound.kind === 'message' ? inbound.replyTo : undefined;
    await handleInbound(deps, inbound.msg, (r: CommandReply) => out.send(origin, toOutbound(r), replyTo));
  };
  bot.on([...ALLOWED_UPDATES], (ctx) => onUpdate(ctx.update));
  bot.catch((err) =>
    log.error({ err: errorText(err.error), updateId: err.ctx.update.update_id }, 'telegram update failed'),
  );

  if (secret) {
    registerTelegramWebhook(deps.http, { secret, bot, timeoutMs: opts.webhookTimeoutMs ?? 8000, log });
  }

  /** One getMe; true when the bot knows who it is. A refused token is a configuration error. */
  const identify = async (): Promise<boolean> => {
    if (bot.isInited()) return true;
    try {
      bot.botInfo = await bot.api.getMe(signal);
      return true;
    } catch (err) {
      if (isUnauthorized(err))
        throw new ConfigError(
          `Telegram refused TELEGRAM_BOT_TOKEN (${errorText(err)}): check the token with @BotFather, and TELEGRAM_API_ROOT (${config.TELEGRAM_API_ROOT}).`,
          err,
        );
      log.warn(
        { err: errorText(err), apiRoot: config.TELEGRAM_API_ROOT },
        'cannot reach the Telegram Bot API; retrying in the background',
      );
      return false;
    }
  };

  /** What runs once the bot is identified: register the webhook, or start long polling. */
  const begin = async (): Promise<void> => {
    if (abort.signal.aborted) return;
    await syncTelegramCommands(bot.api, log);
    if (secret) {
      if (!config.PUBLIC_URL) {
        log.info(
          { path: TELEGRAM_WEBHOOK_PATH },
          'telegram webhook mode: PUBLIC_URL is not set, so register the webhook yourself (setWebhook with the secret)',
        );
        return;
      }
      const url = `${config.PUBLIC_URL.replace(/\/+$/, '')}${TELEGRAM_WEBHOOK_PATH}`;
      try {
        await bot.api.setWebhook(url, { secret_token: secret, allowed_updates: [...ALLOWED_UPDATES] }, signal);
        log.info({ url }, 'telegram webhook registered');
      } catch (err) {
        const e = mapTelegramError(err);
        if (e instanceof PermanentError)
          throw new ConfigError(
            `Telegram refused the webhook ${url} (${errorText(err)}): PUBLIC_URL must be the public https:// address of this hub.`,
            err,
          );
        log.warn(
          { err: errorText(err), url },
          'could not register the telegram webhook now; the one registered before (if any) stays in place',
        );
      }
      return;
    }
    let running!: () => void;
    const polled = new Promise<void>((resolve) => {
      running = resolve;
    });
    polling = bot
      .start({
        timeout: opts.pollingTimeoutSeconds ?? 30,
        allowed_updates: [...ALLOWED_UPDATES],
        onStart: (me) => {
          log.info({ bot: me.username }, 'telegram long polling started');
          running();
        },
      })
      .catch((err: unknown) =>
        log.error(
          { err: errorText(err) },
          'telegram long polling stopped: another process may poll with this token (409), or the token was revoked (401)',
        ),
      );
    // Resolves once the webhook is deleted and polling runs; a slow Bot API does not hold the hub's start for long.
    await Promise.race([polled, polling, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  };

  /** Keeps trying getMe with a growing pause until it works or the frontend stops. */
  const identifyLater = async (): Promise<void> => {
    for (let delay = 1000; !abort.signal.aborted; delay = Math.min(delay * 2, opts.maxInitDelayMs ?? 60_000)) {
      await pause(delay, abort.signal);
      if (abort.signal.aborted) return;
      if (
        await identify().catch((err: unknown) => {
          log.error({ err: errorText(err) }, 'telegram frontend disabled');
          abort.abort();
          return false;
        })
      ) {
        await begin().catch((err: unknown) => log.error({ err: errorText(err) }, 'telegram frontend could not start'));
        return;
      }
    }
  };

  const limits: FrontendLimits = { maxLength: TELEGRAM_MAX_LENGTH, canEdit: true, threads: true, markup: 'none' };

  return {
    name: 'telegram',
    limits,
    async start() {
      if (started) return;
      started = true;
      if (await identify()) await begin();
      else background = identifyLater();
    },
    async stop() {
      abort.abort();
      if (bot.isRunning())
        await bot
          .stop()
          .catch((err: unknown) =>
            log.debug({ err: errorText(err) }, 'telegram: could not confirm the last update offset'),
          );
      // The loop ends after the update batch in hand is handled (bounded: a sleeping retry is not waited for).
      await Promise.race([
        Promise.all([polling, background]),
        new Promise((resolve) => setTimeout(resolve, 5000).unref()),
      ]);
    },
    send: async (ref, message) => {
      const sent = await out.send(ref, message);
      await sendTelegramFiles(bot.api, sent, message.files);
      return sent;
    },
    edit: (ref, message) => out.edit(ref, message),
  };
}

function toOutbound(r: CommandReply): OutboundMessage {
  return { taskId: r.taskId ?? '', kind: r.kind === 'ack' ? 'ack' : 'info', text: r.text, actions: r.actions };
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
