// A local fake of the Telegram Bot API (/bot<token>/<method>) for driving grammY end to end on 127.0.0.1.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InlineKeyboardMarkup, Update, UserFromGetMe } from 'grammy/types';

/** A message the bot posted, with every version of its text (edits applied in order). */
export interface TgMessage {
  chatId: number;
  messageId: number;
  threadId?: number | undefined;
  versions: string[];
  /** The inline keyboard after each version (undefined: none). */
  markups: Array<InlineKeyboardMarkup | undefined>;
  replyTo?: number | undefined;
}

/** One outbound call (sendMessage, editMessageText, sendDocument) as the fake answered it. */
export interface TgOutboundCall {
  at: number;
  method: string;
  status: number;
  chatId?: number | undefined;
}

/** A chat as the fake describes it in updates. */
export interface TgChat {
  id: number;
  type: 'private' | 'group' | 'supergroup';
  title?: string;
  is_forum?: boolean;
}

const OUTBOUND = new Set(['sendMessage', 'editMessageText', 'sendDocument']);
const FAIL_TEXT: Record<number, string> = {
  400: 'Bad Request: chat not found',
  403: 'Forbidden: bot was blocked by the user',
  404: 'Not Found',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
};

type Reply = { status: number; body: unknown };
const ok = (result: unknown): Reply => ({ status: 200, body: { ok: true, result } });
const fail = (status: number, description: string, parameters?: Record<string, unknown>): Reply => ({
  status,
  body: { ok: false, error_code: status, description, ...(parameters ? { parameters } : {}) },
});

/** The fake Bot API server: records what the bot posts, feeds updates to getUpdates, fails calls on request. */
export class TelegramFake {
  /** The command menu as setMyCommands stored it (getMyCommands returns it). */
  commands: Array<{ command: string; description: string }> = [];
  /** The bot as getMe describes it. */
  readonly me: UserFromGetMe = {
    id: 900001,
    is_bot: true,
    first_name: 'Switchboard',
    username: 'SwitchboardTestBot',
    can_join_groups: true,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
    can_connect_to_business: false,
    has_main_web_app: false,
    has_topics_enabled: false,
    allows_users_to_create_topics: false,
  } as UserFromGetMe;
  /** Every API call received, in order. */
  readonly calls: Array<{ method: string; payload: Record<string, unknown>; at: number }> = [];
  readonly outbound: TgOutboundCall[] = [];
  readonly posted: TgMessage[] = [];
  /** answerCallbackQuery calls. */
  readonly callbackAnswers: Array<{ callback_query_id: string; text?: string }> = [];
  /** The webhook as set by setWebhook (null after deleteWebhook). */
  webhook: { url: string; secret_token?: string; allowed_updates?: string[] } | null = null;
  /** The highest offset getUpdates has confirmed (updates below it are acknowledged). */
  confirmedOffset = 0;

  // ── files ──
  /** Files users "uploaded" (getFile serves them under /file/bot<token>/<path>). */
  readonly files = new Map<string, { bytes: Buffer; path: string }>();
  /** Documents the bot sent with sendDocument. */
  readonly documents: Array<{ chatId: number; name: string; bytes: Buffer; messageId: number }> = [];
  /** File downloads asked for, with the status the fake answered. */
  readonly fileDownloads: Array<{ path: string; status: number }> = [];

  /** Stores a file as if a user uploaded it; returns its file_id. */
  addFile(bytes: Buffer, name: string): string {
    const id = `file${this.files.size + 1}`;
    this.files.set(id, { bytes, path: `documents/${id}-${name}` });
    return id;
  }

  private server!: Server;
  private readonly pending: Update[] = [];
  private poll: { res: () => void } | null = null;
  private nextUpdateId = 5000;
  private readonly nextMessageId = new Map<number, number>();
  private failures: Array<{ status: number; retryAfterS?: number | undefined; method?: string | undefined }> = [];
  private readonly listeners = new Set<() => void>();
  private url_ = '';

  private constructor(
    readonly token: string,
    private readonly maxHoldMs: number,
  ) {}

  /** Starts a fake on 127.0.0.1 with a random port. `maxHoldMs` caps how long getUpdates holds a long poll. */
  static async start(opts: { token?: string; maxHoldMs?: number } = {}): Promise<TelegramFake> {
    const fake = new TelegramFake(opts.token ?? '123456:TEST-token_abc', opts.maxHoldMs ?? 2000);
    fake.server = createServer((req, res) => void fake.route(req, res));
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url_ = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  /** The API root to give grammY (TELEGRAM_API_ROOT). */
  get url(): string {
    return this.url_;
  }

  /** Messages the bot posted in a chat, oldest first. */
  messages(chatId: number): TgMessage[] {
    return this.posted.filter((m) => m.chatId === chatId);
  }

  /** Makes the next outbound call (or the next call of `method`) fail with `status` (429 carries parameters.retry_after). */
  failNext(status: number, retryAfterS?: number, method?: string): void {
    this.failures.push({ status, retryAfterS, method });
  }

  /** Queues an update for getUpdates; returns its update_id. */
  push(update: Omit<Update, 'update_id'> & { update_id?: number }): Update {
    const u = { ...update, update_id: update.update_id ?? this.nextUpdateId++ } as Update;
    this.pending.push(u);
    this.poll?.res();
    return u;
  }

  /** A user's text message (a `/command` gets its bot_command entity, `@mentions` their mention entities). */
  textUpdate(chat: TgChat, fromId: number, text: string, opts: { threadId?: number } = {}): Update {
    const entities = [...text.matchAll(/@\w+/g)].map((m) => ({
      type: 'mention' as const,
      offset: m.index,
      length: m[0].length,
    }));
    const cmd = /^\/\S+/.exec(text);
    if (cmd) entities.unshift({ type: 'bot_command' as never, offset: 0, length: cmd[0].length });
    return {
      update_id: this.nextUpdateId++,
      message: {
        message_id: this.bumpMessageId(chat.id),
        date: Math.floor(Date.now() / 1000),
        chat: chat as never,
        from: { id: fromId, is_bot: false, first_name: `User${fromId}` },
        text,
        ...(entities.length ? { entities } : {}),
        ...(opts.threadId !== undefined ? { message_thread_id: opts.threadId, is_topic_message: true } : {}),
      },
    } as Update;
  }

  /** A press of an inline button on a message the bot posted. */
  buttonUpdate(message: TgMessage, chat: TgChat, fromId: number, data: string): Update {
    return {
      update_id: this.nextUpdateId++,
      callback_query: {
        id: `cq${this.nextUpdateId}`,
        chat_instance: `ci${chat.id}`,
        data,
        from: { id: fromId, is_bot: false, first_name: `User${fromId}` },
        message: {
          message_id: message.messageId,
          date: Math.floor(Date.now() / 1000),
          chat: chat as never,
          text: message.versions.at(-1) ?? '',
          from: this.me,
          ...(message.threadId !== undefined ? { message_thread_id: message.threadId, is_topic_message: true } : {}),
        },
      },
    } as Update;
  }

  /** Resolves once getUpdates has confirmed `updateId` (the bot asked for the updates after it, having handled it). */
  consumed(updateId: number, timeoutMs = 20_000): Promise<void> {
    return this.until(
      () => (this.confirmedOffset > updateId ? true : undefined),
      timeoutMs,
      `update ${updateId} to be consumed`,
    ).then(() => {});
  }

  /** Resolves with `probe()`'s first defined value, re-evaluated on every call the fake receives. */
  until<T>(probe: () => T | undefined, timeoutMs = 20_000, what = 'the fake'): Promise<T> {
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
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** POSTs an update to a webhook URL as Telegram would; returns the status. */
  async deliver(url: string, update: Update, secret?: string): Promise<number> {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(secret !== undefined ? { 'x-telegram-bot-api-secret-token': secret } : {}),
      },
      body: JSON.stringify(update),
    });
    await res.arrayBuffer();
    return res.status;
  }

  async stop(): Promise<void> {
    this.poll?.res();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private bumpMessageId(chatId: number): number {
    const id = (this.nextMessageId.get(chatId) ?? 0) + 1;
    this.nextMessageId.set(chatId, id);
    return id;
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    // ── files: downloads and multipart uploads ──
    const dl = /^\/file\/bot([^/]+)\/(.+)$/.exec(req.url ?? '');
    if (dl) {
      const file = [...this.files.values()].find((f) => f.path === decodeURIComponent(dl[2]!));
      const okToken = dl[1] === this.token;
      this.fileDownloads.push({ path: dl[2]!, status: okToken && file ? 200 : 404 });
      res.writeHead(okToken && file ? 200 : 404).end(okToken && file ? file.bytes : 'Not Found');
      return;
    }
    if (String(req.headers['content-type']).startsWith('multipart/form-data')) {
      const form = await new Response(Buffer.concat(chunks), {
        headers: { 'content-type': String(req.headers['content-type']) },
      }).formData();
      const payload: Record<string, unknown> = {};
      for (const [k, v] of form) {
        payload[k] = typeof v === 'string' ? v : { name: v.name, bytes: Buffer.from(await v.arrayBuffer()) };
      }
      const mm = /^\/bot([^/]+)\/(\w+)$/.exec(req.url?.split('?')[0] ?? '');
      const r = mm && mm[1] === this.token ? await this.call(mm[2]!, payload, res) : fail(401, 'Unauthorized');
      res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body));
      this.changed();
      return;
    }
    const m = /^\/bot([^/]+)\/(\w+)$/.exec(req.url?.split('?')[0] ?? '');
    let payload: Record<string, unknown> = {};
    try {
      payload = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
    } catch {
      /* a bad body is answered below */
    }
    const reply = !m
      ? fail(404, 'Not Found')
      : m[1] !== this.token
        ? fail(401, 'Unauthorized')
        : await this.call(m[2]!, payload, res);
    if (res.destroyed) return;
    res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
    this.changed();
  }

  private async call(method: string, p: Record<string, unknown>, res: ServerResponse): Promise<Reply> {
    this.calls.push({ method, payload: p, at: Date.now() });
    const i = this.failures.findIndex((f) => f.method === method || (!f.method && OUTBOUND.has(method)));
    const f = i >= 0 ? this.failures.splice(i, 1)[0] : undefined;
    if (f && !OUTBOUND.has(method)) return this.failure(f);
    if (OUTBOUND.has(method)) {
      const r = f ? this.failure(f) : this.outboundCall(method, p);
      this.outbound.push({
        at: Date.now(),
        method,
        status: r.status,
        chatId: typeof p.chat_id === 'number' ? p.chat_id : Number(p.chat_id),
      });
      return r;
    }
    switch (method) {
      case 'getMe':
        return ok(this.me);
      case 'getUpdates':
        return ok(await this.getUpdates(p, res));
      case 'deleteWebhook':
        this.webhook = null;
        return ok(true);
      case 'setWebhook':
        this.webhook = {
          url: String(p.url),
          ...(p.secret_token ? { secret_token: String(p.secret_token) } : {}),
          ...(p.allowed_updates ? { allowed_updates: p.allowed_updates as string[] } : {}),
        };
        return ok(true);
      case 'answerCallbackQuery':
        this.callbackAnswers.push(p as never);
        return ok(true);
      case 'setMyCommands':
        this.commands = (p.commands as Array<{ command: string; description: string }>) ?? [];
        return ok(true);
      case 'getMyCommands':
        return ok(this.commands);
      case 'getFile': {
        const f = this.files.get(String(p.file_id));
        if (!f) return fail(400, 'Bad Request: invalid file_id');
        return ok({
          file_id: p.file_id,
          file_unique_id: `u${p.file_id}`,
          file_size: f.bytes.length,
          file_path: f.path,
        });
      }
      default:
        return fail(404, `Not Found: method ${method} is not in the fake`);
    }
  }

  private failure(f: { status: number; retryAfterS?: number | undefined }): Reply {
    if (f.status === 429)
      return fail(429, `Too Many Requests: retry after ${f.retryAfterS ?? 1}`, { retry_after: f.retryAfterS ?? 1 });
    return fail(f.status, FAIL_TEXT[f.status] ?? 'Error');
  }

  private outboundCall(method: string, p: Record<string, unknown>): Reply {
    const chatId = Number(p.chat_id);
    const text = typeof p.text === 'string' ? p.text : '';
    if (method === 'sendDocument') {
      const ref = typeof p.document === 'string' && p.document.startsWith('attach://') ? p.document.slice(9) : null;
      const doc = (ref ? p[ref] : p.document) as { name: string; bytes: Buffer } | undefined;
      if (!doc?.bytes) return fail(400, 'Bad Request: there is no document in the request');
      const msg: TgMessage = {
        chatId,
        messageId: this.bumpMessageId(chatId),
        versions: [String(p.caption ?? '')],
        markups: [undefined],
      };
      this.documents.push({ chatId, name: doc.name, bytes: doc.bytes, messageId: msg.messageId });
      this.posted.push(msg);
      return ok(this.asMessage(msg));
    }
    if (!text.trim()) return fail(400, 'Bad Request: message text is empty');
    if (text.length > 4096) return fail(400, 'Bad Request: message is too long');
    const markup = p.reply_markup as InlineKeyboardMarkup | undefined;
    if (method === 'sendMessage') {
      const threadId = typeof p.message_thread_id === 'number' ? p.message_thread_id : undefined;
      const replyTo = (p.reply_parameters as { message_id?: number } | undefined)?.message_id;
      const msg: TgMessage = {
        chatId,
        messageId: this.bumpMessageId(chatId),
        threadId,
        versions: [text],
        markups: [markup],
        replyTo,
      };
      this.posted.push(msg);
      return ok(this.asMessage(msg));
    }
    const msg = this.posted.find((x) => x.chatId === chatId && x.messageId === Number(p.message_id));
    if (!msg) return fail(400, 'Bad Request: message to edit not found');
    if (msg.versions.at(-1) === text && JSON.stringify(msg.markups.at(-1)) === JSON.stringify(markup)) {
      return fail(
        400,
        'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
      );
    }
    msg.versions.push(text);
    msg.markups.push(markup);
    return ok(this.asMessage(msg));
  }

  private asMessage(m: TgMessage): unknown {
    return {
      message_id: m.messageId,
      date: Math.floor(Date.now() / 1000),
      from: this.me,
      chat:
        m.chatId > 0
          ? { id: m.chatId, type: 'private', first_name: 'User' }
          : { id: m.chatId, type: 'supergroup', title: 'Group' },
      text: m.versions.at(-1),
      ...(m.threadId !== undefined ? { message_thread_id: m.threadId, is_topic_message: true } : {}),
      ...(m.markups.at(-1) ? { reply_markup: m.markups.at(-1) } : {}),
    };
  }

  /** Offset semantics: updates below `offset` are confirmed and dropped; waits (briefly) when none are pending. */
  private async getUpdates(p: Record<string, unknown>, res: ServerResponse): Promise<Update[]> {
    const offset = Number(p.offset ?? 0);
    if (offset > 0) {
      this.confirmedOffset = Math.max(this.confirmedOffset, offset);
      for (let i = this.pending.length - 1; i >= 0; i--)
        if (this.pending[i]!.update_id < offset) this.pending.splice(i, 1);
      this.changed();
    }
    const limit = Math.max(1, Math.min(100, Number(p.limit ?? 100)));
    const timeoutMs = Math.min(Number(p.timeout ?? 0) * 1000, this.maxHoldMs);
    if (this.pending.length === 0 && timeoutMs > 0) {
      this.poll?.res(); // a newer long poll replaces the older one
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          if (this.poll === entry) this.poll = null;
          resolve();
        };
        const entry = { res: done };
        const t = setTimeout(done, timeoutMs);
        this.poll = entry;
        res.once('close', done);
      });
    }
    return this.pending.slice(0, limit);
  }
}
