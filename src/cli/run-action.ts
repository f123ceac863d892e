// Wraps command actions so every failure prints one readable line to stderr and exits with code 1.
import { HubError } from '../core/errors.ts';
import { CliError } from './api-client.ts';

/** Prints an error for people: the message only (a stack only with SWITCHBOARD_DEBUG=1). */
export function reportError(err: unknown): void {
  if (process.env.SWITCHBOARD_DEBUG === '1' && err instanceof Error && err.stack) {
    process.stderr.write(`${err.stack}\n`);
    return;
  }
  const known = err instanceof CliError || err instanceof HubError;
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`${known ? '' : 'Error: '}${message}\n`);
}

/** A commander action that reports errors and sets exit code 1 instead of throwing. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      reportError(err);
      process.exitCode = 1;
    }
  };
}
