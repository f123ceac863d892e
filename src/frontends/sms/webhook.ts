// Inbound SMS: Twilio's webhook, verified, normalised for the shared command grammar, answered with TwiML.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import twilio from 'twilio';
import { errorText } from '../../core/errors.ts';
import type { InboundAttachment, InboundMessage } from '../../core/types.ts';
import { withAttachments } from '../attachments.ts';
import type { FrontendDeps } from '../frontend.ts';
import { handleInbound } from '../handle-inbound.ts';
import { optKeyword, type OptOutStore } from './opt-out.ts';
import type { SmsText } from './sms-text.ts';

/** Where Twilio posts incoming messages (configure it as the number's or Messaging Service's webhook). */
export const SMS_WEBHOOK_PATH = '/webhooks/twilio/sms';

/** Largest form body accepted (Twilio's own bodies are a few KiB). */
const BODY_LIMIT = 256 * 1024;

const E164 = /^\+[1-9]\d{6,14}$/;

/** What the webhook needs besides the hub's services. */
export interface SmsWebhookOptions {
  authToken: string;
  publicUrl: string | undefined;
  optOuts: OptOutStore;
  text: SmsText;
  /** Fetches MMS media with the account's credentials (files become the task's artifacts). */
  media?: ((params: Record<string, string>) => Promise<InboundAttachment[]>) | undefined;
}

/** Adds the webhook route to the hub's server, in its own scope with a form-urlencoded parser. */
export function registerSmsWebhook(deps: FrontendDeps, opts: SmsWebhookOptions): void {
  const log = deps.log.child({ frontend: 'sms' });
  void deps.http.register(async (scope: FastifyInstance) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: BODY_LIMIT },
      (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'))));
      },
    );
    scope.post(SMS_WEBHOOK_PATH, async (request, reply) => {
      const params = (request.body && typeof request.body === 'object' ? request.body : {}) as Record<string, string>;
      const signature = request.headers['x-twilio-signature'];
      if (
        typeof signature !== 'string' ||
        !twilio.validateRequest(opts.authToken, signature, signedUrl(request, opts.publicUrl), params)
      ) {
        return reply.code(403).type('text/plain; charset=utf-8').send('Invalid or missing X-Twilio-Signature.');
      }
      const from = params.From ?? '';
      const sid = params.MessageSid ?? params.SmsSid ?? '';
      if (!E164.test(from) || !sid) {
        return reply
          .code(400)
          .type('text/plain; charset=utf-8')
          .send('Expected a Twilio SMS webhook with an E.164 From and a MessageSid.');
      }
      const body = params.Body ?? '';
      const keyword = optKeyword(body);
      if (keyword) {
        // Twilio's Advanced Opt-Out answers STOP/START itself; anything we added would be a second (blocked or paid) message.
        if (keyword === 'stop') await opts.optOuts.optOut(from);
        else await opts.optOuts.optIn(from);
        log.info({ from: maskNumber(from), keyword }, 'sms opt-out state changed');
        return twiml(reply);
      }
      const silent = await opts.optOuts.isOptedOut(from);
      const media = opts.media ? await opts.media(params) : [];
      if (!body.trim() && Number(params.NumMedia ?? 0) > 0 && media.length === 0) {
        return twiml(
          reply,
          silent ? undefined : opts.text.fit('I can only read text messages. Reply HELP for the commands.'),
        );
      }
      const msg: InboundMessage = withAttachments(
        {
          eventId: sid,
          origin: { platform: 'sms', conversationId: from, userId: `sms:${from}` },
          text: /^\s*info\s*$/i.test(body) ? 'help' : body,
          plainTextIsTask: true,
        },
        media,
      );
      let answer: string | undefined;
      try {
        await handleInbound(deps, msg, async (r) => {
          answer = opts.text.reply(r);
        });
      } catch (err) {
        log.error({ err: errorText(err), messageSid: sid }, 'sms inbound failed');
        answer = 'Sorry, something went wrong on our side. Please try again in a minute.';
      }
      return twiml(reply, silent ? undefined : answer);
    });
  });
}

/** The URL Twilio signed: PUBLIC_URL + path and query, else the URL this request arrived on. */
function signedUrl(request: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl) return `${publicUrl.replace(/\/+$/, '')}${request.url}`;
  return `${request.protocol}://${request.host}${request.url}`;
}

/** Answers with TwiML: one message, or none (an empty <Response/>). */
function twiml(reply: FastifyReply, text?: string): FastifyReply {
  const response = new twilio.twiml.MessagingResponse();
  if (text) response.message(text);
  return reply.code(200).type('text/xml; charset=utf-8').send(response.toString());
}

/** A phone number with its middle hidden, for logs. */
function maskNumber(n: string): string {
  return n.length > 6 ? `${n.slice(0, 3)}***${n.slice(-3)}` : '***';
}
