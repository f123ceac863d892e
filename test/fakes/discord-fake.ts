// A local fake of Discord: REST (/api/v10) and the WebSocket gateway, for driving discord.js and @discordjs/rest in tests.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { FakeMessage } from '../frontends/contract.ts';

/** One REST request the fake received. */
export interface FakeCall {
  at: number;
  method: string;
  /** Path below /api/v10, URL-decoded. */
  path: string;
  status: number;
  auth?: string | undefined;
  body?: unknown;
  /** Whether it posted or edited a message (the calls `failNext` applies to). */
  outbound: boolean;
  conversation?: string | undefined;
}

/** A message in the fake, with how each version was written. */
export interface FakeDiscordMessage extends FakeMessage {
  channelId: string;
  /** Per version: 'webhook' (interaction token) or 'bot' (channel route with the bot token). */
  via: Array<'webhook' | 'bot'>;
  components: unknown[];
  files: Array<{ name: string; text: string }>;
  /** The interaction whose original response this is. */
  interactionToken?: string | undefined;
  /** Deleted through the interaction webhook. */
  deleted?: boolean | undefined;
}

/** An interaction the fake handed out, and what the app answered. */
export interface FakeInteraction {
  id: string;
  token: string;
  channelId: string;
  /** Initial responses (callback route or HTTP body), by type. */
  responses: number[];
  originalId?: string | undefined;
  expired: boolean;
}

const EPOCH = 1_420_070_400_000n;
let counter = 0n;

/** A fresh Discord snowflake carrying the current time. */
export function snowflake(): string {
  return (((BigInt(Date.now()) - EPOCH) << 22n) | (counter++ & 0x3fffffn)).toString();
}

/** The Discord fake: start(), then point DISCORD_API_URL at `apiUrl`. */
export class DiscordFake {
  readonly botToken = 'fake-bot-token-0123456789';
  readonly applicationId = '300000000000000001';
  readonly publicKeyHex: string;
  readonly calls: FakeCall[] = [];
  readonly messages: FakeDiscordMessage[] = [];
  readonly interactions = new Map<string, FakeInteraction>();
  /** Registered global commands (as stored by PUT), and how often they were read and written. */
  commands: Array<Record<string, unknown>> = [];
  commandGets = 0;
  commandPuts = 0;
  /** Channels where the bot lacks Send Messages (a user-installed app, or a locked channel): bot posts and edits get 403. */
  readonly botDenied = new Set<string>();
  /** Gateway sessions: IDENTIFY payloads, RESUMEs, heartbeats received. */
  readonly gateway = {
    identifies: [] as Array<{ token?: string; intents?: number }>,
    resumes: 0,
    heartbeats: 0,
    acks: 0,
  };
  private readonly channels = new Map<string, { type: number; parent?: string | undefined }>();
  private readonly failures: Array<{ status: number; retryAfterS?: number | undefined }> = [];
  private readonly listeners = new Set<() => void>();
  private readonly sockets = new Set<WebSocket>();
  private readonly privateKey: KeyObject;
  private server?: Server;
  private wss?: WebSocketServer;
  private seq = 0;
  private port = 0;

  constructor(private readonly o: { heartbeatIntervalMs?: number } = {}) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    this.privateKey = privateKey;
    this.publicKeyHex = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('hex');
  }

  /** REST base to give DISCORD_API_URL. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.route(req, res);
    });
    this.wss = new WebSocketServer({ server: this.server });
    this.wss.on('connection', (ws) => this.onSocket(ws));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss?.close();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  // ── files ──
  private readonly uploads = new Map<string, { bytes: Buffer; sig: string }>();

  /** A file a user attached; returns the resolved attachment object (its signed CDN URL serves the bytes). */
  addAttachment(bytes: Buffer, filename: string, contentType: string): Record<string, unknown> & { id: string } {
    const id = String(900_000 + this.uploads.size);
    const sig = Math.random().toString(16).slice(2);
    this.uploads.set(id, { bytes, sig });
    const url = `http://127.0.0.1:${this.port}/attachments/${id}/${encodeURIComponent(filename)}?ex=${sig}`;
    return { id, filename, content_type: contentType, size: bytes.length, url, proxy_url: url };
  }

  /** Declares a thread channel inside `parent` (messages in it belong to the parent's conversation). */
  addThread(threadId: string, parent: string): void {
    this.channels.set(threadId, { type: 11, parent });
  }

  /** The channel type of `id` (0 = text, 11 = public thread). */
  channelType(id: string): { type: number; parent?: string | undefined } {
    return this.channels.get(id) ?? { type: 0 };
  }

  /** Records an interaction about to be delivered, so its token routes work. */
  addInteraction(i: { id: string; token: string; channel_id: string }): void {
    this.interactions.set(i.token, {
      id: i.id,
      token: i.token,
      channelId: i.channel_id,
      responses: [],
      expired: false,
    });
  }

  /** Makes every token handed out so far invalid (as after 15 minutes): webhook calls with them get 401. */
  expireTokens(): void {
    for (const i of this.interactions.values()) i.expired = true;
  }

  /** Signs an HTTP interaction body as Discord does (Ed25519 over timestamp + body). */
  signBody(body: string, timestamp = String(Math.floor(Date.now() / 1000))): { signature: string; timestamp: string } {
    return { signature: sign(null, Buffer.from(timestamp + body), this.privateKey).toString('hex'), timestamp };
  }

  /** Sends a gateway dispatch to every identified session. */
  dispatch(t: string, d: unknown): void {
    for (const ws of this.sockets) ws.send(JSON.stringify({ op: 0, t, s: ++this.seq, d }));
    this.changed();
  }

  /** Records the initial response an HTTP interaction got (the HTTP body). */
  recordResponse(token: string, type: number): void {
    const i = this.interactions.get(token);
    if (!i) return;
    i.responses.push(type);
    if (type === 5) this.original(i);
    this.changed();
  }

  /** Makes the next message post or edit fail with `status` (429: Retry-After and retry_after of `retryAfterS`). */
  failNext(status: number, retryAfterS?: number): void {
    this.failures.push({ status, retryAfterS });
  }

  /** Messages of a conversation (a channel and its threads) with at least one version, oldest first. */
  messagesIn(conversation: string): FakeDiscordMessage[] {
    return this.messages.filter((m) => m.conversation === conversation && m.versions.length > 0);
  }

  /** Resolves with `probe()`'s first defined value, re-checked whenever the fake records something. */
  until<T>(probe: () => T | undefined | null | false, timeoutMs = 20_000, what = 'condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v === undefined || v === null || v === false) return;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(
          new Error(
            `discord fake: timed out after ${timeoutMs} ms waiting for ${what}; calls: ${this.calls
              .slice(-12)
              .map((c) => `${c.method} ${c.path} ${c.status}`)
              .join(' | ')}`,
          ),
        );
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }

  private onSocket(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    ws.send(
      JSON.stringify({ op: 10, s: null, t: null, d: { heartbeat_interval: this.o.heartbeatIntervalMs ?? 45_000 } }),
    );
    ws.on('message', (raw) => {
      const p = JSON.parse(String(raw)) as { op: number; d?: Record<string, unknown> };
      if (p.op === 1) {
        this.gateway.heartbeats++;
        ws.send(JSON.stringify({ op: 11, s: null, t: null, d: null }));
        this.gateway.acks++;
      } else if (p.op === 2) {
        this.gateway.identifies.push({
          token: p.d?.token as string | undefined,
          intents: p.d?.intents as number | undefined,
        });
        const user = {
          id: this.applicationId,
          username: 'switchboard',
          discriminator: '0',
          bot: true,
          avatar: null,
          global_name: null,
        };
        ws.send(
          JSON.stringify({
            op: 0,
            t: 'READY',
            s: ++this.seq,
            d: {
              v: 10,
              user,
              guilds: [],
              session_id: `session-${this.seq}`,
              resume_gateway_url: `ws://127.0.0.1:${this.port}`,
              application: { id: this.applicationId, flags: 0 },
            },
          }),
        );
      } else if (p.op === 6) {
        this.gateway.resumes++;
        ws.send(JSON.stringify({ op: 0, t: 'RESUMED', s: ++this.seq, d: {} }));
      }
      this.changed();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://x');
    // ── files: the attachment CDN ──
    if (url.pathname.startsWith('/attachments/')) {
      const a = this.uploads.get(url.pathname.split('/')[2] ?? '');
      const signed = a !== undefined && url.searchParams.get('ex') === a.sig;
      res.writeHead(signed ? 200 : 404).end(signed ? a.bytes : 'Not Found');
      return;
    }
    const path = decodeURIComponent(url.pathname.replace(/^\/api\/v10/, ''));
    const method = req.method ?? 'GET';
    const auth = req.headers.authorization;
    const { body, files } = await parseBody(raw, req.headers['content-type']);
    const call: FakeCall = { at: Date.now(), method, path, status: 200, auth, body, outbound: false };
    const reply = (status: number, data?: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      this.calls.push(call);
      res.writeHead(status, { ...(data === undefined ? {} : { 'content-type': 'application/json' }), ...headers });
      res.end(data === undefined ? undefined : JSON.stringify(data));
      this.changed();
    };
    const bot = auth === `Bot ${this.botToken}`;
    const unauthorized = () => reply(401, { message: '401: Unauthorized', code: 0 });
    let m: RegExpExecArray | null;

    if (method === 'GET' && path === '/gateway/bot') {
      if (!bot) return unauthorized();
      return reply(200, {
        url: `ws://127.0.0.1:${this.port}`,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: 1 },
      });
    }
    if ((m = /^\/applications\/(\d+)\/commands$/.exec(path))) {
      if (!bot || m[1] !== this.applicationId) return unauthorized();
      if (method === 'GET') {
        this.commandGets++;
        return reply(200, this.commands);
      }
      if (method === 'PUT') {
        this.commandPuts++;
        this.commands = (body as Array<Record<string, unknown>>).map((c) => ({
          id: snowflake(),
          application_id: this.applicationId,
          version: snowflake(),
          default_member_permissions: null,
          type: 1,
          nsfw: false,
          integration_types: [0],
          contexts: null,
          name_localizations: null,
          description_localizations: null,
          ...c,
        }));
        return reply(200, this.commands);
      }
    }
    if (method === 'POST' && (m = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path))) {
      const i = this.interactions.get(m[2]!);
      if (!i || i.id !== m[1]) return reply(404, { message: 'Unknown interaction', code: 10062 });
      if (i.responses.length) return reply(400, { message: 'Interaction has already been acknowledged.', code: 40060 });
      i.responses.push((body as { type: number }).type);
      if ((body as { type: number }).type === 5) this.original(i);
      return reply(204);
    }

    // Message posts and edits: subject to failNext, recorded per conversation.
    const hook = /^\/webhooks\/(\d+)\/([^/]+)(\/messages\/@original)?$/.exec(path);
    const chan = /^\/channels\/(\d+|[\w-]+)\/messages(?:\/(\w+))?$/.exec(path);
    if (!hook && !chan) return reply(404, { message: '404: Not Found', code: 0 });
    call.outbound = true;
    const interaction = hook ? this.interactions.get(hook[2]!) : undefined;
    const channelId = chan ? chan[1]! : interaction?.channelId;
    call.conversation = channelId ? this.conversationOf(channelId) : undefined;
    const failure = this.failures.shift();
    if (failure) {
      if (failure.status === 429) {
        const s = failure.retryAfterS ?? 1;
        return reply(
          429,
          { message: 'You are being rate limited.', retry_after: s, global: false },
          { 'retry-after': String(s), 'x-ratelimit-scope': 'user' },
        );
      }
      const known: Record<number, unknown> = {
        403: { message: 'Missing Access', code: 50001 },
        404: { message: 'Unknown Channel', code: 10003 },
        400: { message: 'Invalid Form Body', code: 50035 },
      };
      return reply(failure.status, known[failure.status] ?? { message: 'Internal Server Error', code: 0 });
    }
    const payload = (body ?? {}) as { content?: string; components?: unknown[] };
    if (hook) {
      if (hook[1] !== this.applicationId || !interaction)
        return reply(404, { message: 'Unknown Webhook', code: 10015 });
      if (interaction.expired) return reply(401, { message: 'Invalid Webhook Token', code: 50027 });
      if (method === 'PATCH' && hook[3])
        return reply(200, this.messageJson(this.write(this.original(interaction), payload, 'webhook', files)));
      if (method === 'DELETE' && hook[3]) {
        this.original(interaction).deleted = true;
        return reply(204);
      }
      if (method === 'POST' && !hook[3])
        return reply(200, this.messageJson(this.write(this.create(interaction.channelId), payload, 'webhook', files)));
      return reply(405, { message: '405: Method Not Allowed', code: 0 });
    }
    if (!bot) return unauthorized();
    if (this.botDenied.has(channelId!)) return reply(403, { message: 'Missing Permissions', code: 50013 });
    if (method === 'POST' && !chan![2])
      return reply(200, this.messageJson(this.write(this.create(channelId!), payload, 'bot', files)));
    if (method === 'PATCH' && chan![2]) {
      const msg = this.messages.find((x) => x.id === chan![2] && x.channelId === channelId);
      if (!msg) return reply(404, { message: 'Unknown Message', code: 10008 });
      return reply(200, this.messageJson(this.write(msg, payload, 'bot', files)));
    }
    return reply(405, { message: '405: Method Not Allowed', code: 0 });
  }

  private conversationOf(channelId: string): string {
    return this.channels.get(channelId)?.parent ?? channelId;
  }

  private create(channelId: string): FakeDiscordMessage {
    const parent = this.channels.get(channelId)?.parent;
    const msg: FakeDiscordMessage = {
      id: snowflake(),
      channelId,
      conversation: parent ?? channelId,
      thread: parent ? channelId : undefined,
      versions: [],
      via: [],
      components: [],
      files: [],
    };
    this.messages.push(msg);
    return msg;
  }

  /** The original response of an interaction (created, empty, when it is deferred). */
  private original(i: FakeInteraction): FakeDiscordMessage {
    const existing = this.messages.find((x) => x.id === i.originalId);
    if (existing) return existing;
    const msg = this.create(i.channelId);
    msg.interactionToken = i.token;
    i.originalId = msg.id;
    return msg;
  }

  private write(
    msg: FakeDiscordMessage,
    payload: { content?: string; components?: unknown[] },
    via: 'webhook' | 'bot',
    files: Array<{ name: string; text: string }>,
  ): FakeDiscordMessage {
    msg.versions.push(payload.content ?? msg.versions.at(-1) ?? '');
    msg.via.push(via);
    if (payload.components) msg.components = payload.components;
    if (files.length) {
      msg.files.push(...files);
      msg.attachment = true;
    }
    return msg;
  }

  /** A message as the API returns it. */
  messageJson(msg: FakeDiscordMessage): Record<string, unknown> {
    return {
      id: msg.id,
      channel_id: msg.channelId,
      type: 0,
      content: msg.versions.at(-1) ?? '',
      components: msg.components,
      author: {
        id: this.applicationId,
        username: 'switchboard',
        discriminator: '0',
        bot: true,
        avatar: null,
        global_name: null,
      },
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: msg.files.map((f, n) => ({ id: String(n), filename: f.name, size: f.text.length })),
      embeds: [],
      pinned: false,
      flags: 0,
    };
  }
}

/** Parses JSON or multipart (payload_json + files[n]) request bodies. */
async function parseBody(
  raw: Buffer,
  contentType: string | undefined,
): Promise<{ body: unknown; files: Array<{ name: string; text: string }> }> {
  if (!raw.length) return { body: undefined, files: [] };
  if (contentType?.startsWith('multipart/form-data')) {
    const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
    const files: Array<{ name: string; text: string }> = [];
    for (const [key, v] of form.entries())
      if (key.startsWith('files[') && typeof v !== 'string') files.push({ name: v.name, text: await v.text() });
    const json = form.get('payload_json');
    return { body: typeof json === 'string' ? JSON.parse(json) : {}, files };
  }
  return { body: JSON.parse(raw.toString('utf8')), files: [] };
}
