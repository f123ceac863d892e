// Who may use the hub: HUB_ALLOWED_USERS patterns, one rate-limited refusal, pairing codes approved by an admin.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as m0015 from '../migrations/0015-access.ts';
import { compileUserPatterns } from '../src/core/access/access-service.ts';
import type { InboundMessage } from '../src/core/types.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

let n = 0;
const sayTo = (h: Harness) => (text: string, user: string) =>
  h.hub.commands.handle({
    eventId: `acc-${++n}`,
    text,
    plainTextIsTask: true,
    origin: { platform: user.split(':')[0]!, conversationId: `chat-${user}`, userId: user },
  } satisfies InboundMessage);
const tasksOf = (h: Harness, user: string) =>
  h.hub.ctx.db.selectFrom('tasks').select(['id', 'status']).where('user_id', '=', user).execute();
const auditOf = (h: Harness, user: string) =>
  h.hub.ctx.db
    .selectFrom('access_events')
    .select(['type', 'actor'])
    .where('user_id', '=', user)
    .orderBy('id')
    .execute();

describe('user patterns', () => {
  it('match platform:id with * as the only wildcard (+ and . are literal)', () => {
    const allowed = compileUserPatterns(['telegram:*', 'slack:U*', 'sms:+1555*', 'discord:42']);
    expect(allowed('telegram:123')).toBe(true);
    expect(allowed('slack:U0ABC')).toBe(true);
    expect(allowed('slack:W0ABC')).toBe(false);
    expect(allowed('sms:+15551234567')).toBe(true);
    expect(allowed('sms:+15661234567')).toBe(false);
    expect(allowed('sms:15551234567')).toBe(false);
    expect(allowed('discord:42')).toBe(true);
    expect(allowed('discord:420')).toBe(false);
    expect(compileUserPatterns(['*'])('web:anyone')).toBe(true);
    expect(compileUserPatterns([])('telegram:1')).toBe(false);
  });
});

describe('HUB_ALLOWED_USERS', () => {
  let h: Harness;
  let say: ReturnType<typeof sayTo>;
  beforeAll(async () => {
    h = await createHarness({
      env: { HUB_ALLOWED_USERS: 'test:al*,sms:+1555*', HUB_ADMINS: 'test:boss' },
    });
    say = sayTo(h);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('lets listed users and admins in', async () => {
    const r = (await say('task hello from alice', 'test:alice'))!;
    expect(r.kind).toBe('ack');
    await h.waitForTask(r.taskId!, (t) => t.status === 'COMPLETED');
    expect((await say('task hello from the boss', 'test:boss'))!.kind).toBe('ack');
    expect((await say('task hello by sms', 'sms:+15550001111'))!.kind).toBe('ack');
  });

  it('refuses an unlisted user once, clearly; then stays silent; nothing is created', async () => {
    const first = await say('task spend your money', 'test:mallory');
    expect(first).toEqual({
      kind: 'error',
      text: 'Sorry, this bot is private and you (test:mallory) are not on its list of users. Ask its admin to add you.',
    });
    expect(await say('task spend it again', 'test:mallory')).toBeNull();
    expect(await say('help', 'test:mallory')).toBeNull();
    expect(await say('status', 'test:mallory')).toBeNull();
    expect(await tasksOf(h, 'test:mallory')).toEqual([]);
    expect(await auditOf(h, 'test:mallory')).toEqual([{ type: 'access.refused', actor: 'hub' }]);
    // Another unlisted user gets their own one message.
    expect((await say('hi', 'sms:+16660000000'))!.text).toMatch(/not on its list of users/);
  });

  it('pairing commands say that pairing is off', async () => {
    expect(await say('admin pair ABCD2345', 'test:boss')).toMatchObject({
      kind: 'error',
      text: expect.stringMatching(/Pairing is off on this hub \(set HUB_PAIRING=true/),
    });
    expect((await say('admin access', 'test:boss'))!.text).toBe('Allowed: admins, test:al*, sms:+1555*.');
  });
});

describe('HUB_PAIRING', () => {
  let h: Harness;
  let say: ReturnType<typeof sayTo>;
  const ADMIN_TOKEN = 'admin-token-123';
  const api = async (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) => {
    const res = await fetch(`${h.hub.web.url()}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  beforeAll(async () => {
    h = await createHarness({
      env: {
        HUB_PAIRING: 'true',
        HUB_ADMINS: 'test:boss,web:root',
        HUB_API_TOKENS: `root=${ADMIN_TOKEN},dana=dana-token-123`,
      },
    });
    say = sayTo(h);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('an unknown user gets a one-time code once; an admin approves it; then the user can submit', async () => {
    const first = (await say('task hello', 'test:newbie'))!;
    expect(first.kind).toBe('error');
    const code = /send this code to one of its admins: ([A-Z2-9]{8}) \(valid for 24 h\)/.exec(first.text)?.[1];
    expect(code, first.text).toBeDefined();
    expect(first.text).toContain(`They approve it with: admin pair ${code}`);
    expect(await say('task hello again', 'test:newbie')).toBeNull();
    expect(await tasksOf(h, 'test:newbie')).toEqual([]);

    // A user who is not allowed cannot approve themselves; an allowed non-admin cannot either.
    expect(await say(`admin pair ${code}`, 'test:newbie')).toBeNull();
    expect(await say(`admin pair ${code}`, 'test:stranger')).toMatchObject({ kind: 'error' });
    expect((await say('admin access', 'test:boss'))!.text).toContain(`${code} test:newbie`);

    expect(await say(`admin pair ${code!.toLowerCase()}`, 'test:boss')).toEqual({
      kind: 'info',
      text: 'Paired: test:newbie may use the bot now.',
    });
    const r = (await say('task hello after pairing', 'test:newbie'))!;
    expect(r.kind).toBe('ack');
    await h.waitForTask(r.taskId!, (t) => t.status === 'COMPLETED');
    expect(await say(`admin pair ${code}`, 'test:boss')).toMatchObject({
      kind: 'error',
      text: `No pending pairing code ${code}.`,
    });
    expect(await auditOf(h, 'test:newbie')).toEqual([
      { type: 'pairing.requested', actor: 'test:newbie' },
      { type: 'access.refused', actor: 'hub' },
      { type: 'pairing.approved', actor: 'test:boss' },
    ]);
    const stored = await h.hub.ctx.db
      .selectFrom('access_grants')
      .selectAll()
      .where('user_id', '=', 'test:newbie')
      .executeTakeFirstOrThrow();
    expect(stored).toMatchObject({ granted_by: 'test:boss', code, revoked_at: null });
  });

  it('over the API: admins list, approve and revoke; others get 403; a bad code is a readable 404', async () => {
    const refused = (await say('hello', 'test:viaapi'))!;
    const code = /admin pair ([A-Z2-9]{8})/.exec(refused.text)![1]!;
    expect((await api('GET', '/api/admin/access', undefined, 'dana-token-123')).status).toBe(403);
    const overview = await api('GET', '/api/admin/access');
    expect(overview.status).toBe(200);
    expect(overview.body.pending).toContainEqual(expect.objectContaining({ code, userId: 'test:viaapi' }));
    expect(await api('POST', '/api/admin/access/pair', { code: 'NOPE2345' })).toMatchObject({
      status: 404,
      body: { error: expect.objectContaining({ message: 'No pending pairing code NOPE2345.' }) },
    });
    expect(await api('POST', '/api/admin/access/pair', { code })).toEqual({
      status: 200,
      body: { userId: 'test:viaapi' },
    });
    expect((await say('task via the api', 'test:viaapi'))!.kind).toBe('ack');
    expect(await api('DELETE', `/api/admin/access/${encodeURIComponent('test:viaapi')}`)).toEqual({
      status: 200,
      body: { userId: 'test:viaapi', stillListed: false },
    });
    // Revoked: refused again (the refusal interval from the first refusal still runs, so silently).
    expect(await say('task after revoke', 'test:viaapi')).toBeNull();
    expect((await tasksOf(h, 'test:viaapi')).length).toBe(1);
  });

  it('migration 0015 goes down and up again', async () => {
    const { db } = h.hub.ctx;
    await m0015.down(db);
    await expect(db.selectFrom('access_grants').selectAll().execute()).rejects.toThrow(/does not exist/);
    await m0015.up(db);
    expect(await db.selectFrom('access_grants').selectAll().execute()).toEqual([]);
  });

  it('web API users are let in by their token (HUB_API_TOKENS is their allow list)', async () => {
    const res = await api('POST', '/api/tasks', { text: 'hello from the api' }, 'dana-token-123');
    expect(res.status).toBe(202);
  });
});
