// The Telegram ContractDriver: private chats on the local fake Bot API, driven through grammY long polling.
import type { FrontendDeps } from '../../src/frontends/frontend.ts';
import { createTelegramFrontend, type TelegramFrontendOptions } from '../../src/frontends/telegram/index.ts';
import type { FakeMessage, PlatformDriver } from '../frontends/contract.ts';
import { TelegramFake, type TgChat } from './telegram-fake.ts';

/** Fast settings for tests: no per-chat pacing, short long polls, 1 s retry_after honoured in place. */
export const TELEGRAM_FAST: TelegramFrontendOptions = {
  throttle: { global: {}, group: { maxConcurrent: 1 }, out: { maxConcurrent: 1 } },
  pollingTimeoutSeconds: 2,
  maxRetryDelaySeconds: 2,
};
/** The Telegram frontend with the fast test settings. */
export const telegramFactory = (deps: FrontendDeps) => createTelegramFrontend(deps, TELEGRAM_FAST);
/** The user id the driver speaks as by default. */
export const TELEGRAM_USER = 4242;

/** The contract driver: conversations are private chats (topics allowed), named ones mapped to numeric ids. */
export class TelegramDriver implements PlatformDriver {
  fake!: TelegramFake;
  private readonly ids = new Map<string, number>();
  private readonly names = new Map<number, string>();

  async start() {
    this.fake = await TelegramFake.start();
    return { factory: telegramFactory, env: { TELEGRAM_BOT_TOKEN: this.fake.token, TELEGRAM_API_ROOT: this.fake.url } };
  }

  /** Nothing to do: the bot long-polls the fake, so the driver never calls the hub. */
  attachHub(): void {}

  idOf(name: string, base: number): number {
    if (/^\d+$/.test(name)) return Number(name);
    let id = this.ids.get(name);
    if (id === undefined) {
      id = base + this.ids.size;
      this.ids.set(name, id);
      this.names.set(id, name);
    }
    return id;
  }

  async say(conversation: string, text: string, opts: { thread?: string; user?: string } = {}) {
    const chat: TgChat = { id: this.idOf(conversation, 2_000_000), type: 'private' };
    const from = opts.user ? this.idOf(opts.user, 7_000) : TELEGRAM_USER;
    const thread = opts.thread ? this.idOf(opts.thread, 300) : undefined;
    const u = this.fake.push(this.fake.textUpdate(chat, from, text, thread === undefined ? {} : { threadId: thread }));
    await this.fake.consumed(u.update_id);
  }

  messages(conversation: string): FakeMessage[] {
    return this.fake.messages(this.idOf(conversation, 2_000_000)).map((m) => ({
      id: String(m.messageId),
      conversation,
      versions: [...m.versions],
      thread: m.threadId === undefined ? undefined : (this.names.get(m.threadId) ?? String(m.threadId)),
    }));
  }

  allMessages(): FakeMessage[] {
    return this.fake.posted.map((m) => ({
      id: String(m.messageId),
      conversation: this.names.get(m.chatId) ?? String(m.chatId),
      versions: [...m.versions],
    }));
  }

  waitFor(conversation: string, pred: (all: FakeMessage[]) => boolean, timeoutMs = 20_000) {
    return this.fake.until(
      () => {
        const all = this.messages(conversation);
        return pred(all) ? all : undefined;
      },
      timeoutMs,
      `messages in ${conversation}`,
    );
  }

  failNextOutbound(status: number, retryAfterS?: number) {
    this.fake.failNext(status, retryAfterS);
  }

  outboundCalls() {
    return this.fake.outbound.map((c) => ({
      at: c.at,
      status: c.status,
      conversation: c.chatId === undefined ? undefined : this.names.get(c.chatId),
    }));
  }

  async stop() {
    await this.fake?.stop();
  }
}
