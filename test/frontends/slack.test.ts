// The Slack frontend end to end: real @slack/bolt against a local fake Slack, on real Redis + Postgres.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CHAT_COMMANDS } from '../../src/core/commands/parse-command.ts';
import { PermanentError, RateLimitedError } from '../../src/core/errors.ts';
import type { SlackFrontend } from '../../src/frontends/slack/index.ts';
import { slackDriver, slackSetup } from '../fakes/slack-driver.ts';
import { buttonsOf, type SlackFakeMessage } from '../fakes/slack-fake.ts';
import { createHarness, type Harness } from '../helpers/hub-harness.ts';
import { runFrontendContract } from './contract.ts';

runFrontendContract('slack (HTTP events)', slackDriver, {
  platform: 'slack',
  canEdit: true,
  longOutput: 'split',
  userId: 'slack:U_ALICE',
  threads: true,
});

const finalIn = (ms: SlackFakeMessage[]) =>
  ms.find((m) => !/^Got it/.test(m.versions[0] ?? '') && /completed/i.test(m.versions[0] ?? ''));
const taskByText = (h: Harness, text: string) =>
  h.hub.ctx.db.selectFrom('tasks').selectAll().where('text', '=', text).execute();

describe('slack frontend (HTTP mode)', () => {
  const s = slackSetup('http');
  let h: Harness;
  let frontend: SlackFrontend;
  beforeAll(async () => {
    await s.fake.start();
    h = await createHarness({ env: { PROGRESS_INTERVAL_MS: '100', ...s.env() }, frontendFactories: [s.factory] });
    frontend = s.holder.frontend!;
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await s.fake.stop();
  });

  it('answers url_verification and ssl_check', async () => {
    const challenge = await s.fake.post(
      JSON.stringify({ token: 'x', challenge: 'c-123', type: 'url_verification' }),
      'application/json',
    );
    expect(challenge.status).toBe(200);
    expect(challenge.json).toEqual({ challenge: 'c-123' });
    const ssl = await s.fake.post('ssl_check=1&token=x', 'application/x-www-form-urlencoded', {
      signature: 'v0=unsigned',
    });
    expect(ssl.status).toBe(200);
  });

  it('a bad or stale signature gets 401 and creates no task', async () => {
    const event = (text: string) => ({
      type: 'app_mention',
      user: 'U_ALICE',
      text: `<@UBOT> task ${text}`,
      ts: s.fake.nextTs(),
      channel: 'C_SIG',
    });
    const bad = await s.fake.sendEvent(event('forged one'), {
      signature: 'v0=0000000000000000000000000000000000000000000000000000000000000000',
    });
    const staleTs = Math.floor(Date.now() / 1000) - 6 * 60;
    const stale = await s.fake.sendEvent(event('stale one'), { timestamp: staleTs });
    const wrongSecret = await s.fake.post(
      JSON.stringify({ type: 'event_callback', event_id: 'EvX', event: event('wrong secret') }),
      'application/json',
      { secret: 'not-the-secret-at-all' },
    );
    expect([bad.answer.status, stale.answer.status, wrongSecret.status]).toEqual([401, 401, 401]);
    expect(JSON.stringify(bad.answer.json)).toMatch(/signature/i);
    expect(JSON.stringify(stale.answer.json)).toMatch(/stale/i);
    // A correctly signed request of the same shape goes through, so the 401s above are the signature's doing.
    const good = await s.fake.sendEvent(event('signed one'));
    expect(good.answer.status).toBe(200);
    await frontend.idle();
    expect(await taskByText(h, 'signed one')).toHaveLength(1);
    for (const t of ['forged one', 'stale one', 'wrong secret']) expect(await taskByText(h, t)).toHaveLength(0);
  });

  it('a redelivered event (same event_id, X-Slack-Retry-Num: 1) creates one task', async () => {
    const ts = s.fake.nextTs();
    const event = {
      type: 'app_mention',
      user: 'U_ALICE',
      text: '<@UBOT> task hello redelivery',
      ts,
      channel: 'C_RETRY',
    };
    const first = await s.fake.sendEvent(event);
    const [again, third] = await Promise.all([
      s.fake.sendEvent(event, { eventId: first.eventId, retryNum: 1 }),
      s.fake.sendEvent(event, { eventId: first.eventId, retryNum: 2 }),
    ]);
    expect([first.answer.status, again.answer.status, third.answer.status]).toEqual([200, 200, 200]);
    await frontend.idle();
    const tasks = await taskByText(h, 'hello redelivery');
    expect(tasks).toHaveLength(1);
    await h.waitForTask(tasks[0]!.id, (t) => t.status === 'COMPLETED' && t.final_notified);
    const acks = s.fake.inChannel('C_RETRY', ts).filter((m) => /^Got it/.test(m.versions[0]!));
    expect(acks).toHaveLength(1);
  });

  it('a mention inside a thread is answered in that thread; a top-level mention gets its own thread', async () => {
    const parent = s.fake.nextTs();
    const inThread = await s.fake.mention('C_THREADS', 'task hello inside thread', { thread: parent });
    await s.fake.until(() => finalIn(s.fake.inChannel('C_THREADS', parent)), 30_000, 'the result in the thread');
    const answered = s.fake
      .inChannel('C_THREADS')
      .filter((m) => m.versions.some((v) => /hello inside thread|Got it/.test(v)));
    expect(answered.length).toBeGreaterThanOrEqual(2);
    expect(answered.every((m) => m.thread === parent)).toBe(true);
    expect(answered.some((m) => m.thread === inThread.ts)).toBe(false);

    const top = await s.fake.mention('C_THREADS_TOP', 'task hello top level');
    await s.fake.until(() => finalIn(s.fake.inChannel('C_THREADS_TOP')), 30_000, 'the result of a top-level mention');
    expect(s.fake.inChannel('C_THREADS_TOP').every((m) => m.thread === top.ts)).toBe(true);
  });

  it('a Block Kit Cancel button cancels a running task', async () => {
    const req = await s.fake.mention('C_CANCEL', 'task long work sleep 20 seconds');
    const ack = await s.fake.until(
      () => s.fake.inChannel('C_CANCEL', req.ts).find((m) => buttonsOf(m).some((b) => b.action_id === 'sb_cancel')),
      30_000,
      'the ack with a Cancel button',
    );
    const taskId = buttonsOf(ack).find((b) => b.action_id === 'sb_cancel')!.value;
    await h.waitForTask(taskId, (t) => t.status === 'IN_PROGRESS');
    const asPressed = structuredClone(ack);
    const pressed = await s.fake.press(asPressed, 'sb_cancel', { actionTs: '1700000000.123456' });
    expect(pressed.answer.status).toBe(200);
    await h.waitForTask(taskId, (t) => t.status === 'CANCELLED' && t.final_notified);
    const told = await s.fake.until(
      () => s.fake.responses.find((r) => r.id === pressed.responseId),
      10_000,
      'the ephemeral answer',
    );
    expect(told.body).toMatchObject({ response_type: 'ephemeral' });
    expect(String(told.body.text)).toMatch(/Cancelling task/);
    await s.fake.until(
      () => s.fake.inChannel('C_CANCEL', req.ts).find((m) => /was cancelled/.test(m.versions[0]!)),
      10_000,
      'the cancelled message in the thread',
    );
    const settled = s.fake.inChannel('C_CANCEL', req.ts).find((m) => m.ts === ack.ts)!;
    expect(settled.versions.at(-1)).toMatch(/cancelled/);
    expect(buttonsOf(settled)).toHaveLength(0);
    // The same press delivered twice (same action_ts and user) is handled once.
    const before = s.fake.responses.length;
    const twice = await s.fake.press(asPressed, 'sb_cancel', { actionTs: '1700000000.123456' });
    await frontend.idle();
    expect(twice.answer.status).toBe(200);
    expect(s.fake.responses.length).toBe(before);
  });

  it('slash commands: /task posts in the channel and threads the result under it; others answer ephemerally', async () => {
    // A slow post of the ack: the result is ready before the ack is, and must still thread under it.
    s.fake.delayNext(1500, 'C_SLASH');
    const t0 = Date.now();
    const run = await s.fake.command('/task', 'hello slash command', { channel: 'C_SLASH' });
    expect(run.answer.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(3000);
    const ack = await s.fake.until(
      () => s.fake.inChannel('C_SLASH').find((m) => /^Got it/.test(m.versions[0]!)),
      30_000,
      'the ack',
    );
    expect(ack.thread).toBeUndefined();
    const result = await s.fake.until(() => finalIn(s.fake.inChannel('C_SLASH')), 30_000, 'the result');
    expect(result.thread).toBe(ack.ts);
    expect(result.versions[0]).toContain('hello slash command');

    const dupTrigger = 'trigger-dup-1';
    await s.fake.command('/task', 'hello slash twice', { channel: 'C_SLASH', triggerId: dupTrigger });
    await s.fake.command('/task', 'hello slash twice', { channel: 'C_SLASH', triggerId: dupTrigger });
    await frontend.idle();
    expect(await taskByText(h, 'hello slash twice')).toHaveLength(1);

    const list = await s.fake.command('/switchboard', 'tasks', { channel: 'C_SLASH' });
    const listed = await s.fake.until(
      () => s.fake.responses.find((r) => r.id === list.responseId),
      10_000,
      'the tasks answer',
    );
    expect(listed.body).toMatchObject({ response_type: 'ephemeral' });
    expect(String(listed.body.text)).toMatch(/Your recent tasks/);
    const unknown = await s.fake.command('/switchboard', 'frobnicate now', { channel: 'C_SLASH' });
    const help = await s.fake.until(
      () => s.fake.responses.find((r) => r.id === unknown.responseId),
      10_000,
      'the help answer',
    );
    expect(String(help.body.text)).toMatch(/I don't know "frobnicate"[\s\S]*Commands:/);
  });

  it('the app manifest (deploy/slack-manifest.yaml) lists every command, scope and event the frontend handles', async () => {
    const manifest = parseYaml(readFileSync(new URL('../../deploy/slack-manifest.yaml', import.meta.url), 'utf8'));
    const commands: string[] = manifest.features.slash_commands.map((c: { command: string }) => c.command);
    // /status is Slack's own and /help too common a name: those two are reached as /switchboard <word>.
    const viaPrefix = new Set(['status', 'help']);
    expect(commands).toContain('/switchboard');
    for (const { word } of CHAT_COMMANDS)
      expect(commands, word).toContain(viaPrefix.has(word) ? '/switchboard' : `/${word}`);
    expect(commands.filter((c) => !CHAT_COMMANDS.some((w) => `/${w.word}` === c) && c !== '/switchboard')).toEqual([]);
    expect(manifest.oauth_config.scopes.bot.sort()).toEqual([
      'app_mentions:read',
      'chat:write',
      'commands',
      'im:history',
    ]);
    expect(manifest.settings.event_subscriptions.bot_events.sort()).toEqual(['app_mention', 'message.im']);
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.features.app_home.messages_tab_enabled).toBe(true);

    // Each command, sent as Slack sends it, reaches the grammar (an answer, never "I don't know").
    const asked = [
      ...commands.filter((c) => c !== '/task' && c !== '/switchboard').map((c) => [c, ''] as const),
      ['/switchboard', 'status'] as const,
      ['/switchboard', 'help'] as const,
    ];
    for (const [command, text] of asked) {
      const sent = await s.fake.command(command, text, { channel: 'C_MANIFEST' });
      const answer = await s.fake.until(() => s.fake.responses.find((r) => r.id === sent.responseId), 10_000, command);
      expect(String(answer.body.text), `${command} ${text}`).not.toMatch(/I don't know/);
    }
  });

  it('a slash command in a channel the bot cannot post in still answers the user, with the fix', async () => {
    s.fake.failNext({ status: 200, error: 'not_in_channel', channel: 'C_CLOSED' });
    const run = await s.fake.command('/task', 'hello from a closed channel', { channel: 'C_CLOSED' });
    const told = await s.fake.until(
      () => s.fake.responses.find((r) => r.id === run.responseId),
      10_000,
      'the ephemeral fallback',
    );
    expect(String(told.body.text)).toMatch(/Got it: task [0-9a-f]{8}[\s\S]*invite me/i);
    expect(await taskByText(h, 'hello from a closed channel')).toHaveLength(1);
  });

  it('admin: a non-admin /admin reprocess is refused; an admin reprocess re-runs the dead-lettered step and the thread hears it', async () => {
    const req = await s.fake.mention('C_OPS', 'task demo fail please');
    const failures = () =>
      s.fake.inChannel('C_OPS', req.ts).filter((m) => /failed/.test(m.versions[0]!) && !/^Got it/.test(m.versions[0]!));
    await s.fake.until(() => (failures().length === 1 ? true : undefined), 30_000, 'the first failure message');
    const [task] = await taskByText(h, 'demo fail please');
    await h.waitForTask(task!.id, (t) => t.status === 'FAILED' && t.final_notified);
    const id8 = task!.id.slice(0, 8);

    const refused = await s.fake.command('/admin', `reprocess ${id8}`, { channel: 'C_OPS', user: 'U_ALICE' });
    const no = await s.fake.until(
      () => s.fake.responses.find((r) => r.id === refused.responseId),
      10_000,
      'the refusal',
    );
    expect(String(no.body.text)).toMatch(/admins only/);
    expect(
      await h.hub.ctx.db
        .selectFrom('task_events')
        .select('id')
        .where('task_id', '=', task!.id)
        .where('type', '=', 'admin.reprocess')
        .execute(),
    ).toHaveLength(0);

    const ok = await s.fake.command('/admin', `reprocess ${id8}`, { channel: 'C_OPS', user: 'U_ADMIN' });
    const yes = await s.fake.until(
      () => s.fake.responses.find((r) => r.id === ok.responseId),
      10_000,
      'the admin answer',
    );
    expect(String(yes.body.text)).toMatch(new RegExp(`Reprocessing task ${id8}`));
    await s.fake.until(
      () => (failures().length === 2 ? true : undefined),
      30_000,
      'a second failure message in the original thread',
    );
    const sub = await h.hub.ctx.db
      .selectFrom('subtasks')
      .selectAll()
      .where('task_id', '=', task!.id)
      .executeTakeFirstOrThrow();
    expect(sub.generation).toBe(1);
    const audit = await h.hub.ctx.db
      .selectFrom('task_events')
      .select('actor')
      .where('task_id', '=', task!.id)
      .where('type', '=', 'admin.reprocess')
      .execute();
    expect(audit.map((a) => a.actor)).toEqual(['slack:U_ADMIN']);
  });

  it("ignores the bot's own messages, other bots, edits, joins and plain channel chatter", async () => {
    const sent = await Promise.all([
      s.fake.directMessage('D_IGNORE', 'task from myself', { user: 'UBOT' }),
      s.fake.directMessage('D_IGNORE', 'task from another bot', {
        extra: { bot_id: 'B_OTHER', subtype: 'bot_message' },
      }),
      s.fake.directMessage('D_IGNORE', 'task edited text', { extra: { subtype: 'message_changed' } }),
      s.fake.directMessage('D_IGNORE', 'task joined', { extra: { subtype: 'channel_join' } }),
      s.fake.sendEvent({
        type: 'message',
        channel_type: 'channel',
        user: 'U_ALICE',
        text: 'task channel chatter',
        ts: s.fake.nextTs(),
        channel: 'C_CHATTER',
      }),
    ]);
    expect(sent.map((x) => x.answer.status)).toEqual([200, 200, 200, 200, 200]);
    await frontend.idle();
    for (const t of ['from myself', 'from another bot', 'edited text', 'joined', 'channel chatter'])
      expect(await taskByText(h, t)).toHaveLength(0);
    expect(s.fake.inChannel('D_IGNORE')).toHaveLength(0);
    expect(s.fake.inChannel('C_CHATTER')).toHaveLength(0);
  });

  it('empty, huge and malformed input get a clear answer, never a stack trace', async () => {
    const empty = await s.fake.mention('C_INPUT', '');
    await s.fake.until(
      () => s.fake.inChannel('C_INPUT', empty.ts).find((m) => /Commands:/.test(m.versions[0]!)),
      10_000,
      'help for an empty mention',
    );
    const huge = await s.fake.directMessage('D_HUGE', `task ${'x'.repeat(25_000)}`);
    const told = await s.fake.until(
      () => s.fake.inChannel('D_HUGE', huge.ts)[0],
      10_000,
      'the answer to a huge request',
    );
    expect(told.versions[0]).toMatch(/limit is 20000/);
    const malformed = await s.fake.post('{"type": "event_callback", ', 'application/json');
    expect(malformed.status).toBe(400);
    expect(malformed.json).toMatchObject({ error: { code: 'bad_request' } });
    expect(malformed.text).not.toMatch(/at .*\.ts:\d+/);
    const badType = await s.fake.post('hello', 'text/plain');
    expect(badType.status).toBe(415);
  });

  it('maps outbound failures: permanent platform errors, 429 with Retry-After, 5xx retryable', async () => {
    const ref = (channel: string) => ({
      platform: 'slack',
      conversationId: channel,
      threadId: '1700000000.000001',
      userId: 'slack:U_ALICE',
    });
    const msg = { taskId: '', kind: 'info' as const, text: 'hello' };
    for (const error of ['channel_not_found', 'not_in_channel', 'is_archived', 'account_inactive', 'invalid_auth']) {
      s.fake.failNext({ status: 200, error, channel: `C_ERR_${error}` });
      await expect(frontend.send(ref(`C_ERR_${error}`), msg)).rejects.toBeInstanceOf(PermanentError);
    }
    s.fake.failNext({ status: 404, channel: 'C_ERR_404' });
    await expect(frontend.send(ref('C_ERR_404'), msg)).rejects.toBeInstanceOf(PermanentError);
    s.fake.failNext({ status: 429, retryAfterS: 2, channel: 'C_ERR_429' });
    const limited = await frontend.send(ref('C_ERR_429'), msg).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBe(2000);
    const calls = s.fake.calls.length;
    await expect(frontend.send(ref('C_ERR_429'), msg)).rejects.toBeInstanceOf(RateLimitedError);
    expect(s.fake.calls.length).toBe(calls); // still within Retry-After: Slack is not called again
    for (const status of [500, 503]) {
      s.fake.failNext({ status, channel: `C_ERR_${status}` });
      const e = await frontend.send(ref(`C_ERR_${status}`), msg).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(Error);
      expect(e).not.toBeInstanceOf(PermanentError);
      expect(e).not.toBeInstanceOf(RateLimitedError);
    }
    await expect(
      frontend.edit!({ platform: 'slack', conversationId: 'C_ERR_EDIT', messageId: '1.000000' }, msg),
    ).rejects.toBeInstanceOf(PermanentError);
  });

  it('splits long text into messages of at most 3,000 characters in the thread, escaped for Slack', async () => {
    const text = `${'<b>&amp; '.repeat(700)}THE-END`;
    const ref = await frontend.send(
      { platform: 'slack', conversationId: 'C_LONG', threadId: '1700000000.000042', userId: 'slack:U_ALICE' },
      { taskId: 'abc', kind: 'result', text, actions: ['retry'] },
    );
    const parts = s.fake.inChannel('C_LONG');
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(ref.messageId).toBe(parts[0]!.ts);
    expect(parts.every((m) => m.thread === '1700000000.000042')).toBe(true);
    expect(parts.map((m) => m.versions[0]).join(' ')).toBe(text);
    expect(parts.every((m) => (m.blocks[0]!.text as { text: string }).text.length <= 3000)).toBe(true);
    expect(buttonsOf(parts.at(-1)!).map((b) => b.action_id)).toEqual(['sb_retry']);
    expect(parts.slice(0, -1).every((m) => buttonsOf(m).length === 0)).toBe(true);
  });
});

describe('slack frontend (Socket Mode)', () => {
  const s = slackSetup('socket');
  let h: Harness;
  beforeAll(async () => {
    await s.fake.start();
    h = await createHarness({ env: { PROGRESS_INTERVAL_MS: '100', ...s.env() }, frontendFactories: [s.factory] });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await s.fake.stop();
  });

  it('a direct message over Socket Mode creates a task and is answered in its thread', async () => {
    expect(s.holder.frontend!.mode).toBe('socket');
    expect(s.fake.calls.some((c) => c.method === 'apps.connections.open' && c.status === 200)).toBe(true);
    const dm = await s.fake.directMessage('D_SOCKET', 'task hello socket mode');
    expect(dm.answer.status).toBe(200);
    const result = await s.fake.until(
      () => finalIn(s.fake.inChannel('D_SOCKET')),
      30_000,
      'the result over Socket Mode',
    );
    expect(result.versions[0]).toContain('hello socket mode');
    expect(s.fake.inChannel('D_SOCKET').every((m) => m.thread === dm.ts)).toBe(true);
    const [task] = await taskByText(h, 'hello socket mode');
    expect(task!.user_id).toBe('slack:U_ALICE');
    const cmd = await s.fake.command('/switchboard', 'status', { channel: 'D_SOCKET' });
    const status = await s.fake.until(
      () => s.fake.responses.find((r) => r.id === cmd.responseId),
      10_000,
      'the status answer',
    );
    expect(String(status.body.text)).toContain(task!.id.slice(0, 8));
    const noRoute = await fetch(
      `http://127.0.0.1:${(h.hub.web.server.server.address() as AddressInfo).port}/webhooks/slack`,
      { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } },
    );
    expect(noRoute.status).toBe(404);
  });
});
