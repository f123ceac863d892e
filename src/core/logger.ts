// pino logger with secrets redacted; child loggers carry task/subtask/job ids.
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

/** Creates the process logger at the given level. */
export function createLogger(level: string = 'info', name = 'switchboard'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } });
}

export type { Logger };
