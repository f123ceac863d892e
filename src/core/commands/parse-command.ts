// The chat command grammar shared by every frontend: `task`, `status`, `cancel`, `/admin reprocess`, ...
import { parseMonitorCommand, type MonitorCommand } from '../monitors/monitor-command.ts';
import { splitScheduleRequest } from '../schedules/time-spec.ts';
import { PRIORITIES, type Priority } from '../types.ts';

/** A parsed chat command. */
export type ChatCommand =
  | { name: 'task'; text: string; priority?: Priority | undefined; review?: boolean | undefined }
  | { name: 'status'; id?: string | undefined }
  | { name: 'tasks' }
  | { name: 'cancel' | 'retry' | 'duplicate' | 'approve'; id: string }
  | { name: 'reject'; id: string; reason?: string | undefined }
  | { name: 'revise'; id: string; feedback: string }
  | { name: 'help'; topic?: string | undefined }
  | { name: 'admin'; sub: 'failed' | 'reprocess-all'; capability?: string | undefined }
  | { name: 'admin'; sub: 'reprocess'; id: string }
  | { name: 'admin'; sub: 'workers' | 'queues' | 'access' }
  | { name: 'admin'; sub: 'pair'; code: string }
  | { name: 'admin'; sub: 'unpair'; user: string }
  | { name: 'admin'; sub: 'priority'; id: string; priority: Priority }
  | { name: 'schedule'; text: string }
  | { name: 'schedules'; action?: 'pause' | 'resume' | 'delete' | undefined; id?: string | undefined }
  | { name: 'timezone'; zone?: string | undefined }
  | MonitorCommand
  | { name: 'unknown'; word: string }
  | { name: 'usage'; message: string };

/** Every command word of the grammar with a one-line summary: what each platform offers as its commands or menu. */
export const CHAT_COMMANDS = [
  { word: 'task', summary: 'Start a task: task <what to do>' },
  { word: 'status', summary: 'Progress of a task (your latest if no id)' },
  { word: 'tasks', summary: 'Your recent tasks' },
  { word: 'cancel', summary: 'Stop a task: cancel <id>' },
  { word: 'retry', summary: 'Run a failed task again: retry <id>' },
  { word: 'duplicate', summary: 'Submit the same request again: duplicate <id>' },
  { word: 'approve', summary: 'Approve a task awaiting review: approve <id>' },
  { word: 'reject', summary: 'Reject a task awaiting review: reject <id> [reason]' },
  { word: 'revise', summary: 'Send a reviewed task back: revise <id> <feedback>' },
  { word: 'schedule', summary: 'Run later or repeatedly: schedule every day at 9:00 <what>' },
  { word: 'schedules', summary: 'Your schedules: schedules [pause|resume|delete <id>]' },
  { word: 'timezone', summary: 'Your time zone for schedules: timezone Europe/Berlin' },
  { word: 'help', summary: 'What the bot can do' },
  { word: 'admin', summary: 'Admin commands: admin failed|reprocess|workers|queues|pair ...' },
] as const;

const NEEDS_ID = new Set(['cancel', 'retry', 'duplicate', 'approve', 'reject', 'revise']);

/**
 * Parses one message. A leading `/` or `!` and a bot mention (`@bot`, `<@U123>`) are ignored; the first
 * word is the command, case-insensitive (`STATUS 7kq2` works for SMS). Plain text becomes a task when
 * `plainTextIsTask`, otherwise it is an unknown command.
 */
export function parseCommand(raw: string, plainTextIsTask: boolean): ChatCommand {
  let text = raw.replace(/^\s*(<@[A-Z0-9]+>|@\w+)\s*/i, '').trim();
  const slashed = /^[/!]/.test(text);
  text = text.replace(/^[/!]/, '');
  const [first = '', ...rest] = text.split(/\s+/);
  const word = first.replace(/@\w+$/, '').toLowerCase(); // "/status@MyBot" in Telegram groups
  const args = rest.join(' ').trim();
  const argv = args ? args.split(/\s+/) : [];

  if (!text) return { name: 'help' };
  if (word === 'task' || word === 'do') return parseTask(args);
  if (word === 'help' || word === 'start' || word === '?') return { name: 'help', topic: argv[0] };
  if (word === 'status') return { name: 'status', id: argv[0] };
  if (word === 'tasks' || word === 'list') return { name: 'tasks' };
  if (NEEDS_ID.has(word)) {
    if (!argv[0])
      return {
        name: 'usage',
        message: `Say which task: ${word} <task id>${word === 'reject' ? ' [reason]' : word === 'revise' ? ' <feedback>' : ''}`,
      };
    if (word === 'reject') return { name: 'reject', id: argv[0], reason: argv.slice(1).join(' ') || undefined };
    if (word === 'revise') {
      const feedback = argv.slice(1).join(' ');
      return feedback
        ? { name: 'revise', id: argv[0], feedback }
        : { name: 'usage', message: 'Say what to change: revise <task id> <feedback>' };
    }
    return { name: word as 'cancel', id: argv[0] };
  }
  if (word === 'admin') return parseAdmin(argv);
  if (word === 'schedule')
    return args
      ? { name: 'schedule', text: args }
      : { name: 'usage', message: 'Say when and what: schedule every day at 9:00 summarise the news' };
  // "every day at 9:00 …", "at 14:30 …", "in 2 hours …" schedule a task; other text starting with those words is a plain request.
  if (['every', 'at', 'in', 'tomorrow', 'hourly'].includes(word) && splitScheduleRequest(text))
    return { name: 'schedule', text };
  if (word === 'schedules') {
    const action = (argv[0] ?? '').toLowerCase();
    if (!action || action === 'list') return { name: 'schedules' };
    if (action === 'pause' || action === 'resume' || action === 'delete') {
      return argv[1]
        ? { name: 'schedules', action, id: argv[1] }
        : { name: 'usage', message: `Say which: schedules ${action} <schedule id>` };
    }
    return {
      name: 'usage',
      message: 'Use: schedules, schedules pause <id>, schedules resume <id>, schedules delete <id>',
    };
  }
  if (word === 'timezone' || word === 'tz') return { name: 'timezone', zone: argv[0] };
  if (word === 'monitor' || word === 'monitors') return parseMonitorCommand(word, argv);
  if (!slashed && plainTextIsTask) return parseTask(text);
  return { name: 'unknown', word: `${slashed ? '/' : ''}${first}` };
}

function parseTask(args: string): ChatCommand {
  let text = args;
  const review = /(^|\s)--review(\s|$)/i.test(text);
  text = text.replace(/(^|\s)--review(?=\s|$)/gi, ' ');
  const m = /(?:^|\s)(?:--priority|priority:)\s*(\w+)/i.exec(text);
  const p = m?.[1]?.toLowerCase();
  if (m) text = text.replace(m[0], ' ');
  text = text.trim();
  if (!text)
    return {
      name: 'usage',
      message: 'Say what you want done: task <what to do>, e.g. task summarise https://example.org',
    };
  if (p && !PRIORITIES.includes(p as Priority))
    return { name: 'usage', message: `Priority must be one of ${PRIORITIES.join(', ')}.` };
  return { name: 'task', text, priority: p as Priority | undefined, ...(review ? { review } : {}) };
}

function parseAdmin(argv: string[]): ChatCommand {
  const sub = (argv[0] ?? '').toLowerCase();
  if (sub === 'failed' || sub === 'reprocess-all') return { name: 'admin', sub, capability: argv[1] };
  if (sub === 'reprocess')
    return argv[1]
      ? { name: 'admin', sub, id: argv[1] }
      : { name: 'usage', message: 'Say which: admin reprocess <task or subtask id>' };
  if (sub === 'workers' || sub === 'queues' || sub === 'access') return { name: 'admin', sub };
  if (sub === 'pair')
    return argv[1]
      ? { name: 'admin', sub, code: argv.slice(1).join('') }
      : { name: 'usage', message: 'Say which code: admin pair <code>' };
  if (sub === 'unpair')
    return argv[1]
      ? { name: 'admin', sub, user: argv[1] }
      : { name: 'usage', message: 'Say who: admin unpair <platform:id>' };
  if (sub === 'priority') {
    const p = (argv[2] ?? '').toLowerCase() as Priority;
    return argv[1] && PRIORITIES.includes(p)
      ? { name: 'admin', sub, id: argv[1], priority: p }
      : { name: 'usage', message: `Say which task and priority: admin priority <id> ${PRIORITIES.join('|')}` };
  }
  return { name: 'help', topic: 'admin' };
}

/** The help text; the same on every platform (frontends may format the command prefix). */
export function helpText(topic?: string): string {
  if (topic === 'admin') {
    return [
      'Admin commands:',
      '  admin failed [capability] - dead-lettered work',
      '  admin reprocess <id> - run a dead-lettered task again',
      '  admin reprocess-all [capability] - reprocess every dead letter',
      '  admin workers - live workers',
      '  admin queues - queue sizes',
      "  admin priority <id> urgent|normal|low - change a queued task's priority",
      '  admin pair <code> - let the user who got this pairing code use the bot',
      "  admin unpair <platform:id> - take a paired user's access away",
      '  admin access - who may use the bot, and codes waiting for approval',
    ].join('\n');
  }
  return [
    'Commands:',
    '  task <what to do> [--priority urgent|normal|low] [--review] - start a task (--review: wait for approval)',
    '  status [id] - progress of a task (your latest if no id)',
    '  tasks - your recent tasks',
    '  cancel <id> - stop a task',
    '  retry <id> - run a failed task again from where it failed',
    '  duplicate <id> - submit the same request again',
    '  approve <id> / reject <id> [reason] / revise <id> <feedback> - decide on a task awaiting review',
    '  every day at 9:00 <what> / at tomorrow 9:00 <what> / in 2 hours <what> - schedule a task',
    '  schedules [pause|resume|delete <id>] - your schedules',
    '  timezone [zone] - your time zone for schedules, e.g. timezone Europe/Berlin',
    '  monitor <url> every day at 9:00 - tell me when a page changes; monitors [pause|resume|delete|run <id>]',
    '  help admin - commands for admins',
    'Task ids can be shortened to their first 4 characters.',
  ].join('\n');
}
