// The SMS frontend (Twilio): inbound webhook -> shared commands; outbound results as single, segment-budgeted SMS.
import type { Redis } from 'ioredis';
import { ConfigError, PermanentError, RateLimitedError } from '../../core/errors.ts';
import type { ConversationRef, MessageRef } from '../../core/types.ts';
import type { FrontendDeps, FrontendLimits, IFrontend, OutboundMessage } from '../frontend.ts';
import type { OptOutStore } from './opt-out.ts';
import { importRedisOptOuts, PostgresOptOutStore } from './opt-out-store.ts';
import { DEFAULT_MAX_SEGMENTS, SmsText, worthSending } from './sms-text.ts';
import { createTwilioClient, toDeliveryError } from './twilio-client.ts';
import { twilioMediaFetcher, withFileLinks } from './sms-attachments.ts';
import { registerSmsWebhook } from './webhook.ts';

/** What the hub passes besides its services: where opt-outs live, and the segment budget. */
export interface SmsFrontendOptions {
  /** The opt-out store (default: the `sms_opt_outs` table of the hub's database). */
  optOuts?: OptOutStore | undefined;
  /** Where an older hub kept opt-outs, carried over to the database at start (default: the hub's Redis). */
  redis?: Redis | undefined;
  /** Most segments one outbound SMS may take (default 4; Twilio's 1600-character Body limit applies too). */
  maxSegments?: number | undefined;
}

/**
 * Every outbound text is accepted whole: `send` cuts it to the segment budget itself, so the notifier must not split
 * a long result into several (paid) messages.
 */
const ANY_LENGTH = Number.MAX_SAFE_INTEGER;

/** Builds the SMS frontend and adds its webhook (`POST /webhooks/twilio/sms`) to the hub's server. */
export function createSmsFrontend(deps: FrontendDeps, opts: SmsFrontendOptions = {}): IFrontend {
  const {
    TWILIO_ACCOUNT_SID: sid,
    TWILIO_AUTH_TOKEN: token,
    TWILIO_FROM: from,
    TWILIO_API_URL: apiUrl,
    PUBLIC_URL: publicUrl,
  } = deps.config;
  if (!sid || !token || !from)
    throw new ConfigError(
      'The SMS frontend needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM (a number like +15551234567 or a Messaging Service SID MG...).',
    );
  // Opt-outs live in the database, so STOP holds on every hub process, across restarts and a Redis flush.
  const store = opts.optOuts ? undefined : new PostgresOptOutStore(deps.ctx.db);
  const optOuts = opts.optOuts ?? store!;
  const maxSegments = opts.maxSegments ?? deps.config.SMS_MAX_SEGMENTS ?? DEFAULT_MAX_SEGMENTS;
  if (!Number.isInteger(maxSegments) || maxSegments < 1 || maxSegments > 10)
    throw new ConfigError('The SMS segment budget must be a whole number from 1 to 10.');
  const text = new SmsText(publicUrl, maxSegments);
  const client = createTwilioClient(sid, token, apiUrl);
  const sender = from.startsWith('MG') ? { messagingServiceSid: from } : { from };
  const log = deps.log.child({ frontend: 'sms' });
  const apiBase = apiUrl ?? 'https://api.twilio.com';
  const media = twilioMediaFetcher({
    accountSid: sid,
    authToken: token,
    apiBase,
    maxBytes: deps.config.MAX_ARTIFACT_BYTES,
  });
  registerSmsWebhook(deps, { authToken: token, publicUrl, optOuts, text, media });

  const limits: FrontendLimits = { maxLength: ANY_LENGTH, canEdit: false, threads: false, markup: 'none' };
  let skipped = 0;
  const blockedUntil = new Map<string, number>();

  return {
    name: 'sms',
    limits,
    async start() {
      if (store) {
        const carried = await importRedisOptOuts(opts.redis ?? deps.ctx.redis, deps.config.QUEUE_PREFIX, store);
        if (carried) log.info({ numbers: carried }, 'sms opt-outs moved from Redis to the database');
      }
      log.info(
        { sender: from.startsWith('MG') ? 'messaging service' : 'number', apiUrl: apiUrl ?? 'https://api.twilio.com' },
        'sms frontend ready',
      );
    },
    async stop() {},
    /** Sends one SMS; an opted-out number throws PermanentError (recorded by the notifier as notify.failed, never retried). */
    async send(ref: ConversationRef, message: OutboundMessage): Promise<MessageRef> {
      const to = ref.conversationId;
      if (!worthSending(message)) {
        skipped += 1;
        return { platform: 'sms', conversationId: to, messageId: `not-sent-${message.kind}-${skipped}` };
      }
      if (await optOuts.isOptedOut(to))
        throw new PermanentError('The recipient replied STOP; no SMS is sent to them until they reply START.');
      // After a 429 the number is left alone for Retry-After, so its messages keep their order.
      const waitMs = (blockedUntil.get(to) ?? 0) - Date.now();
      if (waitMs > 0) throw new RateLimitedError(`Twilio asked to wait before texting ${to}`, waitMs);
      blockedUntil.delete(to);
      try {
        const sent = await client.messages.create({
          to,
          body: text.fit(withFileLinks(message.text, message.files), message.taskId),
          ...sender,
        });
        return { platform: 'sms', conversationId: to, messageId: sent.sid };
      } catch (err) {
        const mapped = toDeliveryError(err);
        if (mapped instanceof RateLimitedError) blockedUntil.set(to, Date.now() + mapped.retryAfterMs);
        throw mapped;
      }
    },
  };
}
