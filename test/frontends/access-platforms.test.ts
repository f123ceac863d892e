// The access policy holds on every chat platform at once: one refusal with a pairing code each, approval lets the user in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDiscordDriver } from '../fakes/discord-driver.ts';
import { slackDriver } from '../fakes/slack-driver.ts';
import { SmsDriver } from '../fakes/sms-driver.ts';
import { TelegramDriver } from '../fakes/telegram-driver.ts';
import { createHarness, type Harness } from '../helpers/hub-harness.ts';
import type { FakeMessage, PlatformDriver } from './contract.ts';

const PLATFORMS = ['telegram', 'discord', 'slack', 'sms'] as const;
type Platform = (typeof PLATFORMS)[number];
const drivers: Record<Platform, PlatformDriver> = {
  telegram: new TelegramDriver(),
  discord: createDiscordDriver('http'),
  slack: slackDriver(),
  sms: new SmsDriver(),
};
const OPS_TOKEN = 'ops-token-1234';
const conv = (p: Platform) => `acc-${p}`;
const CODE = /admin pair ([A-Z2-9]{8})/;
const refusals = (ms: FakeMessage[]) => ms.filter((m) => m.versions.some((v) => CODE.test(v)));

describe('access policy on every chat platform (HUB_PAIRING=true)', () => {
  let h: Harness;
  beforeAll(async () => {
    const started = await Promise.all(PLATFORMS.map((p) => drivers[p].start()));
    const env = Object.assign({}, ...started.map((s) => s.env)) as Record<string, string>;
    h = await createHarness({
      // Only the web operator is an admin: every chat user is unknown until paired.
      env: {
        ...env,
        HUB_ADMINS: 'web:ops',
        HUB_API_TOKENS: `ops=${OPS_TOKEN}`,
        HUB_PAIRING: 'true',
        PROGRESS_INTERVAL_MS: '100',
      },
      realFrontends: true,
    });
    for (const p of PLATFORMS) drivers[p].attachHub(h.hub.web.url());
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await Promise.all(PLATFORMS.map((p) => drivers[p].stop()));
  });

  it('each unknown user is refused once with a code and nothing runs; once an admin pairs them, they can submit', async () => {
    const codes = {} as Record<Platform, string>;
    await Promise.all(PLATFORMS.map((p) => drivers[p].say(conv(p), 'task do something for a stranger')));
    for (const p of PLATFORMS) {
      const ms = await drivers[p].waitFor(conv(p), (all) => refusals(all).length > 0, 30_000);
      const text = refusals(ms)[0]!.versions.find((v) => CODE.test(v))!;
      expect(text, p).toMatch(/^This bot is private\. To get access, send this code to one of its admins/);
      codes[p] = CODE.exec(text)![1]!;
    }
    await Promise.all(PLATFORMS.map((p) => drivers[p].say(conv(p), 'task do something else, please')));
    // Discord: the silent refusal removes the deferred "thinking…" placeholder instead of leaving it.
    const discord = (drivers.discord as ReturnType<typeof createDiscordDriver>).fake;
    await discord.until(() => discord.messages.some((m) => m.conversation === conv('discord') && m.deleted));
    for (const p of PLATFORMS) {
      const res = await fetch(`${h.hub.web.url()}/api/admin/access/pair`, {
        method: 'POST',
        headers: { authorization: `Bearer ${OPS_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ code: codes[p] }),
      });
      expect(res.status, p).toBe(200);
    }
    await Promise.all(PLATFORMS.map((p) => drivers[p].say(conv(p), `task paired hello from ${p}`)));
    for (const p of PLATFORMS) {
      const task = await h.until(
        async () =>
          (await h.hub.ctx.db
            .selectFrom('tasks')
            .selectAll()
            .where('text', '=', `paired hello from ${p}`)
            .executeTakeFirst()) ?? undefined,
        30_000,
        `the ${p} task`,
      );
      await h.waitForTask(task.id, (t) => t.status === 'COMPLETED' && t.final_notified, 30_000);
      const ms = await drivers[p].waitFor(conv(p), (all) => all.some((m) => /^Got it: task/.test(m.versions[0]!)));
      expect(refusals(ms), `${p}: refused once`).toHaveLength(1);
    }
    const stranger = await h.hub.ctx.db
      .selectFrom('tasks')
      .select('id')
      .where('text', '=', 'do something for a stranger')
      .execute();
    expect(stranger).toEqual([]);
    const refused = await h.hub.ctx.db
      .selectFrom('access_events')
      .select(['user_id'])
      .where('type', '=', 'access.refused')
      .execute();
    expect(refused.map((r) => r.user_id.split(':')[0]).sort()).toEqual([...PLATFORMS].sort());
  }, 120_000);
});
