// The Discord ContractDriver: slash commands and button presses delivered over the fake gateway or signed HTTP interactions.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FrontendDeps, FrontendFactory, IFrontend } from '../../src/frontends/frontend.ts';
import { createDiscordFrontend, type DiscordFrontendOptions } from '../../src/frontends/discord/index.ts';
import type { PlatformDriver } from '../frontends/contract.ts';
import { DiscordFake, snowflake, type FakeDiscordMessage } from './discord-fake.ts';

/** Users the driver speaks as (Discord user ids). */
export const DISCORD_USERS = {
  alice: '200000000000000001',
  bob: '200000000000000002',
  admin: '200000000000000009',
} as const;
const GUILD = '400000000000000001';

/** A ContractDriver for Discord, plus handles on the fake and the frontend for platform tests. */
export interface DiscordDriver extends PlatformDriver {
  fake: DiscordFake;
  messages(conversation: string): FakeDiscordMessage[];
  waitFor(
    conversation: string,
    pred: (all: FakeDiscordMessage[]) => boolean,
    timeoutMs?: number,
  ): Promise<FakeDiscordMessage[]>;
  frontend(): IFrontend;
  deps(): FrontendDeps;
  hubUrl(): string;
  /** Runs a slash command in a channel; resolves with the interaction and the initial response once the hub answered. */
  command(
    channel: string,
    name: string,
    options?: unknown[],
    o?: { user?: string; thread?: string; dm?: boolean; resolved?: Record<string, unknown> },
  ): Promise<{ interaction: Record<string, unknown>; response: number | undefined }>;
  /** Presses a button of a message. */
  press(
    channel: string,
    messageId: string,
    customId: string,
    o?: { user?: string; id?: string },
  ): Promise<{ interaction: Record<string, unknown>; response: number | undefined }>;
  /** Posts raw bytes to the HTTP interactions endpoint with the given headers. */
  post(body: string, headers: Record<string, string>): Promise<{ status: number; json: unknown }>;
}

/** The slash command (name and options) a chat line maps to: "task x --priority low", "admin reprocess id", ... */
export function slashCommandOf(text: string): { name: string; options: unknown[] } {
  const [word = '', ...argv] = text.trim().split(/\s+/);
  const args = text.trim().slice(word.length).trim();
  const opt = (name: string, value: string | undefined) => (value ? [{ name, type: 3, value }] : []);
  const name = word.replace(/^\//, '').toLowerCase();
  switch (name) {
    case 'task': {
      const m = /^(.*?)(?:\s+--priority\s+(\w+))?$/s.exec(args);
      return { name, options: [...opt('text', m?.[1] ?? args), ...opt('priority', m?.[2])] };
    }
    case 'reject':
      return { name, options: [...opt('id', argv[0]), ...opt('reason', argv.slice(1).join(' '))] };
    case 'admin': {
      const [sub = 'workers', arg] = argv;
      return { name, options: [{ type: 1, name: sub, options: opt(sub === 'reprocess' ? 'id' : 'capability', arg) }] };
    }
    case 'help':
      return { name, options: opt('topic', argv[0]) };
    default:
      return { name, options: opt('id', argv[0]) };
  }
}

/** Builds a driver: `mode` picks how interactions reach the hub; `frontendOptions` tune the frontend under test. */
export function createDiscordDriver(
  mode: 'gateway' | 'http',
  frontendOptions: DiscordFrontendOptions = {},
  fakeOptions: { heartbeatIntervalMs?: number } = {},
): DiscordDriver {
  const fake = new DiscordFake(fakeOptions);
  let deps: FrontendDeps | undefined;
  let frontend: IFrontend | undefined;
  let attached: string | undefined;
  const user = (id: string) => ({
    id,
    username: `user${id.slice(-2)}`,
    discriminator: '0',
    global_name: null,
    avatar: null,
    bot: false,
  });

  const deliver = async (i: Record<string, unknown> & { id: string; token: string; channel_id: string }) => {
    fake.addInteraction(i);
    if (mode === 'gateway') {
      await fake.until(() => fake.gateway.identifies.length > 0, 20_000, 'a gateway session');
      fake.dispatch('INTERACTION_CREATE', i);
      const answered = await fake.until(
        () => fake.interactions.get(i.token)!.responses[0],
        20_000,
        `the response to interaction ${i.id}`,
      );
      return { interaction: i, response: answered };
    }
    const body = JSON.stringify(i);
    const { signature, timestamp } = fake.signBody(body);
    const r = await driver.post(body, { 'x-signature-ed25519': signature, 'x-signature-timestamp': timestamp });
    const type = (r.json as { type?: number } | undefined)?.type;
    if (type !== undefined) fake.recordResponse(i.token, type);
    return { interaction: i, response: type };
  };

  const base = (channel: string, o: { user?: string; thread?: string; dm?: boolean }) => {
    const channelId = o.thread ?? channel;
    if (o.thread) fake.addThread(o.thread, channel);
    const u = user(o.user ?? DISCORD_USERS.alice);
    const where = o.dm
      ? { channel_id: channelId, channel: { id: channelId, type: 1, recipients: [u] }, user: u, context: 1 }
      : {
          guild_id: GUILD,
          channel_id: channelId,
          context: 0,
          channel: {
            id: channelId,
            type: o.thread ? 11 : 0,
            guild_id: GUILD,
            name: channelId,
            ...(o.thread ? { parent_id: channel } : {}),
          },
          member: {
            user: u,
            roles: [],
            joined_at: new Date(0).toISOString(),
            deaf: false,
            mute: false,
            flags: 0,
            permissions: '0',
            nick: null,
            avatar: null,
            pending: false,
          },
        };
    return {
      id: snowflake(),
      application_id: fake.applicationId,
      token: `tok-${randomBytes(24).toString('base64url')}`,
      version: 1,
      app_permissions: '0',
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: {},
      ...where,
    };
  };

  const driver: DiscordDriver = {
    fake,
    frontend: () => frontend!,
    deps: () => deps!,
    hubUrl() {
      if (attached !== undefined) return attached;
      const addr = deps!.http.server.address() as AddressInfo;
      return `http://127.0.0.1:${addr.port}`;
    },
    attachHub(url) {
      attached = url;
    },
    async start() {
      await fake.start();
      const factory: FrontendFactory = (d) => {
        deps = d;
        frontend = createDiscordFrontend(d, { restRetries: 1, restTimeoutMs: 10_000, ...frontendOptions });
        return frontend;
      };
      return {
        factory,
        env: {
          DISCORD_BOT_TOKEN: fake.botToken,
          DISCORD_APPLICATION_ID: fake.applicationId,
          DISCORD_API_URL: fake.apiUrl,
          DISCORD_PUBLIC_KEY: fake.publicKeyHex,
          DISCORD_MODE: mode,
          HUB_ADMINS: `web:admin,test:admin,discord:${DISCORD_USERS.admin}`,
        },
      };
    },
    async command(channel, name, options = [], o = {}) {
      const resolved = o.resolved ? { resolved: o.resolved } : {};
      return deliver({ ...base(channel, o), type: 2, data: { id: snowflake(), name, type: 1, options, ...resolved } });
    },
    async press(channel, messageId, customId, o = {}) {
      const msg = fake.messages.find((m) => m.id === messageId);
      const i = {
        ...base(channel, o),
        type: 3,
        message: msg ? fake.messageJson(msg) : { id: messageId },
        data: { custom_id: customId, component_type: 2 },
      };
      return deliver(o.id ? { ...i, id: o.id } : i);
    },
    async post(body, headers) {
      const res = await fetch(`${driver.hubUrl()}/webhooks/discord`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    },
    async say(conversation, text, opts = {}) {
      const { name, options } = slashCommandOf(text);
      await driver.command(conversation, name, options, { thread: opts.thread, user: opts.user });
    },
    messages: (conversation) => fake.messagesIn(conversation),
    allMessages: () => fake.messages.filter((m) => m.versions.length > 0),
    waitFor(conversation, pred, timeoutMs = 20_000) {
      return fake.until(
        () => {
          const all = fake.messagesIn(conversation);
          return pred(all) ? all : undefined;
        },
        timeoutMs,
        `messages in ${conversation}`,
      );
    },
    failNextOutbound: (status, retryAfterS) => fake.failNext(status, retryAfterS),
    outboundCalls: () =>
      fake.calls.filter((c) => c.outbound).map((c) => ({ at: c.at, status: c.status, conversation: c.conversation })),
    stop: () => fake.stop(),
  };
  return driver;
}
