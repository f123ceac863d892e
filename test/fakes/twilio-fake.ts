// A local fake of Twilio's Messages API plus a phone that texts the hub's webhook, signed as Twilio signs it.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';

/** One message the hub sent to a number: the TwiML answer to a text, or a Messages.json create. */
export interface SmsSent {
  id: string;
  to: string;
  body: string;
  via: 'twiml' | 'api';
  at: number;
  /** The sender as the create call named it (From or MessagingServiceSid); undefined for TwiML. */
  from?: string | undefined;
  numSegments?: number | undefined;
}

/** One Messages.json call as the fake answered it, failed ones included. */
export interface SmsApiCall {
  at: number;
  status: number;
  to?: string | undefined;
}

/** What the hub answered to one inbound text. */
export interface InboundResult {
  status: number;
  body: string;
  /** The text of the TwiML <Message>, if any. */
  reply?: string | undefined;
}

/** A scripted failure of the next Messages.json create. */
export interface SmsFailure {
  status: number;
  code?: number | undefined;
  retryAfterS?: number | undefined;
}

const DEFAULT_CODES: Record<number, number> = {
  400: 21211,
  403: 21408,
  404: 20404,
  429: 20429,
  500: 20500,
  503: 20503,
};

/** The fake Twilio REST API on 127.0.0.1; records messages per `To` number. */
export class TwilioFake {
  readonly accountSid = `AC${randomBytes(16).toString('hex')}`;
  readonly authToken = randomBytes(16).toString('hex');
  /** The hub's own number (TWILIO_FROM). */
  readonly number = '+15557770000';
  readonly sent: SmsSent[] = [];
  readonly calls: SmsApiCall[] = [];
  private server!: Server;
  private url_ = '';
  private failures: SmsFailure[] = [];
  private readonly listeners = new Set<() => void>();

  /** Starts a fake on a random port. */
  static async start(): Promise<TwilioFake> {
    const fake = new TwilioFake();
    fake.server = createServer((req, res) => void fake.route(req, res));
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url_ = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  /** Base URL for TWILIO_API_URL. */
  get url(): string {
    return this.url_;
  }

  /** Hub env that points the SMS frontend at this fake. */
  env(): Record<string, string> {
    return {
      TWILIO_ACCOUNT_SID: this.accountSid,
      TWILIO_AUTH_TOKEN: this.authToken,
      TWILIO_FROM: this.number,
      TWILIO_API_URL: this.url_,
    };
  }

  /** Makes the next Messages.json create fail (429 carries Retry-After when `retryAfterS` is set). */
  failNext(f: SmsFailure): void {
    this.failures.push(f);
  }

  /** Everything sent to `to`, oldest first. */
  messagesTo(to: string): SmsSent[] {
    return this.sent.filter((m) => m.to === to);
  }

  /** Resolves once `pred` holds for the messages sent to `to`. */
  waitFor(to: string, pred: (all: SmsSent[]) => boolean, timeoutMs = 20_000): Promise<SmsSent[]> {
    return this.until(
      () => (pred(this.messagesTo(to)) ? this.messagesTo(to) : undefined),
      timeoutMs,
      `messages to ${to}`,
    );
  }

  /** Resolves with `probe()`'s first defined value, re-checked whenever the fake records something. */
  until<T>(probe: () => T | undefined, timeoutMs = 20_000, what = 'condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v === undefined) return;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; sent: ${JSON.stringify(this.sent.map((m) => [m.to, m.via, m.body.slice(0, 60)]))}`,
          ),
        );
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /**
   * Texts the hub as Twilio would: POSTs a signed form to `webhookUrl` and records the TwiML answer as a message to `from`.
   * `signedUrl` is the URL Twilio believes it calls (PUBLIC_URL + path); `signature` overrides the signature (bad-signature tests).
   */
  async text(
    webhookUrl: string,
    from: string,
    body: string,
    opts: { signedUrl?: string; signature?: string | null; messageSid?: string; extra?: Record<string, string> } = {},
  ): Promise<InboundResult> {
    const params: Record<string, string> = {
      ToCountry: 'US',
      SmsMessageSid: '',
      NumMedia: '0',
      SmsSid: '',
      SmsStatus: 'received',
      Body: body,
      To: this.number,
      NumSegments: '1',
      MessageSid: opts.messageSid ?? `SM${randomBytes(16).toString('hex')}`,
      AccountSid: this.accountSid,
      From: from,
      ApiVersion: '2010-04-01',
      ...opts.extra,
    };
    params.SmsMessageSid = params.MessageSid!;
    params.SmsSid = params.MessageSid!;
    const signature =
      opts.signature === undefined
        ? twilio.getExpectedTwilioSignature(this.authToken, opts.signedUrl ?? webhookUrl, params)
        : opts.signature;
    const res = await fetch(webhookUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(signature === null ? {} : { 'x-twilio-signature': signature }),
      },
      body: new URLSearchParams(params).toString(),
    });
    const text = await res.text();
    const reply = /<Message>([\s\S]*?)<\/Message>/.exec(text)?.[1];
    const decoded = reply === undefined ? undefined : unescapeXml(reply);
    if (res.status === 200 && decoded !== undefined) this.record({ to: from, body: decoded, via: 'twiml' });
    return { status: res.status, body: text, reply: decoded };
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ── files ──
  private readonly media = new Map<string, { bytes: Buffer; contentType: string }>();
  /** Fetches of MMS media, with the status the fake answered. */
  readonly mediaFetches: Array<{ id: string; status: number }> = [];

  /** Stores MMS media; returns the webhook params (NumMedia, MediaUrl0, MediaContentType0, ...) that point at it. */
  addMedia(items: Array<{ bytes: Buffer; contentType: string }>): Record<string, string> {
    const params: Record<string, string> = { NumMedia: String(items.length) };
    items.forEach((item, i) => {
      const id = `ME${randomBytes(16).toString('hex')}`;
      this.media.set(id, item);
      params[`MediaUrl${i}`] = `${this.url}/2010-04-01/Accounts/${this.accountSid}/Messages/MM${i}/Media/${id}`;
      params[`MediaContentType${i}`] = item.contentType;
    });
    return params;
  }

  private record(m: Omit<SmsSent, 'id' | 'at'>): SmsSent {
    const sent: SmsSent = { id: `SM${randomBytes(16).toString('hex')}`, at: Date.now(), ...m };
    this.sent.push(sent);
    for (const l of [...this.listeners]) l();
    return sent;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    const error = (status: number, code: number, message: string, headers?: Record<string, string>) =>
      reply(status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, headers);
    // ── files: MMS media (basic auth) ──
    const media = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Messages\/\w+\/Media\/(\w+)$/.exec(req.url ?? '');
    if (req.method === 'GET' && media) {
      const authed =
        req.headers.authorization === `Basic ${Buffer.from(`${this.accountSid}:${this.authToken}`).toString('base64')}`;
      const item = this.media.get(media[2]!);
      this.mediaFetches.push({ id: media[2]!, status: !authed ? 401 : item ? 200 : 404 });
      if (!authed || !item)
        return error(authed ? 404 : 401, authed ? 20404 : 20003, authed ? 'Not found' : 'Authenticate');
      res.writeHead(200, { 'content-type': item.contentType }).end(item.bytes);
      return;
    }
    const m = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Messages\.json$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) return error(404, 20404, `The requested resource ${req.url} was not found`);
    const expected = `Basic ${Buffer.from(`${this.accountSid}:${this.authToken}`).toString('base64')}`;
    if (m[1] !== this.accountSid || req.headers.authorization !== expected) return error(401, 20003, 'Authenticate');
    const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    const to = form.To;
    const at = Date.now();
    const failure = this.failures.shift();
    if (failure) {
      this.calls.push({ at, status: failure.status, to });
      const code = failure.code ?? DEFAULT_CODES[failure.status] ?? 20001;
      const headers: Record<string, string> =
        failure.retryAfterS !== undefined ? { 'retry-after': String(failure.retryAfterS) } : {};
      this.notify();
      return error(failure.status, code, `Scripted failure ${failure.status}`, headers);
    }
    const sender = form.MessagingServiceSid ?? form.From;
    if (!to || !sender || !form.Body) {
      this.calls.push({ at, status: 400, to });
      this.notify();
      return error(400, 21604, "A 'To', a 'From' (or 'MessagingServiceSid') and a 'Body' are required.");
    }
    if (form.Body.length > 1600) {
      this.calls.push({ at, status: 400, to });
      this.notify();
      return error(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    }
    this.calls.push({ at, status: 201, to });
    const numSegments = independentSegments(form.Body);
    const sent = this.record({ to, body: form.Body, via: 'api', from: sender, numSegments });
    reply(201, {
      sid: sent.id,
      account_sid: this.accountSid,
      to,
      from: form.From ?? null,
      messaging_service_sid: form.MessagingServiceSid ?? null,
      body: form.Body,
      status: 'queued',
      num_segments: String(numSegments),
      direction: 'outbound-api',
      api_version: '2010-04-01',
      date_created: new Date(at).toUTCString(),
      uri: `/2010-04-01/Accounts/${this.accountSid}/Messages/${sent.id}.json`,
    });
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}

/** Segments as a plain-ASCII handset would count them (independent of the frontend's own math; non-ASCII counted as UCS-2). */
function independentSegments(body: string): number {
  const ascii = /^[\x20-\x7E\n\r]*$/.test(body) && !/[`]/.test(body);
  const units = ascii ? body.length + (body.match(/[\^{}\\[\]~|]/g)?.length ?? 0) : body.length;
  const [single, per] = ascii ? [160, 153] : [70, 67];
  return units <= single ? 1 : Math.ceil(units / per);
}

function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&amp;/g, '&');
}
