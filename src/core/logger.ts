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

/** Creates the process logger at the given level. */
export function createLogger(level: string = 'info', name = 'switchboard', format: LogFormat = 'auto'): Logger {
  const options = { name, level, redact: { paths: REDACT, censor: '[redacted]' } };
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
