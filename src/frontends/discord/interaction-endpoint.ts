// The HTTP interactions endpoint: Ed25519 signature check, PING, and the initial response as the HTTP body.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from '../../core/logger.ts';
import { isRawInteraction, type RawInteraction } from './interaction-text.ts';
import type { Respond } from './interaction-handler.ts';

/** The Ed25519 public key of the application from its 64 hex characters. */
export function publicKeyFromHex(hex: string): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(hex, 'hex').toString('base64url') },
    format: 'jwk',
  });
}

/** Whether `signatureHex` is the application's signature over `timestamp + body`. */
export function verifyDiscordSignature(
  key: KeyObject,
  signatureHex: string | undefined,
  timestamp: string | undefined,
  body: Buffer,
): boolean {
  if (!signatureHex || !timestamp || !/^[0-9a-f]{128}$/i.test(signatureHex)) return false;
  try {
    return verify(null, Buffer.concat([Buffer.from(timestamp, 'utf8'), body]), key, Buffer.from(signatureHex, 'hex'));
  } catch {
    return false;
  }
}

/** What the endpoint needs. */
export interface InteractionEndpointOptions {
  path: string;
  publicKeyHex: string;
  log: Logger;
  /** Handles a verified interaction; must call `respond` once, first. */
  onInteraction(i: RawInteraction, respond: Respond): Promise<void>;
}

const BODY_LIMIT = 1024 * 1024;
const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
const fail = (reply: FastifyReply, status: number, code: string, message: string) =>
  reply.code(status).send({ error: { code, message } });

/** Adds `POST path` to the hub's server, in its own scope with a raw-body parser (the signature covers the raw bytes). */
export function registerInteractionEndpoint(http: FastifyInstance, o: InteractionEndpointOptions): void {
  const key = publicKeyFromHex(o.publicKeyHex);
  void http.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_req, body, done) =>
      done(null, body),
    );
    scope.post(o.path, async (req, reply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (
        !verifyDiscordSignature(
          key,
          header(req.headers['x-signature-ed25519']),
          header(req.headers['x-signature-timestamp']),
          raw,
        )
      ) {
        return fail(reply, 401, 'unauthorized', 'Invalid request signature.');
      }
      let payload: unknown;
      try {
        payload = JSON.parse(raw.toString('utf8'));
      } catch {
        return fail(reply, 400, 'invalid_json', 'The body is not valid JSON.');
      }
      if (!isRawInteraction(payload)) return fail(reply, 400, 'bad_request', 'The body is not a Discord interaction.');
      let answer!: (body: unknown) => void;
      const first = new Promise<unknown>((resolve) => {
        answer = resolve;
      });
      // `respond` resolves once the HTTP response is out, so the follow-up PATCH cannot overtake the deferral.
      const work = o.onInteraction(
        payload,
        (body) =>
          new Promise<void>((resolve) => {
            reply.raw.once('finish', resolve).once('close', resolve);
            answer(body);
          }),
      );
      const body = await Promise.race([first, work.then(() => ({ type: 4, data: { content: 'Done.', flags: 64 } }))]);
      return reply.code(200).type('application/json').send(body);
    });
  });
}
