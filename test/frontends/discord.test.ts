// Discord frontend end to end: discord.js and @discordjs/rest against a local fake of Discord's REST API and gateway.
import { generateKeyPairSync, sign } from 'node:crypto';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, RateLimitedError } from '../../src/core/errors.ts';
import { createDiscordFrontend } from '../../src/frontends/discord/index.ts';
import { CHAT_COMMANDS, parseCommand } from '../../src/core/commands/parse-command.ts';
import { commandText } from '../../src/frontends/discord/interaction-text.ts';
import { commandsDiffer, SLASH_COMMANDS } from '../../src/frontends/discord/slash-commands.ts';
import { createDiscordDriver, DISCORD_USERS, type DiscordDriver } from '../fakes/discord-driver.ts';
import { snowflake } from '../fakes/discord-fake.ts';
import { createHarness, type Harness } from '../helpers/hub-harness.ts';
import { runFrontendContract } from './contract.ts';

const contract = {
  platform: 'discord',
  canEdit: true,
  longOutput: 'split',
  userId: `discord:${DISCORD_USERS.alice}`,
  threads: true,
} as const;
runFrontendContract('discord (gateway)', () => createDiscordDriver('gateway'), contract);
runFrontendContract('discord (HTTP interactions)', () => createDiscordDriver('http'), contract);

const completedIn = (text: string) => (ms: Array<{ versions: string[] }>) =>
  ms.some((m) => m.versions.some((v) => v.includes(text) && /completed/i.test(v)));
const taskByText = (h: Harness, text: string) =>
  h.hub.ctx.db.selectFrom('tasks').selectAll().where('text', '=', text).executeTakeFirst();
const opt = (name: string, value: string) => ({ name, type: 3, value });

async function boot(driver: DiscordDriver): Promise<Harness> {
  const { factory, env } = await driver.start();
  return createHarness({ env: { PROGRESS_INTERVAL_MS: '100', ...env }, frontendFactories: [factory] });
}

describe('discord over HTTP interactions', () => {
  const driver = createDiscordDriver('http');
  const fake = driver.fake;
  let h: Harness;
  beforeAll(async () => {
    h = await boot(driver);
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await driver.stop();
  });

  it('refuses a bad or missing signature with 401 and creates no task; a valid one then works', async () => {
    const body = JSON.stringify({
      id: snowflake(),
      type: 2,
      token: 'tok-forged',
      application_id: fake.applicationId,
      channel_id: 'conv-sig',
      member: { user: { id: DISCORD_USERS.alice } },
      data: { name: 'task', type: 1, options: [opt('text', 'forged request')] },
    });
    const other = generateKeyPairSync('ed25519').privateKey;
    const ts = String(Math.floor(Date.now() / 1000));
    const forged = await driver.post(body, {
      'x-signature-ed25519': sign(null, Buffer.from(ts + body), other).toString('hex'),
      'x-signature-timestamp': ts,
    });
    expect(forged.status).toBe(401);
    expect(await driver.post(body, {})).toMatchObject({ status: 401 });
    const signedOther = fake.signBody('{"type":1}', ts);
    expect(
      (await driver.post(body, { 'x-signature-ed25519': signedOther.signature, 'x-signature-timestamp': ts })).status,
    ).toBe(401);

    const ok = await driver.command('conv-sig', 'task', [opt('text', 'signed request')]);
    expect(ok.response).toBe(5);
    await driver.waitFor('conv-sig', completedIn('signed request'));
    expect(await taskByText(h, 'forged request')).toBeUndefined();
    expect(fake.messagesIn('conv-sig').some((m) => m.versions.some((v) => v.includes('forged')))).toBe(false);
  });

  it('answers PING with PONG, and malformed bodies with a clear 400', async () => {
    const ping = JSON.stringify({
      id: snowflake(),
      type: 1,
      token: 'tok-ping',
      application_id: fake.applicationId,
      version: 1,
    });
    const s = fake.signBody(ping);
    expect(
      await driver.post(ping, { 'x-signature-ed25519': s.signature, 'x-signature-timestamp': s.timestamp }),
    ).toEqual({ status: 200, json: { type: 1 } });
    const junk = fake.signBody('not json');
    const bad = await driver.post('not json', {
      'x-signature-ed25519': junk.signature,
      'x-signature-timestamp': junk.timestamp,
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toMatch(/not valid JSON/);
    expect(JSON.stringify(bad.json)).not.toMatch(/at .*\.ts/);
  });

  it('defers a /task, then answers by editing the original response with a Cancel button; result and progress follow', async () => {
    const { response } = await driver.command('conv-task', 'task', [
      opt('text', 'hello discord'),
      opt('priority', 'urgent'),
    ]);
    expect(response).toBe(5);
    const all = await driver.waitFor('conv-task', completedIn('hello discord'));
    const task = (await taskByText(h, 'hello discord'))!;
    expect(task.priority).toBe('urgent');
    expect(task.origin).toMatchObject({
      platform: 'discord',
      conversationId: 'conv-task',
      userId: `discord:${DISCORD_USERS.alice}`,
    });
    const original = all[0]!;
    expect(original.interactionToken).toBeDefined();
    expect(original.versions[0]).toMatch(/^Got it: task [0-9a-f]{8}/);
    expect(original.via[0]).toBe('webhook');
    const patches = fake.calls.filter(
      (c) => c.method === 'PATCH' && c.path.endsWith(`/${original.interactionToken}/messages/@original`),
    );
    expect(patches.length).toBeGreaterThan(0);
    expect(patches.every((c) => c.auth === undefined)).toBe(true);
    const firstPatch = patches[0]!.body as {
      components: Array<{ components: Array<{ custom_id: string; label: string }> }>;
      allowed_mentions: unknown;
    };
    expect(firstPatch.components[0]!.components[0]).toMatchObject({
      custom_id: `sb:cancel:${task.id}`,
      label: 'Cancel',
    });
    expect(firstPatch.allowed_mentions).toEqual({ parse: [] });
    expect(original.versions.at(-1)).toMatch(/completed/);
    expect(original.components).toEqual([]);
    // Within the token's lifetime the result is a follow-up through the interaction webhook, not a bot post.
    const result = all.find((m) => m !== original && m.versions[0]!.includes('hello discord'))!;
    expect(result.via).toEqual(['webhook']);
    expect(
      fake.calls.some(
        (c) =>
          c.method === 'POST' &&
          c.path === `/webhooks/${fake.applicationId}/${original.interactionToken}` &&
          c.auth === undefined,
      ),
    ).toBe(true);
    expect(fake.calls.some((c) => c.path.startsWith('/channels/conv-task/'))).toBe(false);
  });

  it('works without Send Messages (a user-installed app): ack, progress and result all go through the interaction webhook', async () => {
    fake.botDenied.add('conv-nosend');
    await driver.command('conv-nosend', 'task', [opt('text', 'long work sleep 1 seconds 50 items')]);
    const all = await driver.waitFor(
      'conv-nosend',
      (ms) =>
        /completed/.test(ms[0]?.versions.at(-1) ?? '') &&
        ms.some((m, i) => i > 0 && /completed/.test(m.versions[0] ?? '')),
      30_000,
    );
    const task = (await taskByText(h, 'long work sleep 1 seconds 50 items'))!;
    await h.waitForTask(task.id, (t) => t.final_notified);
    expect(all.every((m) => m.via.every((v) => v === 'webhook'))).toBe(true);
    expect(all[0]!.versions.length).toBeGreaterThan(1);
    expect(fake.calls.filter((c) => c.path.startsWith('/channels/conv-nosend/'))).toEqual([]);
  });

  it('a direct message interaction (user, no member) is attributed to that user', async () => {
    await driver.command('dm-bob', 'task', [opt('text', 'hello from a dm')], { dm: true, user: DISCORD_USERS.bob });
    await driver.waitFor('dm-bob', completedIn('hello from a dm'));
    expect((await taskByText(h, 'hello from a dm'))!.user_id).toBe(`discord:${DISCORD_USERS.bob}`);
  });

  it('a Cancel button press cancels the task, is acknowledged with a deferred update, and a redelivery is ignored', async () => {
    await driver.command('conv-button', 'task', [opt('text', 'long work sleep 20 seconds')]);
    const [ack] = await driver.waitFor('conv-button', (ms) => ms.some((m) => /Got it/.test(m.versions[0] ?? '')));
    const task = (await taskByText(h, 'long work sleep 20 seconds'))!;
    const button = (ack!.components[0] as { components: Array<{ custom_id: string }> }).components[0]!;
    const pressId = snowflake();
    const press = await driver.press('conv-button', ack!.id, button.custom_id, { id: pressId });
    expect(press.response).toBe(6);
    await h.waitForTask(task.id, (t) => t.status === 'CANCELLED');
    const reply = await driver.waitFor('conv-button', (ms) =>
      ms.some((m) => m.versions[0]!.startsWith('Cancelling task')),
    );
    expect(reply.filter((m) => m.versions[0]!.startsWith('Cancelling task'))).toHaveLength(1);
    await driver.press('conv-button', ack!.id, button.custom_id, { id: pressId });
    await driver.waitFor('conv-button', (ms) => ms.some((m) => /was cancelled/.test(m.versions[0] ?? '')));
    expect(fake.messagesIn('conv-button').filter((m) => m.versions[0]!.startsWith('Cancelling task'))).toHaveLength(1);
    expect(h.events.filter((e) => e.taskId === task.id && e.type === 'cancelled')).toHaveLength(1);
  });

  it('every command of the shared grammar is a slash command, usable in DMs and as a user-installed app', async () => {
    expect(SLASH_COMMANDS.map((c) => c.name).sort()).toEqual(CHAT_COMMANDS.map((c) => c.word).sort());
    for (const c of SLASH_COMMANDS) {
      expect(c.integration_types, String(c.name)).toEqual([0, 1]);
      expect(c.contexts, String(c.name)).toEqual([0, 1, 2]);
    }
    const sub = (name: string, ...options: Array<ReturnType<typeof opt>>) => [{ name, type: 1, options }];
    const cases: Array<[string, unknown[], string]> = [
      ['task', [opt('text', 'draft a reply'), { name: 'review', type: 5, value: true }], 'task draft a reply --review'],
      ['revise', [opt('id', '1a2b'), opt('feedback', 'make it shorter')], 'revise 1a2b make it shorter'],
      [
        'schedule',
        [opt('request', 'every day at 9:00 summarise the news')],
        'schedule every day at 9:00 summarise the news',
      ],
      ['schedules', sub('list'), 'schedules list'],
      ['schedules', sub('pause', opt('id', '1a2b')), 'schedules pause 1a2b'],
      ['timezone', [opt('zone', 'Europe/Berlin')], 'timezone Europe/Berlin'],
      ['timezone', [], 'timezone'],
      ['admin', sub('priority', opt('id', '1a2b'), opt('priority', 'urgent')), 'admin priority 1a2b urgent'],
      ['admin', sub('pair', opt('code', 'K7Q2M9XD')), 'admin pair K7Q2M9XD'],
      ['admin', sub('access'), 'admin access'],
    ];
    for (const [name, options, text] of cases) {
      expect(commandText({ name, type: 1, options: options as never })).toBe(text);
      expect(parseCommand(text, false).name, text).not.toMatch(/unknown|usage/);
    }
  });

  it('registers the slash commands once; a second start with the same definitions does not write them again', async () => {
    expect(fake.commandPuts).toBe(1);
    expect(fake.commands.map((c) => c.name).sort()).toEqual(SLASH_COMMANDS.map((c) => c.name).sort());
    expect(commandsDiffer(fake.commands, SLASH_COMMANDS)).toBe(false);
    const restart = () => createDiscordFrontend({ ...driver.deps(), http: Fastify() }, { restRetries: 1 });
    const again = restart();
    await again.start();
    await again.stop();
    expect(fake.commandGets).toBe(2);
    expect(fake.commandPuts).toBe(1);
    fake.commands[0] = { ...fake.commands[0], description: 'edited by hand' };
    const changed = restart();
    await changed.start();
    await changed.stop();
    expect(fake.commandPuts).toBe(2);
    expect(commandsDiffer(fake.commands, SLASH_COMMANDS)).toBe(false);
  });

  it('when Discord rejects the interaction token, edits go to the channel with the bot token', async () => {
    await driver.command('conv-revoked', 'task', [opt('text', 'long work sleep 2 seconds 200 items')]);
    await driver.waitFor('conv-revoked', (ms) => ms.some((m) => /Got it/.test(m.versions[0] ?? '')));
    fake.expireTokens();
    const all = await driver.waitFor(
      'conv-revoked',
      (ms) => /completed/.test(ms[0]?.versions.at(-1) ?? '') && ms.length >= 2,
      30_000,
    );
    const original = all[0]!;
    expect(original.via.at(-1)).toBe('bot');
    expect(fake.calls.some((c) => c.status === 401 && c.path.includes(original.interactionToken!))).toBe(true);
    const botEdits = fake.calls.filter(
      (c) => c.method === 'PATCH' && c.path === `/channels/conv-revoked/messages/${original.id}`,
    );
    expect(botEdits.length).toBeGreaterThan(0);
    expect(botEdits.every((c) => c.auth === `Bot ${fake.botToken}` && c.status === 200)).toBe(true);
  });

  it('maps a long 429 to RateLimitedError, 4xx to PermanentError, 5xx to a retryable error; very long text is attached', async () => {
    const fe = driver.frontend();
    const ref = { platform: 'discord', conversationId: 'conv-errors', userId: `discord:${DISCORD_USERS.alice}` };
    const msg = (text: string) => ({ taskId: '00000000-0000-0000-0000-000000000000', kind: 'info' as const, text });
    const slow = { ...ref, conversationId: 'conv-slow' };
    fake.failNext(429, 30);
    const limited = await fe.send(slow, msg('x')).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBeGreaterThanOrEqual(30_000);
    const callsBefore = fake.calls.length;
    const held = await fe.send(slow, msg('y')).catch((e: unknown) => e);
    expect(held).toBeInstanceOf(RateLimitedError);
    expect((held as RateLimitedError).retryAfterMs).toBeGreaterThan(25_000);
    expect(fake.calls.length).toBe(callsBefore);
    fake.failNext(404);
    expect(await fe.send(ref, msg('x')).catch((e: unknown) => e)).toBeInstanceOf(PermanentError);
    fake.failNext(500);
    fake.failNext(502);
    const server = await fe.send(ref, msg('x')).catch((e: unknown) => e);
    expect(server).toBeInstanceOf(Error);
    expect(server).not.toBeInstanceOf(PermanentError);
    expect(server).not.toBeInstanceOf(RateLimitedError);
    fake.failNext(503);
    await fe.send(ref, msg('after one 503'));
    expect(fake.messagesIn('conv-errors').map((m) => m.versions[0])).toEqual(['after one 503']);

    const long = `${'word '.repeat(4000)}THE-END`;
    const sent = await fe.send(ref, msg(long));
    const attached = fake.messages.find((m) => m.id === sent.messageId)!;
    expect(attached.attachment).toBe(true);
    expect(attached.versions[0]!.length).toBeLessThanOrEqual(2000);
    expect(attached.files[0]!.text).toBe(long);
  });

  it('admin: /admin reprocess is refused for a non-admin; an admin re-runs the dead-lettered step and the original channel hears it', async () => {
    await driver.command('conv-dead', 'task', [opt('text', 'demo fail please')]);
    const failures = (ms: Array<{ versions: string[] }>) =>
      ms.filter((m) => /^Task [0-9a-f]{8} failed\./.test(m.versions[0] ?? ''));
    await driver.waitFor('conv-dead', (ms) => failures(ms).length === 1, 30_000);
    const task = (await taskByText(h, 'demo fail please'))!;
    await h.waitForTask(task.id, (t) => t.final_notified);

    await driver.command('conv-dead', 'admin', [
      { type: 1, name: 'reprocess', options: [opt('id', task.id.slice(0, 8))] },
    ]);
    await driver.waitFor('conv-dead', (ms) => ms.some((m) => m.versions.includes('That command is for admins only.')));
    expect(h.events.some((e) => e.taskId === task.id && e.type === 'admin.reprocess')).toBe(false);

    await driver.command(
      'conv-admin',
      'admin',
      [{ type: 1, name: 'reprocess', options: [opt('id', task.id.slice(0, 8))] }],
      { user: DISCORD_USERS.admin },
    );
    await driver.waitFor('conv-admin', (ms) =>
      ms.some((m) => m.versions.some((v) => v.startsWith(`Reprocessing task ${task.id.slice(0, 8)}`))),
    );
    await driver.waitFor('conv-dead', (ms) => failures(ms).length === 2, 30_000);
    const audit = await h.hub.ctx.db
      .selectFrom('task_events')
      .select(['actor'])
      .where('task_id', '=', task.id)
      .where('type', '=', 'admin.reprocess')
      .execute();
    expect(audit.map((a) => a.actor)).toEqual([`discord:${DISCORD_USERS.admin}`]);
    const sub = await h.hub.ctx.db
      .selectFrom('subtasks')
      .selectAll()
      .where('task_id', '=', task.id)
      .executeTakeFirstOrThrow();
    expect(sub.generation).toBe(1);
    expect(fake.messagesIn('conv-admin').every((m) => !/failed\./.test(m.versions[0] ?? ''))).toBe(true);
  });
});

describe('discord over the gateway, with a shortened interaction token lifetime', () => {
  const driver = createDiscordDriver('gateway', { interactionTokenTtlMs: 1 }, { heartbeatIntervalMs: 150 });
  const fake = driver.fake;
  let h: Harness;
  beforeAll(async () => {
    h = await boot(driver);
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await driver.stop();
  });

  it('identifies with the bot token; heartbeats are acknowledged and the one session stays up', async () => {
    expect(
      fake.calls.some((c) => c.method === 'GET' && c.path === '/gateway/bot' && c.auth === `Bot ${fake.botToken}`),
    ).toBe(true);
    await fake.until(() => fake.gateway.heartbeats >= 3, 20_000, 'three heartbeats');
    expect(fake.gateway.acks).toBe(fake.gateway.heartbeats);
    expect(fake.gateway.identifies).toEqual([{ token: fake.botToken, intents: 0 }]);
    expect(fake.gateway.resumes).toBe(0);
  });

  it('an INTERACTION_CREATE is deferred through the callback route, and a stale slash command gets help', async () => {
    const { interaction, response } = await driver.command('conv-gw', 'frobnicate');
    expect(response).toBe(5);
    const cb = fake.calls.find(
      (c) => c.path === `/interactions/${String(interaction.id)}/${String(interaction.token)}/callback`,
    )!;
    expect(cb).toMatchObject({ method: 'POST', status: 204, body: { type: 5 }, auth: undefined });
    const [reply] = await driver.waitFor('conv-gw', (ms) => ms.length > 0);
    expect(reply!.versions[0]).toMatch(/I don't know "\/frobnicate"[\s\S]*Commands:/);
  });

  it('after the token lifetime, progress edits and the result go to the channel with the bot token', async () => {
    await driver.say('conv-expiry', 'task long work sleep 1.5 seconds 300 items');
    const all = await driver.waitFor(
      'conv-expiry',
      (ms) => /completed/.test(ms[0]?.versions.at(-1) ?? '') && ms.length >= 2,
      30_000,
    );
    const original = all[0]!;
    expect(original.via[0]).toBe('webhook');
    expect(original.via.length).toBeGreaterThan(2);
    expect(original.via.slice(1).every((v) => v === 'bot')).toBe(true);
    const edits = fake.calls.filter(
      (c) => c.method === 'PATCH' && c.path === `/channels/conv-expiry/messages/${original.id}`,
    );
    expect(edits.length).toBe(original.versions.length - 1);
    expect(edits.every((c) => c.auth === `Bot ${fake.botToken}`)).toBe(true);
    expect(fake.calls.filter((c) => c.path.includes(original.interactionToken!) && c.method === 'PATCH')).toHaveLength(
      1,
    );
    const result = all.find((m) => m !== original)!;
    expect(result.via).toEqual(['bot']);
    expect(result.versions[0]).toMatch(/completed/);
  });
});
