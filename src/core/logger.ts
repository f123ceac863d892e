// pino logger with secrets redacted; child loggers carry task/subtask/job ids. Short, coloured lines on a terminal
// (pino-pretty in a worker thread), JSON lines otherwise (files, containers, log collectors).
import pino, { type Logger } from 'pino';

const REDACT = [
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

/** Creates the process logger at the given level. */
export function createLogger(level: string = 'info', name = 'switchboard', format: LogFormat = 'auto'): Logger {
  const options = {
    name,
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    hooks: { logMethod: quietRepeats() },
  };
  if (!isPretty(format) || level === 'silent') return pino(options);
  return pino({
    ...options,
    transport: {
      target: 'pino-pretty',
      options: { colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,name', singleLine: true },
    },
  });
}

export type { Logger };
