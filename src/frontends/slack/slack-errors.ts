// Maps Slack Web API failures to the hub's delivery errors: permanent, rate limited, or worth retrying.
import { webApi } from '@slack/bolt';
import { PermanentError, RateLimitedError } from '../../core/errors.ts';

/** Platform errors that a retry can fix; every other `ok: false` answer of Slack is permanent. */
const TRANSIENT = new Set([
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'team_added_to_org',
]);
const RATE_LIMITED = new Set(['ratelimited', 'rate_limited']);
const DEFAULT_RETRY_AFTER_MS = 1000;

/**
 * The error `send`/`edit` should throw for a Web API failure: RateLimitedError (429 or `ratelimited`, with
 * Retry-After), PermanentError (channel_not_found, not_in_channel, is_archived, account_inactive, invalid_auth,
 * any other platform error, and HTTP 4xx), or a plain retryable Error (HTTP 5xx, network).
 */
export function mapSlackError(err: unknown, method: string): Error {
  const e = err as {
    code?: string;
    data?: { error?: string; response_metadata?: { retryAfter?: number } };
    retryAfter?: number;
    statusCode?: number;
    message?: string;
  };
  switch (e?.code) {
    case webApi.ErrorCode.RateLimitedError:
      return new RateLimitedError(`Slack rate limited ${method}`, Math.max(1, e.retryAfter ?? 1) * 1000, err);
    case webApi.ErrorCode.PlatformError: {
      const code = e.data?.error ?? 'unknown_error';
      if (RATE_LIMITED.has(code))
        return new RateLimitedError(
          `Slack rate limited ${method}`,
          (e.data?.response_metadata?.retryAfter ?? 1) * 1000,
          err,
        );
      if (TRANSIENT.has(code)) return new Error(`Slack ${method} failed: ${code}`, { cause: err });
      return new PermanentError(`Slack ${method} failed: ${code}`, err);
    }
    case webApi.ErrorCode.HTTPError: {
      const status = e.statusCode ?? 0;
      if (status === 429) return new RateLimitedError(`Slack rate limited ${method}`, DEFAULT_RETRY_AFTER_MS, err);
      if (status >= 400 && status < 500) return new PermanentError(`Slack ${method} failed: HTTP ${status}`, err);
      return new Error(`Slack ${method} failed: HTTP ${status}`, { cause: err });
    }
    case webApi.ErrorCode.RequestError:
      return new Error(`Slack ${method} could not be reached: ${e.message ?? 'network error'}`, { cause: err });
    default:
      return err instanceof Error ? err : new Error(String(err));
  }
}

/** Whether a platform error means the bot's token itself is bad (a configuration problem, not a delivery one). */
export function isAuthError(err: unknown): boolean {
  const code = (err as { data?: { error?: string } })?.data?.error;
  return [
    'invalid_auth',
    'not_authed',
    'account_inactive',
    'token_revoked',
    'token_expired',
    'not_allowed_token_type',
  ].includes(code ?? '');
}
