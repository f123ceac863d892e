// pino logger with secrets redacted; child loggers carry task/subtask/job ids.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import pino, { type DestinationStream, type Logger } from 'pino';

/** Log paths whose values never reach the output. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'config.HUB_API_TOKENS',
  'apiKey',
  '*.apiKey',
  // ── ops: redaction ──
  'cookie',
  '*.cookie',
  'headers.cookie',
  'req.headers.cookie',
  'headers["x-telegram-bot-api-secret-token"]',
  'req.headers["x-telegram-bot-api-secret-token"]',
  'signingSecret',
  '*.signingSecret',
  'authToken',
  '*.authToken',
  'config.TELEGRAM_BOT_TOKEN',
  'config.TELEGRAM_WEBHOOK_SECRET',
  'config.DISCORD_BOT_TOKEN',
  'config.SLACK_BOT_TOKEN',
  'config.SLACK_SIGNING_SECRET',
  'config.SLACK_APP_TOKEN',
  'config.TWILIO_AUTH_TOKEN',
  'config.METRICS_TOKEN',
  'config.SWITCHBOARD_TOKEN',
  'config.DATABASE_URL',
  'config.REDIS_URL',
  'config.OPENAI_API_KEY',
  'config.LLM_API_KEY',
  'config.SEARCH_API_KEY',
  // hashed, not removed (see censor): phone numbers and SMS user ids
  'From',
  'To',
  '*.From',
  '*.To',
  'phone',
  '*.phone',
  'user',
  '*.user',
  'userId',
  '*.userId',
  // ── end ops: redaction ──
];

// ── ops: log context ──
const HASHED = new Set(['From', 'To', 'phone', 'user', 'userId']);
const PHONE = /\+?\d[\d\s().-]{6,}\d/;

/** A phone number (or an `sms:+1555...` user id) becomes a stable short hash; other values pass unchanged. */
function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1] ?? '';
  if (!HASHED.has(key)) return '[redacted]';
  if (typeof value !== 'string' || !PHONE.test(value)) return value;
  const prefix = value.startsWith('sms:') ? 'sms:' : '';
  return `${prefix}#${createHash('sha256').update(value).digest('hex').slice(0, 12)}`;
}

/** Fields (e.g. the HTTP request id) added to every log line written inside `logContext.run(fields, fn)`. */
export const logContext = new AsyncLocalStorage<Record<string, unknown>>();
// ── end ops: log context ──

/** Creates the process logger at the given level (to `destination`, stdout by default). */
export function createLogger(level: string = 'info', name = 'switchboard', destination?: DestinationStream): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: REDACT_PATHS, censor },
      mixin: () => logContext.getStore() ?? {},
    },
    destination,
  );
}

export type { Logger };
