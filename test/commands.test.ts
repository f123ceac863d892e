// The shared chat command grammar and the CommandService every chat frontend uses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommand } from '../src/core/commands/parse-command.ts';
import type { InboundMessage } from '../src/core/types.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

describe('command grammar', () => {
  it.each([
    ['/task summarise the news', false, { name: 'task', text: 'summarise the news', priority: undefined }],
    ['task do it --priority urgent', false, { name: 'task', text: 'do it', priority: 'urgent' }],
    ['summarise the news', true, { name: 'task', text: 'summarise the news', priority: undefined }],
    ['summarise the news', false, { name: 'unknown', word: 'summarise' }],
    ['/frobnicate now', true, { name: 'unknown', word: '/frobnicate' }],
    ['STATUS 7kq2', true, { name: 'status', id: '7kq2' }],
    ['/status@SwitchboardBot', false, { name: 'status', id: undefined }],
    ['<@U123ABC> status', false, { name: 'status', id: undefined }],
    ['@switchboard_bot task hi', false, { name: 'task', text: 'hi', priority: undefined }],
    ['cancel 1a2b3c4d', true, { name: 'cancel', id: '1a2b3c4d' }],
    ['/retry', false, { name: 'usage', message: 'Say which task: retry <task id>' }],
    ['reject 1a2b too vague', false, { name: 'reject', id: '1a2b', reason: 'too vague' }],
    ['/tasks', false, { name: 'tasks' }],
    ['HELP', true, { name: 'help', topic: undefined }],
    ['', true, { name: 'help' }],
    ['/task', false, { name: 'usage', message: expect.stringMatching(/Say what you want done/) }],
    ['/task hi --priority whenever', false, { name: 'usage', message: 'Priority must be one of urgent, normal, low.' }],
    ['/admin reprocess 1a2b', false, { name: 'admin', sub: 'reprocess', id: '1a2b' }],
    ['/admin reprocess', false, { name: 'usage', message: expect.stringMatching(/admin reprocess <task/) }],
    ['/admin reprocess-all web.fetch', false, { name: 'admin', sub: 'reprocess-all', capability: 'web.fetch' }],
    ['/admin failed', false, { name: 'admin', sub: 'failed', capability: undefined }],
    ['/admin workers', false, { name: 'admin', sub: 'workers' }],
    ['/admin bogus', false, { name: 'help', topic: 'admin' }],
    ['every day at 9:00 summarise the news', true, { name: 'schedule', text: 'every day at 9:00 summarise the news' }],
    ['in 2 hours check the build', false, { name: 'schedule', text: 'in 2 hours check the build' }],
    ['in the report, find typos', true, { name: 'task', text: 'in the report, find typos', priority: undefined }],
    [
      '/schedule every monday at 10:00 plan the week',
      false,
      { name: 'schedule', text: 'every monday at 10:00 plan the week' },
    ],
    ['schedules', true, { name: 'schedules' }],
    ['schedules pause 1a2b', true, { name: 'schedules', action: 'pause', id: '1a2b' }],
    ['schedules delete', true, { name: 'usage', message: 'Say which: schedules delete <schedule id>' }],
    ['timezone Europe/Berlin', true, { name: 'timezone', zone: 'Europe/Berlin' }],
  ] as const)('%j (plain text is a task: %s)', (text, plain, expected) => {
    expect(parseCommand(text, plain)).toEqual(expected);
  });
});

describe('command service', () => {
  let h: Harness;
  let n = 0;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  const say = (text: string, user = 'test:alice', eventId = `ev-${++n}`) =>
    h.hub.commands.handle({
      eventId,
      text,
      plainTextIsTask: true,
      origin: { platform: 'test', conversationId: `chat-${user}`, userId: user },
    } satisfies InboundMessage);

  it('creates a task; the notifier sends the one acknowledgement (the reply text), and edits go to it', async () => {
    const r = (await say('task hello commands'))!;
    expect(r).toMatchObject({ kind: 'ack', actions: ['cancel'] });
    expect(r.text).toMatch(/^Got it: task [0-9a-f]{8} queued \(1 step\)/);
    await h.waitForTask(r.taskId!, (t) => t.final_notified);
    const mine = h.chat.forTask(r.taskId!);
    const acks = mine.filter((d) => d.message.kind === 'ack');
    expect(acks).toHaveLength(1);
    expect(acks[0]!.message.text).toBe(r.text);
    expect(mine.filter((d) => d.op === 'edit').every((d) => d.messageId === acks[0]!.messageId)).toBe(true);
    expect(mine.filter((d) => d.message.kind === 'result')).toHaveLength(1);
  });

  it('deduplicates a redelivered platform event', async () => {
    const first = await say('task only once', 'test:alice', 'dup-1');
    const again = await say('task only once', 'test:alice', 'dup-1');
    expect(first?.kind).toBe('ack');
    expect(again).toBeNull();
    const rows = await h.hub.ctx.db.selectFrom('tasks').select('id').where('text', '=', 'only once').execute();
    expect(rows).toHaveLength(1);
  });

  it('status, tasks, cancel and retry by short id; other users see nothing', async () => {
    const r = (await say('task long work sleep 5 seconds'))!;
    const short = r.taskId!.slice(0, 6);
    expect((await say(`status ${short}`))!.text).toMatch(/long work sleep 5 seconds/);
    expect((await say('tasks'))!.text).toMatch(new RegExp(r.taskId!.slice(0, 8)));
    expect((await say(`status ${short}`, 'test:bob'))!).toMatchObject({ kind: 'error', text: `No task ${short}.` });
    expect((await say(`cancel ${short}`, 'test:bob'))!.kind).toBe('error');
    expect((await say(`cancel ${short}`))!.text).toBe(`Cancelling task ${r.taskId!.slice(0, 8)}.`);
    await h.waitForTask(r.taskId!, (t) => t.status === 'CANCELLED');
    expect((await say(`cancel ${short}`))!.text).toMatch(/already finished \(CANCELLED\)/);
    expect((await say(`retry ${short}`))!.text).toMatch(/only a FAILED task can be retried/);
  });

  it('refuses admin commands to non-admins and runs them for admins, recording who', async () => {
    const r = (await say('task demo fail please'))!;
    await h.waitForTask(r.taskId!, (t) => t.status === 'FAILED');
    expect((await say(`admin reprocess ${r.taskId!.slice(0, 8)}`))!).toMatchObject({
      kind: 'error',
      text: 'That command is for admins only.',
    });
    expect((await say('admin failed', 'test:admin'))!.text).toMatch(/demo\.fail \(3 attempts\)/);
    expect((await say(`admin reprocess ${r.taskId!.slice(0, 8)}`, 'test:admin'))!.text).toMatch(/^Reprocessing task/);
    await h.waitForEvent((e) => e.taskId === r.taskId && e.type === 'admin.reprocess');
    const audit = await h.hub.ctx.db
      .selectFrom('task_events')
      .select('actor')
      .where('task_id', '=', r.taskId!)
      .where('type', '=', 'admin.reprocess')
      .execute();
    expect(audit).toEqual([{ actor: 'test:admin' }]);
    expect((await say('admin workers', 'test:admin'))!.text).toMatch(/WAITING|BUSY|IDLE/);
    expect((await say('admin queues', 'test:admin'))!.text).toMatch(/demo\.fail/);
  });

  it('answers unknown commands with help, and empty or huge input with a clear message', async () => {
    expect((await say('/frobnicate'))!.text).toMatch(/I don't know "\/frobnicate"[\s\S]*Commands:/);
    expect((await say(''))!.text).toMatch(/^Commands:/);
    const huge = (await say(`task ${'x'.repeat(30_000)}`))!;
    expect(huge).toMatchObject({ kind: 'error' });
    expect(huge.text).toMatch(/limit is 20000/);
  });

  it('schedules from chat: create, list, pause, resume, delete; time zone; bad input refused clearly', async () => {
    expect((await say('timezone Mars/Olympus'))!.kind).toBe('error');
    expect((await say('timezone Europe/Berlin'))!.text).toBe('Your time zone is now Europe/Berlin.');
    const made = (await say('every day at 9:00 summarise the news'))!;
    expect(made.text).toMatch(/^Scheduled [0-9a-f]{8}: .*summarise the news.*Next run: /);
    const id = /^Scheduled ([0-9a-f]{8})/.exec(made.text)![1]!;
    expect((await say('schedules'))!.text).toMatch(new RegExp(`${id} active`));
    expect((await say(`schedules pause ${id}`))!.text).toBe(`Schedule ${id} is now paused.`);
    expect((await say(`schedules resume ${id}`))!.text).toBe(`Schedule ${id} is now active.`);
    expect((await say(`schedules delete ${id}`, 'test:bob'))!.kind).toBe('error');
    expect((await say(`schedules delete ${id}`))!.text).toBe(`Schedule ${id} is now deleted.`);
    const bad = (await say('schedule every 0 minutes do nothing'))!;
    expect(bad.kind).toBe('error');
  });

  it('duplicate submits the same request again as a new task', async () => {
    const r = (await say('task hello twice'))!;
    const d = (await say(`duplicate ${r.taskId!.slice(0, 8)}`))!;
    expect(d.kind).toBe('ack');
    expect(d.taskId).not.toBe(r.taskId);
    const rows = await h.hub.ctx.db.selectFrom('tasks').select('id').where('text', '=', 'hello twice').execute();
    expect(rows).toHaveLength(2);
  });
});
