// A Bolt Receiver on the hub's own Fastify server: raw body, v0 signature, url_verification, ssl_check, 3 s ack.
import { verifySlackRequest, type App, type Receiver, type ReceiverEvent } from '@slack/bolt';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorText } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';

/** Settings of the receiver. */
export interface FastifyReceiverOptions {
  signingSecret: string;
  log: Logger;
  /** False until the app has verified its token; requests get 503 meanwhile (Slack retries events). */
  isReady: () => boolean;
  /** How long a request waits for `ack()` before it is answered empty (Slack gives up after 3 s). */
  ackTimeoutMs?: number;
  /** Largest accepted body. */
  bodyLimit?: number;
}

/** Requests whose timestamp is further than this from now are refused (replay protection). */
const MAX_SKEW_S = 5 * 60;

/** Receives Slack's HTTP requests on a route of the hub's Fastify server and hands them to the Bolt app. */
export class FastifyReceiver implements Receiver {
  private app?: App;

  constructor(private readonly opts: FastifyReceiverOptions) {}

  /** Called by Bolt with the app the events go to. */
  init(app: App): void {
    this.app = app;
  }

  /** The route lives on the hub's server, which the web frontend starts. */
  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  /** Adds `POST path` in its own plugin scope, whose body parsers keep the raw bytes the signature covers. */
  register(http: FastifyInstance, path: string): void {
    void http.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser(
        '*',
        { parseAs: 'buffer', bodyLimit: this.opts.bodyLimit ?? 1024 * 1024 },
        (_req, body, done) => done(null, body),
      );
      scope.post(path, (req, reply) => this.handle(req, reply));
    });
  }

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const text = raw.toString('utf8');
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (type !== 'application/json' && type !== 'application/x-www-form-urlencoded') {
      return fail(
        reply,
        415,
        'unsupported_media_type',
        'Slack requests are application/json or application/x-www-form-urlencoded.',
      );
    }
    const form = type === 'application/x-www-form-urlencoded' ? new URLSearchParams(text) : null;
    if (form?.get('ssl_check') === '1') return reply.code(200).send();
    const problem = this.verify(req, text);
    if (problem) {
      this.opts.log.warn({ problem, ip: req.ip }, 'refused a Slack request');
      return fail(reply, 401, 'unauthorized', problem);
    }
    let body: Record<string, unknown>;
    try {
      body = parseBody(form, text);
    } catch {
      return fail(reply, 400, 'bad_request', 'The request body could not be read as a Slack payload.');
    }
    if (body.type === 'url_verification') return reply.code(200).send({ challenge: body.challenge });
    if (!this.opts.isReady() || !this.app) {
      return fail(
        reply.header('retry-after', '5'),
        503,
        'unavailable',
        'The Slack frontend is still connecting; try again shortly.',
      );
    }
    const response = await this.dispatch(this.app, {
      body,
      retryNum: numberHeader(req.headers['x-slack-retry-num']),
      retryReason: stringHeader(req.headers['x-slack-retry-reason']),
    });
    if (response === undefined || response === null || response === '') return reply.code(200).send();
    if (typeof response === 'string') return reply.code(200).type('text/plain; charset=utf-8').send(response);
    return reply.code(200).type('application/json; charset=utf-8').send(response);
  }

  /** Why the request is not from Slack, or null when its v0 signature is valid and fresh. */
  private verify(req: FastifyRequest, text: string): string | null {
    const signature = stringHeader(req.headers['x-slack-signature']);
    const timestamp = Number(stringHeader(req.headers['x-slack-request-timestamp']));
    if (!signature || !Number.isFinite(timestamp)) return 'Missing X-Slack-Signature or X-Slack-Request-Timestamp.';
    if (Math.abs(Date.now() / 1000 - timestamp) > MAX_SKEW_S)
      return 'Stale request: the timestamp is more than 5 minutes from now.';
    try {
      verifySlackRequest({
        signingSecret: this.opts.signingSecret,
        body: text,
        headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp },
      });
      return null;
    } catch {
      return 'Bad signature.';
    }
  }

  /** Runs the event through the app; resolves with what `ack()` was given, or undefined once the deadline passes. */
  private dispatch(app: App, event: Omit<ReceiverEvent, 'ack'>): Promise<unknown> {
    const timeoutMs = this.opts.ackTimeoutMs ?? 2500;
    return new Promise((resolve) => {
      let answered = false;
      const answer = (value: unknown) => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.opts.log.warn({ timeoutMs }, 'a Slack request was not acknowledged in time; answered empty');
        answer(undefined);
      }, timeoutMs);
      const ack = async (response?: unknown): Promise<void> => answer(response);
      app
        .processEvent({ ...event, ack })
        .catch((err: unknown) => this.opts.log.warn({ err: errorText(err) }, 'Slack event processing failed'))
        .finally(() => answer(undefined));
    });
  }
}

function parseBody(form: URLSearchParams | null, text: string): Record<string, unknown> {
  if (form) {
    const payload = form.get('payload');
    return payload !== null ? asObject(JSON.parse(payload)) : Object.fromEntries(form);
  }
  return asObject(JSON.parse(text));
}

function asObject(v: unknown): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
  return v as Record<string, unknown>;
}

function fail(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ error: { code, message } });
}

function stringHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function numberHeader(v: string | string[] | undefined): number | undefined {
  const n = Number.parseInt(stringHeader(v) ?? '', 10);
  return Number.isNaN(n) ? undefined : n;
}
