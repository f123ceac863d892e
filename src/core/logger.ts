// pino logger with secrets redacted; child loggers carry task/subtask/job ids. Short, coloured lines on a terminal
// (pino-pretty in a worker thread), JSON lines otherwise (files, containers, log collectors).
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
  'config.OPENAI_BASE_URL',
  'config.SEARXNG_URL',
  'config.BRAVE_API_KEY',
  'config.TAVILY_API_KEY',
  'config.ARTIFACT_LINK_SECRET',
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
];

/** How log lines look: `pretty` for people, `json` for machines, `auto` = pretty when stdout is a terminal. */
export type LogFormat = 'auto' | 'pretty' | 'json';

/** Whether a format resolves to pretty output in this process. */
export function isPretty(format: LogFormat, isTty = Boolean(process.stdout.isTTY)): boolean {
  return format === 'pretty' || (format === 'auto' && isTty);
}

const CONNECTION_ERROR = /ECONNREFUSED|ECONNRESET|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|EPIPE|Connection is closed/;
/** How long a repeated connection error of one component stays quiet. */
const QUIET_MS = 60_000;

function errorText(arg: unknown): string {
  const err = (arg as { err?: unknown } | null)?.err;
  if (typeof err === 'string') return err;
  const e = err as { message?: string; code?: string } | undefined;
  return `${e?.code ?? ''} ${e?.message ?? ''}`;
}

/**
 * While Redis or Postgres is down, every connection of every component reports each reconnect attempt. The first
 * report of each (component message, error) is logged; the same again within a minute is dropped, so an outage
 * reads as a few lines instead of hundreds. Other logs pass untouched.
 */
export function quietRepeats(): (this: Logger, args: unknown[], method: (...a: unknown[]) => void) => void {
  const seen = new Map<string, number>();
  return function (args, method) {
    const text = errorText(args[0]);
    if (CONNECTION_ERROR.test(text)) {
      const key = `${String(args[1])}|${text}`;
      const now = Date.now();
      if (now - (seen.get(key) ?? 0) < QUIET_MS) return;
      seen.set(key, now);
      if (seen.size > 1000) seen.clear();
    }
    method.apply(this, args);
  };
}

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

/**
 * Creates the process logger at the given level: `output` is a format (`auto` = pretty on a terminal) or a
 * destination stream (JSON lines, for tests).
 */
export function createLogger(
  level: string = 'info',
  name = 'switchboard',
  output: LogFormat | DestinationStream = 'auto',
): Logger {
  const options = {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor },
    hooks: { logMethod: quietRepeats() },
    mixin: () => logContext.getStore() ?? {},
  };
  if (typeof output !== 'string') return pino(options, output);
  if (!isPretty(output) || level === 'silent') return pino(options);
  return pino({
    ...options,
    transport: {
      target: 'pino-pretty',
      options: { colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,name', singleLine: true },
    },
  });
}

/**
 * A child logger made on first use. Making one runs the redaction over its bindings (a clone checked against every
 * path above): 3–5 % of a worker's CPU when every job made one, though most jobs log nothing.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): () => Logger {
  let child: Logger | undefined;
  return () => (child ??= parent.child(bindings));
}

export type { Logger };
