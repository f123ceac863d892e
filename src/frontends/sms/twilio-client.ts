// The Twilio REST client of the SMS frontend: optional base-URL override, and API errors mapped to the hub's delivery errors.
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type * as TwilioHttp from 'twilio/lib/http/response.js';
import { PermanentError, RateLimitedError } from '../../core/errors.ts';

/** Wait after a 429 that carries no usable Retry-After. */
export const DEFAULT_RETRY_AFTER_MS = 1000;

/** Twilio error codes that say retrying the same message cannot succeed. */
const PERMANENT_CODES: Record<number, string> = {
  21211: 'invalid "To" number',
  21610: 'the recipient has opted out (replied STOP)',
  21614: 'the "To" number is not a mobile number',
  21612: 'the "To" number cannot be reached by SMS',
  21408: 'SMS to this region is not enabled',
  21617: 'the message body is too long',
};

/**
 * A RequestClient that sends every call to `baseUrl` instead of https://api.twilio.com (a local fake, a proxy)
 * and turns a 429 into RateLimitedError with the server's Retry-After (Twilio's own exception drops headers).
 */
export class SmsRequestClient extends twilio.RequestClient {
  constructor(
    private readonly baseUrl: string | undefined,
    opts: { timeoutMs?: number } = {},
  ) {
    super({ timeout: opts.timeoutMs ?? 15_000, autoRetry: false });
  }

  override async request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<TwilioHttp.default<TData>> {
    const res = await super.request({ ...opts, uri: this.baseUrl ? rebase(opts.uri, this.baseUrl) : opts.uri });
    if (res.statusCode === 429) {
      const header: unknown = (res.headers as Record<string, unknown> | undefined)?.['retry-after'];
      throw new RateLimitedError(
        'Twilio rate limit (429)',
        retryAfterMs(typeof header === 'string' ? header : undefined),
      );
    }
    return res;
  }
}

/** `uri` with its origin replaced by `base` (a path on `base` is kept as a prefix). */
export function rebase(uri: string, base: string): string {
  const u = new URL(uri);
  const b = new URL(base);
  return `${b.origin}${b.pathname.replace(/\/+$/, '')}${u.pathname}${u.search}`;
}

/** Milliseconds from a Retry-After header (seconds or an HTTP date). */
export function retryAfterMs(header: string | undefined, now = Date.now()): number {
  if (!header) return DEFAULT_RETRY_AFTER_MS;
  const s = Number(header);
  if (Number.isFinite(s) && s >= 0) return Math.max(1, Math.round(s * 1000));
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(1, at - now) : DEFAULT_RETRY_AFTER_MS;
}

/** A Twilio REST client that talks to `apiUrl` when given. */
export function createTwilioClient(accountSid: string, authToken: string, apiUrl?: string): twilio.Twilio {
  return twilio(accountSid, authToken, { httpClient: new SmsRequestClient(apiUrl) });
}

/**
 * The hub's view of a failed `messages.create`: 429 -> RateLimitedError, a 4xx retrying cannot fix (400/403/404,
 * unsubscribed, invalid or non-mobile number) -> PermanentError, anything else (5xx, 401, network) -> retryable Error.
 */
export function toDeliveryError(err: unknown): Error {
  if (err instanceof RateLimitedError || err instanceof PermanentError) return err;
  const e = err as { status?: unknown; code?: unknown; message?: unknown };
  const status = typeof e?.status === 'number' ? e.status : undefined;
  const code = typeof e?.code === 'number' ? e.code : undefined;
  const what = `Twilio ${status ?? 'error'}${code ? ` (code ${code})` : ''}: ${(code && PERMANENT_CODES[code]) || String(e?.message ?? err)}`;
  if (status === 429 || code === 20429) return new RateLimitedError(what, DEFAULT_RETRY_AFTER_MS, err);
  if (
    (code && PERMANENT_CODES[code]) ||
    (status !== undefined && status >= 400 && status < 500 && status !== 401 && status !== 408)
  ) {
    return new PermanentError(what, err);
  }
  return err instanceof Error ? new Error(what, { cause: err }) : new Error(what);
}
