// The hub's domain errors, and the one place that maps them to user text and HTTP status.

/** Base of every error the hub raises on purpose; `code` is stable, `message` is for people. */
export class HubError extends Error {
  constructor(
    message: string,
    readonly code: string = 'hub_error',
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A HubError subclass with a fixed `code` (and a default message where one makes sense). */
function codedError(code: string, fallback?: string) {
  return class extends HubError {
    constructor(message: string = fallback ?? code, cause?: unknown) {
      super(message, code, cause);
    }
  };
}

/** The thing asked for does not exist, or is not the caller's to see. */
export class NotFoundError extends codedError('not_found', 'Not found.') {}

/** The caller is known but may not do this. */
export class ForbiddenError extends codedError('forbidden', 'You are not allowed to do that.') {}

/** The caller is not known (missing or wrong credentials). */
export class UnauthorizedError extends codedError('unauthorized', 'Authentication required.') {}

/** The request itself is wrong; the message says how. */
export class InvalidInputError extends codedError('invalid_input') {}

/** The request is valid but conflicts with the current state (e.g. retrying a running task). */
export class ConflictError extends codedError('conflict') {}

/** Too many requests; try again after `retryAfterMs`. */
export class RateLimitedError extends HubError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
    cause?: unknown,
  ) {
    super(message, 'rate_limited', cause);
  }
}

/** A file or body is larger than allowed; nothing of it was stored. */
export class TooLargeError extends codedError('too_large') {}

/** A dependency (Redis, the database) does not answer; the message says whether anything was stored. */
export class UnavailableError extends codedError('unavailable') {}

/** Configuration is wrong; the message names the variable and the fix. */
export class ConfigError extends codedError('config') {}

/** A failure that retrying cannot fix (a platform's permanent 4xx, a bad job). */
export class PermanentError extends codedError('permanent') {}

const STATUS: Record<string, number> = {
  not_found: 404,
  forbidden: 403,
  unauthorized: 401,
  invalid_input: 400,
  conflict: 409,
  rate_limited: 429,
  too_large: 413,
  unavailable: 503,
};

/** HTTP status and the text a user may see for any thrown value; unknown errors never leak details. */
export function describeError(err: unknown): { status: number; code: string; message: string; retryAfterMs?: number } {
  if (err instanceof RateLimitedError)
    return { status: 429, code: err.code, message: err.message, retryAfterMs: err.retryAfterMs };
  if (err instanceof HubError) return { status: STATUS[err.code] ?? 500, code: err.code, message: err.message };
  return {
    status: 500,
    code: 'internal',
    message:
      'Something went wrong on our side. It may or may not have taken effect: check (e.g. list your tasks) before retrying.',
  };
}

/** A short, single-line description of an error for storage and logs (never a stack). */
export function errorText(err: unknown): string {
  if (err instanceof Error) return `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`.slice(0, 2000);
  return String(err).slice(0, 2000);
}
