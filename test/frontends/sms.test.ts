// SMS frontend (twilio SDK) end to end against a local Twilio fake: segment math, the shared contract, SMS acceptance.
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, RateLimitedError } from '../../src/core/errors.ts';
import { createRedis } from '../../src/core/queues.ts';
import { createSmsFrontend } from '../../src/frontends/sms/index.ts';
import { optKeyword } from '../../src/frontends/sms/opt-out.ts';
import { importRedisOptOuts, PostgresOptOutStore } from '../../src/frontends/sms/opt-out-store.ts';
import { fitSms, measureSms, smartEncode, type SmsEncoding } from '../../src/frontends/sms/segments.ts';
import { SMS_WEBHOOK_PATH } from '../../src/frontends/sms/webhook.ts';
import { rebase, retryAfterMs, toDeliveryError } from '../../src/frontends/sms/twilio-client.ts';
import { SmsDriver } from '../fakes/sms-driver.ts';
import { TwilioFake, type SmsSent } from '../fakes/twilio-fake.ts';
import { createHarness, type Harness } from '../helpers/hub-harness.ts';
import { redisUrl } from '../helpers/test-env.ts';
import { runFrontendContract } from './contract.ts';

describe('sms segment math', () => {
  const cases: Array<[string, string, SmsEncoding, number, number]> = [
    ['empty', '', 'GSM-7', 0, 0],
    ['160 GSM-7 in one', 'a'.repeat(160), 'GSM-7', 160, 1],
    ['161 GSM-7 in two', 'a'.repeat(161), 'GSM-7', 161, 2],
    ['306 GSM-7 in two', 'a'.repeat(306), 'GSM-7', 306, 2],
    ['307 GSM-7 in three', 'a'.repeat(307), 'GSM-7', 307, 3],
    ['GSM accents stay GSM-7', 'é'.repeat(160), 'GSM-7', 160, 1],
    ['extension chars are two septets', '€'.repeat(80), 'GSM-7', 160, 1],
    ['81 euros need two segments', '€'.repeat(81), 'GSM-7', 162, 2],
    ['an escape never straddles a segment', `${'a'.repeat(152)}€${'a'.repeat(10)}`, 'GSM-7', 164, 2],
    ['one non-GSM char makes UCS-2', 'ç'.repeat(70), 'UCS-2', 70, 1],
    ['71 UCS-2 in two', 'ç'.repeat(71), 'UCS-2', 71, 2],
    ['134 UCS-2 in two', 'ç'.repeat(134), 'UCS-2', 134, 2],
    ['135 UCS-2 in three', 'ç'.repeat(135), 'UCS-2', 135, 3],
    ['35 emoji fill one', '😀'.repeat(35), 'UCS-2', 70, 1],
    ['a surrogate pair never straddles a segment', '😀'.repeat(36), 'UCS-2', 72, 2],
  ];
  it.each(cases)('measures: %s', (_name, text, encoding, units, segments) => {
    expect(measureSms(text)).toEqual({ encoding, units, segments });
  });

  const more = 'More: https://hub.example.org/tasks/abc';
  const fitCases: Array<[string, string, number, number, SmsEncoding, number]> = [
    ['GSM-7 to 4 segments', 'x'.repeat(3000), 4, 612, 'GSM-7', 4],
    ['GSM-7 to 1 segment', 'x'.repeat(3000), 1, 160, 'GSM-7', 1],
    ['UCS-2 to 4 segments', `ç${'x'.repeat(3000)}`, 4, 268, 'UCS-2', 4],
    ['a non-GSM char past the cut keeps GSM-7', `${'x'.repeat(1000)}ç`, 4, 612, 'GSM-7', 4],
    ['never above 1600 characters', 'x'.repeat(5000), 10, 1530, 'GSM-7', 10],
  ];
  it.each(fitCases)('cuts at a segment boundary: %s', (_name, text, maxSegments, length, encoding, segments) => {
    const fit = fitSms(text, { maxSegments, more });
    expect(fit.cut).toBe(true);
    expect(fit.text.length).toBe(length);
    expect(fit.encoding).toBe(encoding);
    expect(fit.segments).toBe(segments);
    expect(fit.text.endsWith(`...\n${more}`)).toBe(true);
    expect(text.startsWith(fit.text.slice(0, -(more.length + 4)))).toBe(true);
  });

  it('respects the 1600-character Body limit over a larger segment budget', () => {
    const fit = fitSms('x'.repeat(5000), { maxSegments: 20, more });
    expect(fit.text.length).toBe(1600);
    expect(fit.text.endsWith(more)).toBe(true);
  });

  it('keeps short text whole and replaces typographic lookalikes so it stays GSM-7', () => {
    expect(fitSms('Task 1 · done — “ok” …', { maxSegments: 4, more })).toMatchObject({
      text: 'Task 1 - done - "ok" ...',
      cut: false,
      encoding: 'GSM-7',
      segments: 1,
    });
    expect(smartEncode('a\u2019b')).toBe("a'b");
  });

  it('drops `more` rather than exceed a tiny budget', () => {
    const fit = fitSms('y'.repeat(400), { maxSegments: 1, more: `More: https://h.example/${'p'.repeat(200)}` });
    expect(fit.text).toBe(`${'y'.repeat(157)}...`);
  });

  const words: Array<[string, 'stop' | 'start' | null]> = [
    ['STOP', 'stop'],
    [' stop ', 'stop'],
    ['Stop.', 'stop'],
    ['STOPALL', 'stop'],
    ['unsubscribe', 'stop'],
    ['CANCEL', 'stop'],
    ['end', 'stop'],
    ['Quit', 'stop'],
    ['START', 'start'],
    ['yes', 'start'],
    ['UNSTOP', 'start'],
    ['CANCEL 7kq2ab34', null],
    ['stop the build', null],
    ['HELP', null],
    ['status', null],
  ];
  it.each(words)('opt keyword %j -> %s', (body, kind) => {
    expect(optKeyword(body)).toBe(kind);
  });

  const errors: Array<[string, unknown, 'permanent' | 'rate' | 'retry']> = [
    ['21211 invalid number', { status: 400, code: 21211, message: 'invalid' }, 'permanent'],
    ['21610 unsubscribed', { status: 400, code: 21610, message: 'unsubscribed' }, 'permanent'],
    ['21614 not mobile', { status: 400, code: 21614, message: 'landline' }, 'permanent'],
    ['403', { status: 403, code: 20403, message: 'forbidden' }, 'permanent'],
    ['404', { status: 404, code: 20404, message: 'not found' }, 'permanent'],
    ['429', { status: 429, code: 20429, message: 'too many' }, 'rate'],
    ['500', { status: 500, code: 20500, message: 'oops' }, 'retry'],
    ['503', { status: 503, message: 'unavailable' }, 'retry'],
    ['401 (credentials may be fixed)', { status: 401, code: 20003, message: 'auth' }, 'retry'],
    ['network', new Error('ECONNRESET'), 'retry'],
  ];
  it.each(errors)('maps Twilio errors: %s', (_name, err, kind) => {
    const mapped = toDeliveryError(err);
    expect(mapped instanceof PermanentError).toBe(kind === 'permanent');
    expect(mapped instanceof RateLimitedError).toBe(kind === 'rate');
  });

  it('rebases API calls and reads Retry-After', () => {
    expect(
      rebase('https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?a=1', 'http://127.0.0.1:9/proxy/'),
    ).toBe('http://127.0.0.1:9/proxy/2010-04-01/Accounts/AC1/Messages.json?a=1');
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(undefined)).toBe(1000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
  });
});

runFrontendContract('sms', () => new SmsDriver(), {
  platform: 'sms',
  canEdit: false,
  threads: false,
  longOutput: 'cut',
  userId: 'sms:+15550001111',
});

describe('sms acceptance', () => {
  const PUBLIC_URL = 'https://hub.example.test';
  const ADMIN = '+15550009999';
  const bigText = Array.from({ length: 600 }, (_, i) => `word${i}`)
    .join(' ')
    .slice(0, 3000);
  let fake: TwilioFake;
  let redis: Redis;
  let h: Harness;
  let url: string;
  /** Resolves with the reason once the task's final message has failed for good (a `notify.failed` event). */
  const notifyFailed = async (taskId: string) => {
    const e = await h.waitForEvent(
      (x) => x.type === 'notify.failed' && x.taskId === taskId && (x.data as { kind?: string }).kind === 'final',
    );
    return (e.data as { error: string }).error;
  };
  const text = (from: string, body: string, opts: Parameters<TwilioFake['text']>[3] = {}) =>
    fake.text(url, from, body, { signedUrl: `${PUBLIC_URL}${SMS_WEBHOOK_PATH}`, ...opts });
  const api = (to: string) => fake.messagesTo(to).filter((m) => m.via === 'api');
  /** The acknowledgement texted to a number (through the API), once it arrives. */
  const ackOf = async (to: string) =>
    (await fake.waitFor(to, (ms) => ms.some((m) => m.via === 'api' && /^Got it/.test(m.body)))).find(
      (m) => m.via === 'api' && /^Got it/.test(m.body),
    )!.body;
  const taskByText = (t: string) =>
    h.until(
      async () =>
        (await h.hub.ctx.db.selectFrom('tasks').selectAll().where('text', '=', t).executeTakeFirst()) ?? undefined,
      20_000,
      `task "${t}"`,
    );

  beforeAll(async () => {
    fake = await TwilioFake.start();
    redis = createRedis(redisUrl());
    h = await createHarness({
      env: { ...fake.env(), PUBLIC_URL, HUB_ADMINS: `web:admin,test:admin,sms:${ADMIN}` },
      handlers: { 'test.big': async () => ({ text: bigText }) },
      frontendFactories: [(deps) => createSmsFrontend(deps, { redis })],
    });
    url = `${h.hub.web.url()}${SMS_WEBHOOK_PATH}`;
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await fake?.stop();
    redis?.disconnect();
  });

  it('refuses a missing, bad or wrongly-addressed signature with 403 and creates no task', async () => {
    const from = '+15550003000';
    expect((await text(from, 'task forged one', { signature: 'bm90LWEtc2lnbmF0dXJl' })).status).toBe(403);
    expect((await text(from, 'task forged two', { signature: null })).status).toBe(403);
    expect((await text(from, 'task forged three', { signedUrl: url })).status).toBe(403); // signed for the wrong URL: PUBLIC_URL is what Twilio signs
    const forged = await h.hub.ctx.db.selectFrom('tasks').select('id').where('text', 'like', 'forged%').execute();
    expect(forged).toHaveLength(0);
    expect(fake.messagesTo(from)).toHaveLength(0);
    const ok = await text(from, 'task genuine one');
    expect(ok.status).toBe(200);
    // The acknowledgement is the notifier's (one owner, one text), sent through the API rather than as TwiML.
    expect(ok.reply).toBeUndefined();
    expect(await ackOf(from)).toMatch(/^Got it: task [0-9a-f]{8} queued/);
  });

  it('odd input gets a clear answer, never a 500: empty, picture-only, oversized, not a form', async () => {
    const from = '+15550003005';
    expect((await text(from, '   ')).reply).toMatch(/^Commands:/);
    expect(
      (await text(from, '', { extra: { NumMedia: '1', MediaUrl0: 'https://example.org/cat.jpg' } })).reply,
    ).toMatch(/only read text/);
    const tooLong = await text(from, `task ${'x'.repeat(h.hub.config.MAX_REQUEST_CHARS + 10)}`);
    expect(tooLong.status).toBe(200);
    expect(tooLong.reply).toMatch(/too long|at most|characters/i);
    const json = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"Body":"hi"}',
    });
    expect(json.status).toBe(415);
    const huge = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `Body=${'y'.repeat(300 * 1024)}`,
    });
    expect(huge.status).toBe(413);
    expect(await huge.text()).not.toMatch(/at .*\.ts:\d+/);
    const noFrom = await text('', 'task nobody');
    expect(noFrom.status).toBe(400);
    expect(api(from)).toHaveLength(0);
  });

  it('deduplicates a redelivered MessageSid: one task, and the redelivery gets no second answer', async () => {
    const from = '+15550003010';
    const first = await text(from, 'task dedup me', { messageSid: 'SM0123456789abcdef0123456789abcdef' });
    const again = await text(from, 'task dedup me', { messageSid: 'SM0123456789abcdef0123456789abcdef' });
    expect(await ackOf(from)).toMatch(/Got it/);
    expect(again.status).toBe(200);
    expect(again.reply).toBeUndefined();
    expect(first.reply).toBeUndefined();
    const tasks = await h.hub.ctx.db.selectFrom('tasks').select('id').where('text', '=', 'dedup me').execute();
    expect(tasks).toHaveLength(1);
  });

  it('after STOP nothing at all is sent to the number, recorded as a permanent delivery failure; START re-enables', async () => {
    const from = '+15550003020';
    const stop = await text(from, 'STOP');
    expect(stop.status).toBe(200);
    expect(stop.reply).toBeUndefined();
    expect(await new PostgresOptOutStore(h.env.database.db).isOptedOut(from)).toBe(true); // another process sees it
    const req = await text(from, 'task hello while stopped');
    expect(req.reply).toBeUndefined();
    const task = await taskByText('hello while stopped');
    expect(await notifyFailed(task.id)).toMatch(/replied STOP/);
    expect((await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified)).final_notified).toBe(
      true,
    );
    expect((await text(from, 'status')).reply).toBeUndefined();
    const failed = await h.hub.ctx.db
      .selectFrom('task_events')
      .select('data')
      .where('task_id', '=', task.id)
      .where('type', '=', 'notify.failed')
      .execute();
    expect(JSON.stringify(failed)).toMatch(/replied STOP/);
    expect(fake.messagesTo(from)).toHaveLength(0);
    expect(fake.calls.filter((c) => c.to === from)).toHaveLength(0);

    expect((await text(from, 'start')).reply).toBeUndefined();
    const back = await text(from, 'task hello after start');
    expect(back.reply).toBeUndefined();
    expect(await ackOf(from)).toMatch(/Got it/);
    const sent = await fake.waitFor(from, (ms) => ms.some((m) => m.via === 'api' && /completed/.test(m.body)));
    const paid = sent.filter((m) => m.via === 'api' && !/^Got it/.test(m.body));
    expect(paid).toHaveLength(1);
    expect(paid[0]!.body).toContain('hello after start');
  });

  it('STOP survives a Redis flush: an outbound SMS to the opted-out number is still suppressed', async () => {
    const from = '+15550003025';
    expect((await text(from, 'STOP')).status).toBe(200);
    // Lose every key of this hub's namespace, as a FLUSHALL would (Redis is shared with other test files).
    const keys = await redis.keys(`${h.env.prefix}:*`);
    if (keys.length) await redis.del(...keys);
    const task = await h.hub.tasks.submit({
      origin: { platform: 'sms', conversationId: from, userId: `sms:${from}` },
      text: 'hello after the flush',
    });
    expect(await notifyFailed(task.task.id)).toMatch(/replied STOP/);
    expect(fake.calls.filter((c) => c.to === from)).toHaveLength(0);
    expect(fake.messagesTo(from)).toHaveLength(0);
  });

  it('opt-outs an older hub kept in Redis are carried over to the database once', async () => {
    const store = new PostgresOptOutStore(h.env.database.db);
    const key = `${h.env.prefix}:hub:sms:opt-out`;
    await redis.sadd(key, '+15550003026', '+15550003027');
    expect(await importRedisOptOuts(redis, h.env.prefix, store)).toBe(2);
    expect(await store.isOptedOut('+15550003027')).toBe(true);
    expect(await redis.exists(key)).toBe(0);
    expect(await importRedisOptOuts(redis, h.env.prefix, store)).toBe(0);
  });

  it('"CANCEL <id>" cancels a task while "CANCEL" alone opts out', async () => {
    const from = '+15550003030';
    await text(from, 'task long work sleep 20 seconds');
    const id = /task ([0-9a-f]{8})/.exec(await ackOf(from))![1]!;
    const cancel = await text(from, `CANCEL ${id}`);
    expect(cancel.reply).toMatch(new RegExp(`Cancelling task ${id}`));
    const task = await taskByText('long work sleep 20 seconds');
    await h.waitForTask(task.id, (t) => t.status === 'CANCELLED' && t.final_notified, 30_000);
    await fake.waitFor(from, (ms) => ms.some((m) => m.via === 'api' && /cancelled/.test(m.body)));
    expect((await text(from, 'Cancel')).reply).toBeUndefined();
    expect(await new PostgresOptOutStore(h.env.database.db).isOptedOut(from)).toBe(true);
  });

  it('a 3000-character result arrives as one SMS cut at the 4-segment boundary, ending with the task link', async () => {
    const from = '+15550003040';
    await text(from, 'use test.big: make it long');
    const task = await taskByText('use test.big: make it long');
    await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified, 30_000);
    const finals = api(from).filter((m) => !/^Got it/.test(m.body));
    expect(finals).toHaveLength(1);
    const body = finals[0]!.body;
    const link = `More: ${PUBLIC_URL}/tasks/${task.id}`;
    expect(body.length).toBe(4 * 153); // plain ASCII: exactly four full concatenated segments
    expect(body.length % 153).toBe(0);
    expect(finals[0]!.numSegments).toBe(4);
    expect(body.endsWith(`...\n${link}`)).toBe(true);
    const kept = body.slice(0, -(link.length + 4));
    expect(`Task ${task.id.slice(0, 8)} completed.\n${bigText}`.startsWith(kept)).toBe(true);
    expect(kept.length).toBeGreaterThan(500);
  });

  it('STATUS <id>, STATUS and HELP work as plain words', async () => {
    const from = '+15550003050';
    await text(from, 'task hello status words');
    const id = /task ([0-9a-f]{8})/.exec(await ackOf(from))![1]!;
    await fake.waitFor(from, (ms) => ms.some((m) => m.via === 'api' && /completed/.test(m.body)));
    expect((await text(from, `STATUS ${id}`)).reply).toMatch(new RegExp(`^Task ${id}: COMPLETED - hello status words`));
    expect((await text(from, 'Status')).reply).toMatch(new RegExp(`^Task ${id}: COMPLETED`));
    const help = (await text(from, 'HELP')).reply ?? '';
    expect(help).toMatch(/^Commands:\ntask <what to do>/);
    expect(measureSms(help).segments).toBeLessThanOrEqual(4);
    expect((await text(from, 'info')).reply).toMatch(/^Commands:/);
    expect(api(from).map((m) => m.body)).toHaveLength(2); // command answers are TwiML only; the acknowledgement and the result are paid
  });

  it('a 429 waits Retry-After and a 5xx is retried; the result still arrives once', async () => {
    const from = '+15550003060';
    fake.failNext({ status: 429, retryAfterS: 1 });
    await text(from, 'task hello limited');
    await fake.waitFor(from, (ms) => ms.some((m) => m.via === 'api'), 30_000);
    const calls = fake.calls.filter((c) => c.to === from);
    expect(calls[0]!.status).toBe(429);
    expect(calls.slice(1).every((c) => c.status === 201)).toBe(true);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(900);

    const other = '+15550003061';
    fake.failNext({ status: 503 });
    await text(other, 'task hello unavailable');
    await fake.waitFor(other, (ms) => ms.some((m) => m.via === 'api'), 30_000);
    await fake.waitFor(other, (ms) => ms.some((m) => m.via === 'api' && /completed/.test(m.body)), 30_000);
    const statuses = fake.calls.filter((c) => c.to === other).map((c) => c.status);
    expect(statuses[0]).toBe(503);
    expect(statuses.slice(1).every((s) => s === 201)).toBe(true);
    expect(api(other).filter((m) => /completed/.test(m.body))).toHaveLength(1);
  });

  it('admin reprocess: refused for a non-admin; an admin re-runs the dead letter and the original number gets the new outcome', async () => {
    const user = '+15550003070';
    await text(user, 'demo fail please');
    const task = await taskByText('demo fail please');
    await h.waitForTask(task.id, (t) => t.status === 'FAILED' && t.final_notified, 30_000);
    await fake.waitFor(user, (ms) => ms.some((m) => m.via === 'api' && /failed/.test(m.body)));
    const id = task.id.slice(0, 8);

    const generation = async () =>
      (
        await h.hub.ctx.db
          .selectFrom('subtasks')
          .select('generation')
          .where('task_id', '=', task.id)
          .executeTakeFirstOrThrow()
      ).generation;
    const before = await generation();
    expect((await text(user, `admin reprocess ${id}`)).reply).toMatch(/admins only|not allowed/i);
    expect(await generation()).toBe(before);

    expect((await text(ADMIN, `ADMIN REPROCESS ${id}`)).reply).toMatch(new RegExp(`Reprocessing task ${id}`));
    await h.waitForTask(task.id, (t) => t.status === 'FAILED' && t.final_notified, 30_000);
    const sub = await h.hub.ctx.db
      .selectFrom('subtasks')
      .select(['generation', 'status'])
      .where('task_id', '=', task.id)
      .executeTakeFirstOrThrow();
    expect(sub).toEqual({ generation: before + 1, status: 'DEAD' });
    const failures = (
      await fake.waitFor(user, (ms) => ms.filter((m) => m.via === 'api' && /^Task .* failed/.test(m.body)).length >= 2)
    ).filter((m: SmsSent) => m.via === 'api');
    expect(failures.filter((m) => !/^Got it/.test(m.body))).toHaveLength(2);
    expect(api(ADMIN)).toHaveLength(0);
  });
});
