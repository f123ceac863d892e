// Attachments through each platform fake (Telegram document, Slack file, Discord attachment, MMS) become task
// artifacts fetched with that platform's own credentials, reach the worker through Redis, and an output file goes
// back to each platform as a document (SMS: a signed link, since PUBLIC_URL is set).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listArtifacts, readArtifact } from '../../src/core/artifacts/artifact-store.ts';
import { outputFile } from '../../src/core/artifacts/artifact-transport.ts';
import type { Plan, PlanRequest, Planner } from '../../src/core/planning/plan.ts';
import { RulePlanner } from '../../src/core/planning/rule-planner.ts';
import type { TaskRow } from '../../src/core/store/schema.ts';
import { SMS_WEBHOOK_PATH } from '../../src/frontends/sms/webhook.ts';
import { createDiscordDriver, DISCORD_USERS } from '../fakes/discord-driver.ts';
import { slackDriver } from '../fakes/slack-driver.ts';
import { SmsDriver } from '../fakes/sms-driver.ts';
import { TELEGRAM_USER, TelegramDriver } from '../fakes/telegram-driver.ts';
import { createHarness, type Harness } from '../helpers/hub-harness.ts';

const PUBLIC_URL = 'https://hub.example.org';
const telegram = new TelegramDriver();
const discord = createDiscordDriver('http');
const slack = slackDriver();
const sms = new SmsDriver();

/** The rule plans, plus a `test.report` step over the extractions when the request asks for a report. */
class ReportPlanner implements Planner {
  private readonly rules = new RulePlanner();
  async plan(req: PlanRequest): Promise<Plan> {
    const plan = await this.rules.plan(req);
    if (!/report/i.test(req.text)) return plan;
    const keys = plan.steps.map((s) => s.key);
    return {
      ...plan,
      steps: [...plan.steps, { key: 'report', capability: 'test.report', input: {}, dependsOn: keys }],
    };
  }
}

let h: Harness;
beforeAll(async () => {
  const envs = await Promise.all([telegram, discord, slack, sms].map((d) => d.start()));
  const admins = envs.flatMap((e) => (e.env as Record<string, string>).HUB_ADMINS?.split(',') ?? []);
  h = await createHarness({
    env: {
      ...Object.assign({}, ...envs.map((e) => e.env)),
      HUB_ADMINS: [...new Set(['web:admin', 'test:admin', ...admins])].join(','),
      PUBLIC_URL,
      MAX_ARTIFACT_BYTES: '50000',
      WORKER_CAPABILITIES: 'demo.*,doc.*,test.*',
    },
    realFrontends: true,
    planner: new ReportPlanner(),
    handlers: {
      // Proves the worker saw the files: lists them and returns the extracted text as a file.
      'test.report': async (ctx) => {
        const seen = ctx.artifacts!.list().map((a) => `${a.name} (${a.size} bytes, ${a.producer})`);
        const text = Object.values(ctx.deps)
          .flatMap((d) => (d as { documents: Array<{ pages: Array<{ text: string }> }> }).documents)
          .map((d) => d.pages.map((p) => p.text).join('\n'))
          .join('\n');
        return {
          text: `report on ${seen.join(', ')}`,
          files: [outputFile('report.txt', 'text/plain', `REPORT\n${text}`)],
        };
      },
    },
  });
  for (const d of [telegram, discord, slack, sms]) d.attachHub(h.hub.web.url());
}, 60_000);
afterAll(async () => {
  await h?.close();
  await Promise.all([telegram, discord, slack, sms].map((d) => d.stop()));
});

/** The user's one task once it finished. */
async function finishedTaskOf(userId: string): Promise<TaskRow> {
  return h.until(
    async () => {
      const t = await h.env.ctx.db.selectFrom('tasks').selectAll().where('user_id', '=', userId).executeTakeFirst();
      return t && ['COMPLETED', 'FAILED'].includes(t.status) && t.final_notified ? t : undefined;
    },
    30_000,
    `the task of ${userId}`,
  );
}

/** Checks the upload arrived whole, reached the worker, and the output file was stored. */
async function expectRoundTrip(task: TaskRow, name: string, content: string): Promise<void> {
  expect(task.error).toBeNull();
  expect(task.status).toBe('COMPLETED');
  const upload = await readArtifact(h.env.ctx.db, task.id, name);
  expect(upload.producer).toBe('upload');
  expect(upload.bytes.toString()).toBe(content);
  expect((task.result as { text: string }).text).toBe(`report on ${name} (${content.length} bytes, upload)`);
  expect((await listArtifacts(h.env.ctx.db, task.id)).map((a) => a.name)).toEqual([name, 'report.txt']);
}

describe('chat attachments in, documents out', () => {
  it('Telegram: a document is fetched with the bot token (getFile) and the report comes back via sendDocument', async () => {
    const fake = telegram.fake;
    const content = 'Telegram notes: the budget is 4200 EUR.';
    const fileId = fake.addFile(Buffer.from(content), 'notes.txt');
    const chat = { id: 2_100_001, type: 'private' as const };
    const update = fake.push({
      message: {
        message_id: 77,
        date: Math.floor(Date.now() / 1000),
        chat,
        from: { id: TELEGRAM_USER, is_bot: false, first_name: 'A' },
        caption: 'make a report of this',
        document: {
          file_id: fileId,
          file_unique_id: 'u1',
          file_name: 'notes.txt',
          mime_type: 'text/plain',
          file_size: content.length,
        },
      },
    } as never);
    await fake.consumed(update.update_id);
    const task = await finishedTaskOf(`telegram:${TELEGRAM_USER}`);
    await expectRoundTrip(task, 'notes.txt', content);
    expect(fake.fileDownloads.map((d) => d.status)).toEqual([200]);
    const doc = await fake.until(() => fake.documents.find((d) => d.chatId === chat.id));
    expect(doc.name).toBe('report.txt');
    expect(doc.bytes.toString()).toBe(`REPORT\n${content}`);
  });

  it('Telegram: a document over MAX_ARTIFACT_BYTES is refused with a clear answer and no task', async () => {
    const fake = telegram.fake;
    const big = Buffer.alloc(60_000, 65);
    const fileId = fake.addFile(big, 'big.txt');
    const chat = { id: 2_100_002, type: 'private' as const };
    const update = fake.push({
      message: {
        message_id: 5,
        date: Math.floor(Date.now() / 1000),
        chat,
        from: { id: 4343, is_bot: false, first_name: 'B' },
        document: {
          file_id: fileId,
          file_unique_id: 'u2',
          file_name: 'big.txt',
          mime_type: 'text/plain',
          file_size: big.length,
        },
      },
    } as never);
    await fake.consumed(update.update_id);
    const reply = await fake.until(() => fake.messages(chat.id)[0]);
    expect(reply.versions[0]).toContain('I could not take "big.txt" (58.6 KB, over the 48.8 KB limit)');
    const rows = await h.env.ctx.db.selectFrom('tasks').select('id').where('user_id', '=', 'telegram:4343').execute();
    expect(rows).toEqual([]);
  });

  it('Slack: a shared file is fetched from url_private_download with the bot token; the report is uploaded in the thread', async () => {
    const fake = slack.fake;
    const content = 'Slack notes: ship on Friday.';
    const file = fake.addFile(Buffer.from(content), 'plan.md', 'text/markdown');
    const r = await fake.directMessage('D0FILES', 'report on the attached plan', {
      extra: { subtype: 'file_share', files: [file] },
    });
    expect(r.answer.status).toBe(200);
    const task = await finishedTaskOf('slack:U_ALICE');
    await expectRoundTrip(task, 'plan.md', content);
    expect(fake.fileDownloads.map((d) => d.status)).toEqual([200]);
    const shared = await fake.until(() => fake.sharedFiles.find((f) => f.channel === 'D0FILES'));
    expect(shared.name).toBe('report.txt');
    expect(shared.thread).toBe(r.ts);
    expect(shared.bytes.toString()).toBe(`REPORT\n${content}`);
  });

  it('Discord: a /task attachment is fetched from its CDN URL; the report is attached to the result message', async () => {
    const fake = discord.fake;
    const content = 'Discord notes: three open bugs.';
    const att = fake.addAttachment(Buffer.from(content), 'bugs.txt', 'text/plain');
    await discord.command(
      'chan-files',
      'task',
      [
        { name: 'text', type: 3, value: 'report on these bugs' },
        { name: 'file', type: 11, value: att.id },
      ],
      { user: DISCORD_USERS.bob, resolved: { attachments: { [att.id]: att } } },
    );
    const task = await finishedTaskOf(`discord:${DISCORD_USERS.bob}`);
    await expectRoundTrip(task, 'bugs.txt', content);
    const withFile = await fake.until(() => fake.messages.find((m) => m.files.some((f) => f.name === 'report.txt')));
    expect(withFile.files.find((f) => f.name === 'report.txt')!.text).toBe(`REPORT\n${content}`);
  });

  it('SMS: MMS media is fetched with the account credentials; the report comes back as a signed link', async () => {
    const fake = sms.fake;
    const content = 'MMS notes: call the plumber.';
    const from = '+15550009001';
    const url = `${h.hub.web.url()}${SMS_WEBHOOK_PATH}`;
    const media = fake.addMedia([{ bytes: Buffer.from(content), contentType: 'text/plain' }]);
    const res = await fake.text(url, from, 'report on this', {
      signedUrl: `${PUBLIC_URL}${SMS_WEBHOOK_PATH}`,
      extra: media,
    });
    expect(res.status).toBe(200);
    const task = await finishedTaskOf(`sms:${from}`);
    await expectRoundTrip(task, 'media-1.txt', content);
    expect(fake.mediaFetches.map((f) => f.status)).toEqual([200]);
    const all = await fake.waitFor(from, (ms) => ms.some((m) => m.body.includes('report.txt:')));
    const final = all.find((m) => m.body.includes('report.txt:'))!;
    const link = /report\.txt: (\S+)/.exec(final.body)![1]!;
    expect(link.startsWith(`${PUBLIC_URL}/files/${task.id}/report.txt?exp=`)).toBe(true);
    const local = link.replace(PUBLIC_URL, h.hub.web.url());
    const dl = await fetch(local);
    expect(dl.status).toBe(200);
    expect(await dl.text()).toBe(`REPORT\n${content}`);
    const forged = await fetch(local.replace(/sig=[^&]+/, 'sig=AAAA'));
    expect(forged.status).toBe(404);
  });
});
