// The Slack ContractDriver, and the fake-plus-factory setup the Slack tests share.
import type { AddressInfo } from 'node:net';
import type { FrontendFactory } from '../../src/frontends/frontend.ts';
import { createSlackFrontend, SLACK_WEBHOOK_PATH, type SlackFrontend } from '../../src/frontends/slack/index.ts';
import type { FakeMessage, PlatformDriver } from '../frontends/contract.ts';
import { SlackFake, type SlackFakeMessage } from './slack-fake.ts';

const SECRET = 'fake-signing-secret-1234';
const BOT_TOKEN = 'xoxb-fake-bot-token';
const APP_TOKEN = 'xapp-fake-app-token';

/** A fake Slack plus the factory that builds the real frontend against it and tells the fake where the hub listens. */
export function slackSetup(transport: 'http' | 'socket' = 'http') {
  const fake = new SlackFake({ signingSecret: SECRET, botToken: BOT_TOKEN, appToken: APP_TOKEN, transport });
  const holder: { frontend?: SlackFrontend } = {};
  const factory: FrontendFactory = (deps) => {
    fake.hubUrl = () => `http://127.0.0.1:${(deps.http.server.address() as AddressInfo).port}/webhooks/slack`;
    holder.frontend = createSlackFrontend(deps);
    return holder.frontend;
  };
  const env = {
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SECRET,
    ...(transport === 'socket' ? { SLACK_APP_TOKEN: APP_TOKEN } : {}),
    HUB_ADMINS: 'web:admin,test:admin,slack:U_ADMIN',
  };
  return { fake, holder, factory, env: () => ({ ...env, SLACK_API_URL: fake.apiUrl }) };
}

/** The Slack driver, with its fake at hand. */
export interface SlackDriver extends PlatformDriver {
  fake: SlackFake;
}

/** The contract driver: `say` with a thread is an app_mention in that thread; without, a direct message (im). */
export function slackDriver(): SlackDriver {
  const s = slackSetup('http');
  const toFake = (m: SlackFakeMessage): FakeMessage => ({
    id: m.ts,
    conversation: m.channel,
    thread: m.thread,
    versions: [...m.versions],
  });
  const messages = (conversation: string) => s.fake.inChannel(conversation).map(toFake);
  return {
    fake: s.fake,
    async start() {
      await s.fake.start();
      return { factory: s.factory, env: s.env() };
    },
    attachHub(hubUrl) {
      s.fake.hubUrl = () => `${hubUrl}${SLACK_WEBHOOK_PATH}`;
    },
    async say(conversation, text, opts = {}) {
      const user = opts.user?.replace(/^slack:/, '');
      const r = opts.thread
        ? await s.fake.mention(conversation, text, { thread: opts.thread, user })
        : await s.fake.directMessage(conversation, text, { user });
      if (r.answer.status !== 200) throw new Error(`the hub answered ${r.answer.status}: ${r.answer.text}`);
    },
    messages,
    allMessages: () => s.fake.messages.map(toFake),
    waitFor(conversation, pred, timeoutMs = 30_000) {
      return s.fake.until(
        () => {
          const all = messages(conversation);
          return pred(all) ? all : undefined;
        },
        timeoutMs,
        `messages in ${conversation}`,
      );
    },
    failNextOutbound(status, retryAfterS) {
      s.fake.failNext({ status, retryAfterS });
    },
    outboundCalls() {
      return s.fake.calls
        .filter((c) => c.method === 'chat.postMessage' || c.method === 'chat.update')
        .map((c) => ({ at: c.at, status: c.status, conversation: c.channel }));
    },
    stop: () => s.fake.stop(),
  };
}
