// A local fake of Slack: Web API methods, response_url, Socket Mode, and signed deliveries to the hub.
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/** A message the bot posted, with every version of its text (unescaped, as people read it). */
export interface SlackFakeMessage {
  ts: string;
  channel: string;
  thread?: string | undefined;
  versions: string[];
  /** Blocks of the latest version. */
  blocks: Array<Record<string, unknown>>;
}

/** One Web API call the fake received. */
export interface SlackFakeCall {
  method: string;
  at: number;
  status: number;
  channel?: string | undefined;
  error?: string | undefined;
}

/** What the hub answered to a delivery (for Socket Mode: the ack's payload, status 200). */
export interface HubAnswer {
  status: number;
  text: string;
  json?: unknown;
}

/** A scripted failure of the next chat.postMessage / chat.update. */
export interface SlackFakeFailure {
  /** HTTP status; 200 with `error` answers `{ok:false,error}` like Slack's platform errors. */
  status: number;
  retryAfterS?: number;
  error?: string;
  /** Only a call for this channel fails (default: the next call, whatever its channel). */
  channel?: string;
}

/** Settings of the fake. */
export interface SlackFakeOptions {
  signingSecret: string;
  botToken: string;
  appToken?: string;
  /** How deliveries reach the hub: signed HTTP POSTs, or Socket Mode envelopes. */
  transport?: 'http' | 'socket';
  botUserId?: string;
  botId?: string;
}

const TEAM = 'T0FAKE';
const OUTBOUND = new Set(['chat.postMessage', 'chat.update']);
let tsCounter = 0;

/** The fake Slack. Start it, point the hub at `apiUrl`, tell it where the hub listens with `hubUrl`. */
export class SlackFake {
  readonly messages: SlackFakeMessage[] = [];
  readonly calls: SlackFakeCall[] = [];
  /** Bodies POSTed to response_url endpoints (ephemeral answers to commands and buttons). */
  readonly responses: Array<{ id: string; body: Record<string, unknown>; at: number }> = [];
  /** Where the hub receives Slack's HTTP requests (HTTP transport). */
  hubUrl: () => string = () => {
    throw new Error('hubUrl is not set');
  };
  readonly botUserId: string;
  readonly botId: string;
  private server?: Server;
  private wss?: WebSocketServer;
  private socket?: WebSocket;
  private pingTimer?: NodeJS.Timeout;
  private readonly failures: SlackFakeFailure[] = [];
  private readonly delays: Array<{ ms: number; channel?: string | undefined }> = [];
  private readonly acks = new Map<string, (payload: unknown) => void>();
  private readonly listeners = new Set<() => void>();
  private counter = 0;

  // ── files ──
  /** Files users shared (served at url_private_download to the bot token only). */
  readonly userFiles = new Map<string, { bytes: Buffer; name: string; mimetype: string }>();
  /** Downloads of user files, with the status the fake answered. */
  readonly fileDownloads: Array<{ path: string; status: number }> = [];
  /** Files the bot uploaded (files.uploadV2: getUploadURLExternal, upload, completeUploadExternal). */
  readonly sharedFiles: Array<{ channel: string; thread?: string | undefined; name: string; bytes: Buffer }> = [];
  private readonly uploads = new Map<string, { name: string; length: number; bytes?: Buffer }>();

  /** A file a user shares; returns the `files[]` entry of its message event. */
  addFile(bytes: Buffer, name: string, mimetype: string): Record<string, unknown> {
    const id = `F${this.userFiles.size + 1}USR`;
    this.userFiles.set(id, { bytes, name, mimetype });
    const url = `${this.base}/files-pri/${id}/${encodeURIComponent(name)}`;
    return { id, name, mimetype, size: bytes.length, url_private: url, url_private_download: url };
  }

  constructor(readonly opts: SlackFakeOptions) {
    this.botUserId = opts.botUserId ?? 'UBOT';
    this.botId = opts.botId ?? 'BBOT';
  }

  /** Base URL of the Web API (SLACK_API_URL). */
  get apiUrl(): string {
    return `${this.base}/api/`;
  }

  private get base(): string {
    const addr = this.server?.address() as AddressInfo | null;
    if (!addr) throw new Error('the Slack fake is not started');
    return `http://127.0.0.1:${addr.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.route(req, res);
    });
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/socket')) {
        socket.destroy();
        return;
      }
      this.wss!.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.pingTimer = setInterval(() => this.socket?.ping(), 5000);
    this.pingTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.pingTimer);
    for (const ws of this.wss?.clients ?? []) ws.terminate();
    this.wss?.close();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Makes the next chat.postMessage or chat.update (for `f.channel`, if given) fail. */
  failNext(f: SlackFakeFailure): void {
    this.failures.push(f);
  }

  /** Makes the next chat.postMessage (for `channel`, if given) answer only after `ms` (a slow Slack). */
  delayNext(ms: number, channel?: string): void {
    this.delays.push({ ms, channel });
  }

  /** Messages the bot posted in a channel (optionally one thread), oldest first. */
  inChannel(channel: string, thread?: string): SlackFakeMessage[] {
    return this.messages.filter((m) => m.channel === channel && (thread === undefined || m.thread === thread));
  }

  /** Resolves with `probe()`'s first defined value; re-evaluated on every post, edit, call and response. */
  until<T>(probe: () => T | undefined, timeoutMs = 30_000, what = 'a condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        let v: T | undefined;
        try {
          v = probe();
        } catch (err) {
          done();
          reject(err);
          return;
        }
        if (v !== undefined) {
          done();
          resolve(v);
        }
      };
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `Slack fake: timed out after ${timeoutMs} ms waiting for ${what}; messages: ${JSON.stringify(this.messages.map((m) => [m.channel, m.thread, m.versions.at(-1)?.slice(0, 80)]))}`,
          ),
        );
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** A new message ts, unique and increasing like Slack's. */
  nextTs(): string {
    tsCounter += 1;
    return `${Math.floor(Date.now() / 1000)}.${String(tsCounter).padStart(6, '0')}`;
  }

  /** Signs a body the way Slack does (v0). */
  sign(body: string, timestamp: number, secret = this.opts.signingSecret): string {
    return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  }

  /** POSTs a raw body to the hub, signed unless `signature` overrides it. */
  async post(
    body: string,
    contentType: string,
    opts: { timestamp?: number; signature?: string; retryNum?: number; secret?: string } = {},
  ): Promise<HubAnswer> {
    const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': contentType,
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': opts.signature ?? this.sign(body, timestamp, opts.secret),
    };
    if (opts.retryNum !== undefined)
      Object.assign(headers, { 'x-slack-retry-num': String(opts.retryNum), 'x-slack-retry-reason': 'http_timeout' });
    const res = await fetch(this.hubUrl(), { method: 'POST', headers, body });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json };
  }

  /** Delivers an Events API callback for `event`; returns its event_id and the hub's answer. */
  async sendEvent(
    event: Record<string, unknown>,
    opts: { eventId?: string; retryNum?: number; timestamp?: number; signature?: string } = {},
  ): Promise<{ eventId: string; answer: HubAnswer }> {
    const eventId = opts.eventId ?? `Ev${randomBytes(5).toString('hex').toUpperCase()}`;
    const body = {
      token: 'legacy-token',
      team_id: TEAM,
      api_app_id: 'A0FAKE',
      type: 'event_callback',
      event_id: eventId,
      event_time: Math.floor(Date.now() / 1000),
      event: { team: TEAM, event_ts: event.ts, ...event },
      authorizations: [
        { team_id: TEAM, user_id: this.botUserId, is_bot: true, enterprise_id: null, is_enterprise_install: false },
      ],
      is_ext_shared_channel: false,
    };
    if (this.opts.transport === 'socket') {
      return {
        eventId,
        answer: await this.envelope('events_api', body, {
          retry_attempt: opts.retryNum ?? 0,
          retry_reason: opts.retryNum ? 'timeout' : '',
        }),
      };
    }
    return { eventId, answer: await this.post(JSON.stringify(body), 'application/json', opts) };
  }

  /** A user mentions the bot in a channel (in `thread` when given); returns the mention's ts. */
  async mention(
    channel: string,
    text: string,
    opts: { user?: string; thread?: string; eventId?: string; retryNum?: number } = {},
  ): Promise<{ ts: string; eventId: string; answer: HubAnswer }> {
    const ts = this.nextTs();
    const r = await this.sendEvent(
      {
        type: 'app_mention',
        user: opts.user ?? 'U_ALICE',
        text: `<@${this.botUserId}> ${text}`,
        ts,
        channel,
        ...(opts.thread ? { thread_ts: opts.thread } : {}),
      },
      opts,
    );
    return { ts, ...r };
  }

  /** A user writes to the bot in a direct message channel. */
  async directMessage(
    channel: string,
    text: string,
    opts: { user?: string; thread?: string; extra?: Record<string, unknown> } = {},
  ): Promise<{ ts: string; eventId: string; answer: HubAnswer }> {
    const ts = this.nextTs();
    const r = await this.sendEvent({
      type: 'message',
      channel_type: 'im',
      user: opts.user ?? 'U_ALICE',
      text,
      ts,
      channel,
      ...(opts.thread ? { thread_ts: opts.thread } : {}),
      ...opts.extra,
    });
    return { ts, ...r };
  }

  /** A user runs a slash command; returns its response_url id and the hub's answer. */
  async command(
    command: string,
    text: string,
    opts: { channel?: string; user?: string; triggerId?: string } = {},
  ): Promise<{ responseId: string; triggerId: string; answer: HubAnswer }> {
    const responseId = `r${++this.counter}`;
    const triggerId = opts.triggerId ?? `${Date.now()}.${randomBytes(4).toString('hex')}`;
    const fields = {
      token: 'legacy-token',
      team_id: TEAM,
      team_domain: 'fake',
      channel_id: opts.channel ?? 'C_GENERAL',
      channel_name: 'general',
      user_id: opts.user ?? 'U_ALICE',
      user_name: 'alice',
      command,
      text,
      api_app_id: 'A0FAKE',
      is_enterprise_install: 'false',
      response_url: `${this.base}/respond/${responseId}`,
      trigger_id: triggerId,
    };
    const answer =
      this.opts.transport === 'socket'
        ? await this.envelope('slash_commands', fields, { accepts_response_payload: true })
        : await this.post(new URLSearchParams(fields).toString(), 'application/x-www-form-urlencoded');
    return { responseId, triggerId, answer };
  }

  /** A user presses a button of a message the bot posted. */
  async press(
    message: SlackFakeMessage,
    actionId: string,
    opts: { user?: string; actionTs?: string } = {},
  ): Promise<{ responseId: string; answer: HubAnswer }> {
    const button = buttonsOf(message).find((b) => b.action_id === actionId);
    if (!button) throw new Error(`message ${message.ts} has no button ${actionId}`);
    const responseId = `r${++this.counter}`;
    const user = opts.user ?? 'U_ALICE';
    const payload = {
      type: 'block_actions',
      user: { id: user, username: user.toLowerCase(), team_id: TEAM },
      api_app_id: 'A0FAKE',
      token: 'legacy-token',
      container: { type: 'message', message_ts: message.ts, channel_id: message.channel, is_ephemeral: false },
      trigger_id: `${Date.now()}.${randomBytes(4).toString('hex')}`,
      team: { id: TEAM, domain: 'fake' },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: message.channel, name: 'general' },
      message: {
        type: 'message',
        ts: message.ts,
        ...(message.thread ? { thread_ts: message.thread } : {}),
        text: message.versions.at(-1),
        user: this.botUserId,
        bot_id: this.botId,
        blocks: message.blocks,
      },
      state: { values: {} },
      response_url: `${this.base}/respond/${responseId}`,
      actions: [
        {
          action_id: actionId,
          block_id: button.block_id,
          text: button.text,
          value: button.value,
          type: 'button',
          action_ts: opts.actionTs ?? this.nextTs(),
        },
      ],
    };
    const answer =
      this.opts.transport === 'socket'
        ? await this.envelope('interactive', payload, { accepts_response_payload: false })
        : await this.post(
            new URLSearchParams({ payload: JSON.stringify(payload) }).toString(),
            'application/x-www-form-urlencoded',
          );
    return { responseId, answer };
  }

  /** Sends a Socket Mode envelope and resolves with the app's ack payload. */
  async envelope(type: string, payload: unknown, extra: Record<string, unknown> = {}): Promise<HubAnswer> {
    const ws = await this.until(() => this.socket, 30_000, 'a Socket Mode connection');
    const id = randomBytes(8).toString('hex');
    const acked = new Promise<unknown>((resolve) => this.acks.set(id, resolve));
    ws.send(JSON.stringify({ envelope_id: id, type, payload, accepts_response_payload: false, ...extra }));
    const ack = await Promise.race([
      acked,
      new Promise((_r, reject) => setTimeout(() => reject(new Error(`no ack for envelope ${type}`)), 10_000).unref()),
    ]);
    return { status: 200, text: JSON.stringify(ack ?? {}), json: ack };
  }

  private onSocket(ws: WebSocket): void {
    this.socket = ws;
    ws.on('message', (data) => {
      try {
        const msg = JSON.parse(String(data)) as { envelope_id?: string; payload?: unknown };
        if (msg.envelope_id) {
          this.acks.get(msg.envelope_id)?.(msg.payload);
          this.acks.delete(msg.envelope_id);
        }
      } catch {
        /* not JSON: ignored like Slack would */
      }
    });
    ws.on('close', () => {
      if (this.socket === ws) this.socket = undefined;
    });
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: 1,
        connection_info: { app_id: 'A0FAKE' },
        debug_info: { host: 'fake' },
      }),
    );
    this.changed();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/respond/')) {
      this.responses.push({
        id: url.pathname.slice('/respond/'.length),
        body: JSON.parse(raw || '{}'),
        at: Date.now(),
      });
      this.changed();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    // ── files: private downloads (bot token) and external uploads ──
    if (url.pathname.startsWith('/files-pri/')) {
      const f = this.userFiles.get(url.pathname.split('/')[2] ?? '');
      const authed = req.headers.authorization === `Bearer ${this.opts.botToken}`;
      this.fileDownloads.push({ path: url.pathname, status: f && authed ? 200 : authed ? 404 : 403 });
      res.writeHead(f && authed ? 200 : authed ? 404 : 403).end(f && authed ? f.bytes : 'no');
      return;
    }
    if (url.pathname.startsWith('/upload/')) {
      const form = await new Response(Buffer.concat(chunks), {
        headers: { 'content-type': String(req.headers['content-type']) },
      }).formData();
      const part = form.get('body');
      const pending = this.uploads.get(url.pathname.slice('/upload/'.length));
      if (pending && part && typeof part !== 'string') pending.bytes = Buffer.from(await part.arrayBuffer());
      res.writeHead(pending ? 200 : 404).end('OK');
      return;
    }
    if (!url.pathname.startsWith('/api/')) {
      res.writeHead(404).end();
      return;
    }
    const method = url.pathname.slice('/api/'.length);
    const args = parseArgs(raw, String(req.headers['content-type'] ?? ''));
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '') || String(args.token ?? '');
    const reply = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
      this.calls.push({
        method,
        at: Date.now(),
        status,
        channel: args.channel as string | undefined,
        error: body.ok ? undefined : String(body.error),
      });
      res
        .writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers })
        .end(JSON.stringify(body));
      this.changed();
    };
    const wanted = method === 'apps.connections.open' ? this.opts.appToken : this.opts.botToken;
    if (!wanted || token !== wanted) {
      reply(200, { ok: false, error: 'invalid_auth' });
      return;
    }
    if (OUTBOUND.has(method)) {
      const i = this.failures.findIndex((x) => !x.channel || x.channel === args.channel);
      const f = i >= 0 ? this.failures.splice(i, 1)[0] : undefined;
      if (f) {
        if (f.status === 429)
          reply(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(f.retryAfterS ?? 1) });
        else
          reply(f.status, { ok: false, error: f.error ?? (f.status >= 500 ? 'internal_error' : 'channel_not_found') });
        return;
      }
    }
    switch (method) {
      case 'auth.test':
        reply(200, {
          ok: true,
          url: 'https://fake.slack.com/',
          team: 'Fake',
          user: 'switchboard',
          team_id: TEAM,
          user_id: this.botUserId,
          bot_id: this.botId,
        });
        return;
      case 'apps.connections.open':
        reply(200, { ok: true, url: `${this.base.replace('http:', 'ws:')}/socket` });
        return;
      case 'chat.postMessage': {
        const d = this.delays.findIndex((x) => !x.channel || x.channel === args.channel);
        if (d >= 0) await new Promise((r) => setTimeout(r, this.delays.splice(d, 1)[0]!.ms));
        const problem = checkMessage(args, true);
        if (problem) {
          reply(200, { ok: false, error: problem });
          return;
        }
        const ts = this.nextTs();
        const thread = args.thread_ts ? String(args.thread_ts) : undefined;
        this.messages.push({
          ts,
          channel: String(args.channel),
          thread,
          versions: [unescape(String(args.text ?? ''))],
          blocks: blocksOf(args) ?? [],
        });
        reply(200, {
          ok: true,
          channel: args.channel,
          ts,
          message: {
            type: 'message',
            text: args.text,
            user: this.botUserId,
            bot_id: this.botId,
            ts,
            ...(thread ? { thread_ts: thread } : {}),
          },
        });
        return;
      }
      case 'chat.update': {
        const m = this.messages.find((x) => x.channel === args.channel && x.ts === args.ts);
        if (!m) {
          reply(200, { ok: false, error: 'message_not_found' });
          return;
        }
        const problem = checkMessage(args, false);
        if (problem) {
          reply(200, { ok: false, error: problem });
          return;
        }
        m.versions.push(unescape(String(args.text ?? '')));
        const blocks = blocksOf(args);
        if (blocks) m.blocks = blocks;
        reply(200, { ok: true, channel: m.channel, ts: m.ts, text: args.text });
        return;
      }
      // ── files ──
      case 'files.getUploadURLExternal': {
        const id = `F${this.uploads.size + 1}UP`;
        this.uploads.set(id, { name: String(args.filename), length: Number(args.length) });
        reply(200, { ok: true, upload_url: `${this.base}/upload/${id}`, file_id: id });
        return;
      }
      case 'files.completeUploadExternal': {
        const files = JSON.parse(String(args.files ?? '[]')) as Array<{ id: string }>;
        for (const f of files) {
          const u = this.uploads.get(f.id);
          if (!u?.bytes) {
            reply(200, { ok: false, error: 'file_not_found' });
            return;
          }
          this.sharedFiles.push({
            channel: String(args.channel_id),
            thread: args.thread_ts as string | undefined,
            name: u.name,
            bytes: u.bytes,
          });
        }
        reply(200, { ok: true, files: files.map((f) => ({ id: f.id })) });
        return;
      }
      default:
        reply(200, { ok: false, error: 'unknown_method' });
    }
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }
}

/** The buttons of a recorded message. */
export function buttonsOf(
  m: SlackFakeMessage,
): Array<{ action_id: string; value: string; block_id: string; text: unknown }> {
  return m.blocks
    .filter((b) => b.type === 'actions')
    .flatMap((b) =>
      ((b.elements as Array<Record<string, unknown>>) ?? []).map((e) => ({
        action_id: String(e.action_id),
        value: String(e.value),
        block_id: String(b.block_id ?? ''),
        text: e.text,
      })),
    );
}

function parseArgs(raw: string, contentType: string): Record<string, unknown> {
  if (contentType.startsWith('application/json')) return raw ? JSON.parse(raw) : {};
  return Object.fromEntries(new URLSearchParams(raw));
}

function blocksOf(args: Record<string, unknown>): Array<Record<string, unknown>> | undefined {
  if (args.blocks === undefined) return undefined;
  return typeof args.blocks === 'string' ? JSON.parse(args.blocks) : (args.blocks as Array<Record<string, unknown>>);
}

/** Slack's own checks that matter here: a channel, some content, and the size limits. */
function checkMessage(args: Record<string, unknown>, needsChannel: boolean): string | null {
  if (needsChannel && !args.channel) return 'channel_not_found';
  const blocks = blocksOf(args);
  if (!args.text && !blocks?.length) return 'no_text';
  if (String(args.text ?? '').length > 40_000) return 'msg_too_long';
  for (const b of blocks ?? []) {
    const t = (b.text as { text?: string } | undefined)?.text;
    if (b.type === 'section' && (!t || t.length > 3000)) return 'invalid_blocks';
  }
  return null;
}

function unescape(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
