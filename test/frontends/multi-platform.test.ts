// Issue 4 acceptance: Telegram, Discord, Slack and SMS enabled at once from env vars in one hub; each task is answered on its own platform only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortId } from '../../src/core/ids.ts';
import type { TaskRow } from '../../src/core/store/schema.ts';
import type { ConversationRef } from '../../src/core/types.ts';
import { createDiscordDriver, DISCORD_USERS } from '../fakes/discord-driver.ts';
import { slackDriver } from '../fakes/slack-driver.ts';
import { SmsDriver } from '../fakes/sms-driver.ts';
import { TELEGRAM_USER, TelegramDriver } from '../fakes/telegram-driver.ts';
import { createHarness, type Harness } from '../helpers/hub-harness.ts';
import type { FakeMessage, PlatformDriver } from './contract.ts';

const PLATFORMS = ['telegram', 'discord', 'slack', 'sms'] as const;
type Platform = (typeof PLATFORMS)[number];

/** One fake per platform; Discord over HTTP interactions, so three platforms share the hub's one HTTP server for their webhooks. */
const drivers: Record<Platform, PlatformDriver> = {
  telegram: new TelegramDriver(),
  discord: createDiscordDriver('http'),
  slack: slackDriver(),
  sms: new SmsDriver(),
};
const sms = drivers.sms as SmsDriver;
const conversation: Record<Platform, string> = {
  telegram: 'mp-telegram',
  discord: 'mp-discord',
  slack: 'mp-slack',
  sms: 'mp-sms',
};
const userId: Record<Platform, () => string> = {
  telegram: () => `telegram:${TELEGRAM_USER}`,
  discord: () => `discord:${DISCORD_USERS.alice}`,
  slack: () => 'slack:U_ALICE',
  sms: () => `sms:${sms.number(conversation.sms)}`,
};
const request = (p: Platform) => `multi platform hello from ${p}`;
const texts = (ms: FakeMessage[]) => ms.flatMap((m) => m.versions);
/** Messages carrying the final result of a task (not the progress message settled to its final line). */
const finals = (ms: FakeMessage[], task: TaskRow) =>
  ms.filter((m) => m.versions[0]!.startsWith(`Task ${shortId(task.id)} completed.`));

/** Merges the hub env of every fake; HUB_ADMINS lists are joined rather than overwritten. */
function mergeEnv(envs: Array<Record<string, string>>): Record<string, string> {
  const admins = new Set(envs.flatMap((e) => e.HUB_ADMINS?.split(',') ?? []));
  return { ...Object.assign({}, ...envs), ...(admins.size ? { HUB_ADMINS: [...admins].join(',') } : {}) };
}

describe('several chat frontends in one hub, wired from env vars', () => {
  let h: Harness;
  const tasks = {} as Record<Platform, TaskRow>;

  beforeAll(async () => {
    const started = await Promise.all(PLATFORMS.map((p) => drivers[p].start()));
    // The drivers' factories are deliberately unused: the hub builds its frontends from these env vars, as in production.
    h = await createHarness({
      env: { PROGRESS_INTERVAL_MS: '100', ...mergeEnv(started.map((s) => s.env)) },
      realFrontends: true,
    });
    for (const p of PLATFORMS) drivers[p].attachHub(h.hub.web.url());
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await Promise.all(PLATFORMS.map((p) => drivers[p].stop()));
  });

  it('registers every configured chat frontend beside the web one', () => {
    const names = h.hub.frontends.all().map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['telegram', 'discord', 'slack', 'sms', 'web']));
  });

  it('a request from each platform at once becomes a task of that origin, answered on that platform and conversation only', async () => {
    await Promise.all(PLATFORMS.map((p) => drivers[p].say(conversation[p], `task ${request(p)}`)));
    for (const p of PLATFORMS) {
      const created = await h.until(
        async () =>
          (await h.hub.ctx.db.selectFrom('tasks').selectAll().where('text', '=', request(p)).executeTakeFirst()) ??
          undefined,
        30_000,
        `the ${p} task`,
      );
      tasks[p] = await h.waitForTask(created.id, (t) => t.status === 'COMPLETED' && t.final_notified, 30_000);
    }
    for (const p of PLATFORMS) {
      const task = tasks[p];
      expect((task.origin as ConversationRef).platform).toBe(p);
      expect(task.user_id).toBe(userId[p]());
      const own = await drivers[p].waitFor(conversation[p], (ms) => finals(ms, task).length > 0, 30_000);
      expect(own[0]!.versions[0]).toMatch(new RegExp(`^Got it: task ${shortId(task.id)}`));
      expect(finals(own, task)[0]!.versions[0]).toContain(request(p));
    }
    expect(h.chat.deliveries).toHaveLength(0);
  }, 90_000);

  it("each final result is delivered exactly once, and no platform hears of another platform's task", () => {
    for (const p of PLATFORMS) {
      const all = drivers[p].allMessages();
      expect(all.length).toBeGreaterThanOrEqual(2);
      expect(
        all.filter((m) => m.conversation !== conversation[p]).map((m) => [m.conversation, m.versions[0]]),
        `${p} posted outside ${conversation[p]}`,
      ).toEqual([]);
      expect(finals(all, tasks[p]), `final results of the ${p} task`).toHaveLength(1);
      expect(h.events.filter((e) => e.taskId === tasks[p].id && e.type === 'delivered')).toHaveLength(1);

      const calls = drivers[p].outboundCalls();
      expect(calls.length).toBeGreaterThan(0);
      expect(
        calls.filter((c) => c.conversation !== conversation[p]),
        `${p} API calls outside ${conversation[p]}`,
      ).toEqual([]);

      for (const other of PLATFORMS.filter((o) => o !== p)) {
        const foreign = texts(all).filter((t) => t.includes(shortId(tasks[other].id)) || t.includes(request(other)));
        expect(foreign, `${p} saw ${other}'s task`).toEqual([]);
      }
    }
  });
});
