// The Telegram frontend end to end: grammY against a local fake Bot API, on real Redis and Postgres.
import Fastify from 'fastify';
import { Api } from 'grammy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandService } from '../../src/core/commands/command-service.ts';
import { CHAT_COMMANDS } from '../../src/core/commands/parse-command.ts';
import { loadConfig } from '../../src/core/config.ts';
import { ConfigError, PermanentError, RateLimitedError } from '../../src/core/errors.ts';
import type { HubContext } from '../../src/core/hub-context.ts';
import { createLogger } from '../../src/core/logger.ts';
import type { TaskService } from '../../src/core/tasks/task-service.ts';
import type { IFrontend } from '../../src/frontends/frontend.ts';
import { createTelegramFrontend } from '../../src/frontends/telegram/index.ts';
import { syncTelegramCommands } from '../../src/frontends/telegram/telegram-commands.ts';
import {
  TELEGRAM_FAST as FAST,
  TELEGRAM_USER as USER,
  TelegramDriver,
  telegramFactory as factory,
} from '../fakes/telegram-driver.ts';
import { TelegramFake, type TgChat, type TgMessage } from '../fakes/telegram-fake.ts';
import { createHarness, type Harness } from '../helpers/hub-harness.ts';
import { runFrontendContract } from './contract.ts';

const ADMIN = 1;

runFrontendContract('telegram', () => new TelegramDriver(), {
  platform: 'telegram',
  canEdit: true,
  longOutput: 'split',
  userId: `telegram:${USER}`,
  threads: true,
});

const privateChat = (id: number): TgChat => ({ id, type: 'private' });
const texts = (ms: TgMessage[]) => ms.flatMap((m) => m.versions);
const taskByText = (h: Harness, text: string) =>
  h.until(
    async () =>
      (await h.hub.ctx.db.selectFrom('tasks').selectAll().where('text', '=', text).executeTakeFirst()) ?? undefined,
    30_000,
    `task "${text}"`,
  );

describe('telegram long polling', () => {
  let fake: TelegramFake;
  let h: Harness;
  let tg: IFrontend;
  /** A user writes in a chat; resolves once the bot has handled the update. */
  const say = async (chat: TgChat, from: number, text: string, opts: { threadId?: number } = {}) => {
    const u = fake.push(fake.textUpdate(chat, from, text, opts));
    await fake.consumed(u.update_id);
  };
  const waitIn = (chatId: number, pred: (ms: TgMessage[]) => boolean, what: string) =>
    fake.until(() => (pred(fake.messages(chatId)) ? fake.messages(chatId) : undefined), 30_000, what);

  beforeAll(async () => {
    fake = await TelegramFake.start();
    h = await createHarness({
      env: {
        TELEGRAM_BOT_TOKEN: fake.token,
        TELEGRAM_API_ROOT: fake.url,
        HUB_ADMINS: `telegram:${ADMIN},web:admin`,
        PROGRESS_INTERVAL_MS: '100',
      },
      frontendFactories: [factory],
    });
    tg = h.hub.frontends.get('telegram')!;
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await fake?.stop();
  });

  it('polls: deletes any webhook, identifies itself, and a private message becomes a task answered in the chat', async () => {
    expect(fake.calls.find((c) => c.method === 'getMe')).toBeDefined();
    expect(fake.calls.find((c) => c.method === 'deleteWebhook')).toBeDefined();
    await say(privateChat(501), 501, 'hello from polling');
    const task = await taskByText(h, 'hello from polling');
    expect(task.user_id).toBe('telegram:501');
    expect(task.origin).toMatchObject({ platform: 'telegram', conversationId: '501', userId: 'telegram:501' });
    const ms = await waitIn(
      501,
      (all) => all.some((m) => /completed/.test(m.versions.at(-1)!) && m.versions[0]!.includes('hello from polling')),
      'the result',
    );
    const ack = ms[0]!;
    expect(ack.versions[0]).toMatch(/^Got it: task [0-9a-f]{8}/);
    expect(ack.markups[0]?.inline_keyboard[0]?.[0]).toEqual({ text: 'Cancel', callback_data: `cancel ${task.id}` });
    expect(ms.every((m) => m.chatId === 501)).toBe(true);
  });

  it('registers the command menu (every grammar word) at start, and not again when it is unchanged', async () => {
    const sets = () => fake.calls.filter((c) => c.method === 'setMyCommands').length;
    expect(fake.commands.map((c) => c.command)).toEqual(CHAT_COMMANDS.map((c) => c.word));
    expect(fake.commands.every((c) => c.description.length >= 3 && c.description.length <= 256)).toBe(true);
    expect(sets()).toBe(1);
    const log = h.hub.ctx.log;
    const api = new Api(fake.token, { apiRoot: fake.url });
    expect(await syncTelegramCommands(api, log)).toBe(false);
    expect(fake.calls.filter((c) => c.method === 'getMyCommands').length).toBe(2);
    expect(sets()).toBe(1);
  });

  it('a Cancel button press cancels the running task and the chat hears it', async () => {
    const chat = privateChat(502);
    await say(chat, 502, 'task long work sleep 10 seconds');
    const task = await taskByText(h, 'long work sleep 10 seconds');
    await h.waitForTask(task.id, (t) => t.status === 'IN_PROGRESS');
    const ack = (await waitIn(502, (all) => all.length > 0, 'the ack'))[0]!;
    const data = ack.markups[0]!.inline_keyboard[0]![0]! as { callback_data: string };
    const press = fake.push(fake.buttonUpdate(ack, chat, 502, data.callback_data));
    await fake.consumed(press.update_id);
    const pressId = (press.callback_query as { id: string }).id;
    expect(fake.callbackAnswers.map((a) => a.callback_query_id)).toContain(pressId);
    await h.waitForTask(task.id, (t) => t.status === 'CANCELLED');
    const ms = await waitIn(502, (all) => texts(all).some((t) => /was cancelled/.test(t)), 'the cancellation');
    expect(texts(ms).some((t) => t.startsWith('Cancelling task'))).toBe(true);
    expect(ms[0]!.versions.at(-1)).toMatch(/cancelled/);
    expect(ms[0]!.markups.at(-1)).toBeUndefined(); // the settled progress message loses its buttons
  });

  it('a stale or foreign button is answered and runs nothing', async () => {
    const chat = privateChat(503);
    const fakeMsg: TgMessage = { chatId: 503, messageId: 99, versions: ['x'], markups: [undefined] };
    const press = fake.push(fake.buttonUpdate(fakeMsg, chat, 503, 'drop table tasks'));
    await fake.consumed(press.update_id);
    expect(
      fake.callbackAnswers.find((a) => a.callback_query_id === (press.callback_query as { id: string }).id)?.text,
    ).toMatch(/no longer valid/);
    expect(fake.messages(503)).toHaveLength(0);
  });

  it('in groups only commands and mentions count; replies go to the forum topic', async () => {
    const group: TgChat = { id: -100777, type: 'supergroup', title: 'Team', is_forum: true };
    await say(group, 601, 'just chatting about the weather');
    await say(group, 601, '/status@SomeOtherBot');
    expect(fake.messages(-100777)).toHaveLength(0);
    await say(group, 601, '/tasks@SwitchboardTestBot');
    await waitIn(-100777, (all) => all.some((m) => /no tasks yet/.test(m.versions[0]!)), 'the /tasks answer');
    await say(group, 601, 'hey @SwitchboardTestBot summarise the minutes', { threadId: 42 });
    const task = await taskByText(h, 'hey summarise the minutes');
    expect(task.origin).toMatchObject({ conversationId: '-100777', threadId: '42', userId: 'telegram:601' });
    const ms = await waitIn(
      -100777,
      (all) =>
        all.some((m) => /completed/.test(m.versions.at(-1)!) && m.versions[0]!.includes('summarise the minutes')),
      'the group result',
    );
    const inTopic = ms.filter((m) => m.threadId === 42);
    expect(inTopic.length).toBeGreaterThanOrEqual(2);
    // The notifier's acknowledgement opens the exchange in the topic (it no longer replies to the request message).
    expect(inTopic[0]!.versions[0]).toMatch(/^Got it: task/);
    expect(ms.filter((m) => m.threadId !== 42)).toHaveLength(1); // only the /tasks answer is outside the topic
  });

  it('admin: a non-admin is refused; an admin reprocess re-runs the dead letter and the original chat hears it', async () => {
    const userChat = privateChat(701);
    await say(userChat, 701, 'task demo fail please');
    const task = await taskByText(h, 'demo fail please');
    await h.waitForTask(task.id, (t) => t.status === 'FAILED' && t.final_notified, 30_000);
    const failures = (all: TgMessage[]) => all.filter((m) => /^Task [0-9a-f]{8} failed/.test(m.versions[0]!));
    await waitIn(701, (all) => failures(all).length === 1, 'the first failure');
    await say(userChat, 701, `/admin reprocess ${task.id}`);
    await waitIn(701, (all) => all.some((m) => /for admins only/.test(m.versions[0]!)), 'the refusal');
    expect(
      (
        await h.hub.ctx.db
          .selectFrom('subtasks')
          .select('generation')
          .where('task_id', '=', task.id)
          .executeTakeFirstOrThrow()
      ).generation,
    ).toBe(0);

    await say(privateChat(ADMIN), ADMIN, `/admin reprocess ${task.id.slice(0, 8)}`);
    await waitIn(ADMIN, (all) => all.some((m) => /^Reprocessing task/.test(m.versions[0]!)), 'the admin confirmation');
    const second = await waitIn(701, (all) => failures(all).length === 2, 'the second failure in the original chat');
    expect(second.every((m) => m.chatId === 701)).toBe(true);
    const sub = await h.hub.ctx.db
      .selectFrom('subtasks')
      .select(['generation', 'status'])
      .where('task_id', '=', task.id)
      .executeTakeFirstOrThrow();
    expect(sub.generation).toBe(1);
    expect(sub.status).toBe('DEAD');
  });

  it('maps delivery errors: identical edit ignored, 4xx permanent, long 429 rate-limited, 5xx retryable, long text split', async () => {
    const ref = { platform: 'telegram', conversationId: '801', userId: 'telegram:801' };
    const msg = (text: string) => ({ taskId: 'abc', kind: 'info' as const, text });
    const sent = await tg.send(ref, msg('same text'));
    await expect(tg.edit!(sent, msg('same text'))).resolves.toBeUndefined();
    expect(fake.outbound.at(-1)!.status).toBe(400);
    fake.failNext(403);
    await expect(tg.send(ref, msg('blocked'))).rejects.toBeInstanceOf(PermanentError);
    fake.failNext(400);
    await expect(tg.edit!(sent, msg('chat gone'))).rejects.toBeInstanceOf(PermanentError);
    fake.failNext(429, 30);
    const limited = await tg.send(ref, msg('slow down')).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBe(30_000);
    fake.failNext(502);
    const down = await tg.send(ref, msg('server down')).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(Error);
    expect(down).not.toBeInstanceOf(PermanentError);
    expect(down).not.toBeInstanceOf(RateLimitedError);
    const long = `${'word '.repeat(2000)}END`;
    const last = await tg.send(ref, { ...msg(long), actions: ['retry'] });
    const parts = fake.messages(801).slice(-3);
    expect(parts.map((p) => p.versions[0]!.length).every((n) => n <= 4096)).toBe(true);
    expect(parts.at(-1)!.versions[0]).toMatch(/END$/);
    expect(parts.at(-1)!.markups[0]?.inline_keyboard[0]?.[0]?.text).toBe('Retry');
    expect(last.messageId).toBe(String(parts.at(-1)!.messageId));
  });
});

describe('telegram webhook', () => {
  const SECRET = 'webhook-secret_42';
  let fake: TelegramFake;
  let h: Harness;
  let hook: string;

  beforeAll(async () => {
    fake = await TelegramFake.start();
    h = await createHarness({
      env: {
        TELEGRAM_BOT_TOKEN: fake.token,
        TELEGRAM_API_ROOT: fake.url,
        TELEGRAM_WEBHOOK_SECRET: SECRET,
        PUBLIC_URL: 'https://hub.example.org/',
      },
      frontendFactories: [factory],
    });
    hook = `${h.hub.web.url()}/webhooks/telegram`;
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await fake?.stop();
  });

  it('registers its webhook with the secret at start and does not poll', () => {
    expect(fake.webhook).toEqual({
      url: 'https://hub.example.org/webhooks/telegram',
      secret_token: SECRET,
      allowed_updates: ['message', 'callback_query'],
    });
    expect(fake.calls.some((c) => c.method === 'getUpdates' || c.method === 'deleteWebhook')).toBe(false);
  });

  it('a webhook update creates a task and the answer arrives in the chat', async () => {
    expect(await fake.deliver(hook, fake.textUpdate(privateChat(901), 901, 'hello from the webhook'), SECRET)).toBe(
      200,
    );
    const task = await taskByText(h, 'hello from the webhook');
    expect(task.user_id).toBe('telegram:901');
    const ms = await fake.until(
      () => (fake.messages(901).some((m) => /completed/.test(m.versions.at(-1)!)) ? fake.messages(901) : undefined),
      30_000,
      'the result',
    );
    expect(ms[0]!.versions[0]).toMatch(/^Got it: task/);
  });

  it('a wrong or missing secret is 401 and creates nothing', async () => {
    expect(await fake.deliver(hook, fake.textUpdate(privateChat(902), 902, 'sneaky task'), 'not-the-secret')).toBe(401);
    expect(await fake.deliver(hook, fake.textUpdate(privateChat(902), 902, 'sneaky task'))).toBe(401);
    expect(
      await h.hub.ctx.db.selectFrom('tasks').select('id').where('text', '=', 'sneaky task').executeTakeFirst(),
    ).toBeUndefined();
    expect(fake.messages(902)).toHaveLength(0);
  });

  it('the same update delivered twice creates one task', async () => {
    const update = fake.textUpdate(privateChat(903), 903, 'only once please');
    const statuses = await Promise.all([fake.deliver(hook, update, SECRET), fake.deliver(hook, update, SECRET)]);
    expect(statuses).toEqual([200, 200]);
    expect(await fake.deliver(hook, update, SECRET)).toBe(200);
    await taskByText(h, 'only once please');
    const rows = await h.hub.ctx.db.selectFrom('tasks').select('id').where('text', '=', 'only once please').execute();
    expect(rows).toHaveLength(1);
    await fake.until(
      () => (fake.messages(903).some((m) => /completed/.test(m.versions.at(-1)!)) ? true : undefined),
      30_000,
      'the result',
    );
    expect(fake.messages(903).filter((m) => /^Got it/.test(m.versions[0]!))).toHaveLength(1);
  });

  it('a body that is not an update is a clear 400, not a 500', async () => {
    const res = await fetch(hook, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET },
      body: '{"hello":',
    });
    expect(res.status).toBe(400);
    expect(await res.text()).not.toMatch(/at .*\.ts:\d+/);
    const notUpdate = await fetch(hook, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET },
      body: '{"hello":1}',
    });
    expect(notUpdate.status).toBe(400);
    expect(await notUpdate.json()).toMatchObject({
      ok: false,
      description: expect.stringMatching(/not a Telegram update/),
    });
  });
});

describe('telegram start-up', () => {
  /** The frontend alone (no hub): start-up never touches commands or tasks. */
  const bare = (apiRoot: string, token = '123456:TEST-token_abc', env: Record<string, string> = {}) =>
    createTelegramFrontend(
      {
        config: loadConfig({ TELEGRAM_BOT_TOKEN: token, TELEGRAM_API_ROOT: apiRoot, ...env }),
        log: createLogger('silent'),
        http: Fastify(),
        ctx: {} as HubContext,
        commands: {} as CommandService,
        tasks: {} as TaskService,
      },
      FAST,
    );

  it('a token the Bot API refuses stops start with a ConfigError naming TELEGRAM_BOT_TOKEN', async () => {
    const fake = await TelegramFake.start({ token: '123456:the-real-one' });
    try {
      const err = await bare(fake.url, '123456:a-wrong-one')
        .start()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/TELEGRAM_BOT_TOKEN/);
    } finally {
      await fake.stop();
    }
  });

  it('a webhook URL the Bot API refuses stops start with a ConfigError naming PUBLIC_URL', async () => {
    const fake = await TelegramFake.start();
    fake.failNext(400, undefined, 'setWebhook');
    try {
      const err = await bare(fake.url, fake.token, {
        TELEGRAM_WEBHOOK_SECRET: 's3cret',
        PUBLIC_URL: 'http://not-public.example',
      })
        .start()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/PUBLIC_URL/);
    } finally {
      await fake.stop();
    }
  });

  it('an unreachable Bot API neither hangs start nor stop', async () => {
    const fake = await TelegramFake.start();
    const url = fake.url;
    await fake.stop();
    const tg = bare(url);
    const t0 = Date.now();
    await tg.start();
    await tg.stop();
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('when getMe fails at start, start returns and polling begins once the Bot API answers', async () => {
    const fake = await TelegramFake.start();
    fake.failNext(502, undefined, 'getMe');
    const tg = bare(fake.url);
    try {
      await tg.start();
      expect(fake.calls.filter((c) => c.method === 'getMe')).toHaveLength(1);
      await fake.until(() => fake.calls.find((c) => c.method === 'getUpdates'), 10_000, 'polling');
      expect(fake.calls.filter((c) => c.method === 'getMe')).toHaveLength(2);
    } finally {
      await tg.stop();
      await fake.stop();
    }
  });
});
