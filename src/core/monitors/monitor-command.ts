// The chat side of monitors: "monitor <url> every day at 9:00", "monitors", "monitors pause|resume|delete|run <id>".
import { HubError } from '../errors.ts';
import type { CommandReply } from '../commands/command-service.ts';
import { shortId } from '../ids.ts';
import type { Caller } from '../tasks/task-service.ts';
import type { ConversationRef } from '../types.ts';
import type { MonitorService } from './monitor-service.ts';

/** A parsed monitor command. */
export interface MonitorCommand {
  name: 'monitor';
  action: 'add' | 'list' | 'pause' | 'resume' | 'delete' | 'run';
  arg: string;
}

const ACTIONS = new Set(['pause', 'resume', 'delete', 'run']);

/** Parses what follows `monitor` / `monitors`. */
export function parseMonitorCommand(word: string, argv: string[]): MonitorCommand | { name: 'usage'; message: string } {
  const first = (argv[0] ?? '').toLowerCase();
  if (!first || first === 'list') return { name: 'monitor', action: 'list', arg: '' };
  if (ACTIONS.has(first)) {
    return argv[1]
      ? { name: 'monitor', action: first as MonitorCommand['action'], arg: argv[1] }
      : { name: 'usage', message: `Say which: monitors ${first} <monitor id>` };
  }
  if (word === 'monitor' && /^https?:\/\//i.test(argv[0] ?? ''))
    return { name: 'monitor', action: 'add', arg: argv.join(' ') };
  return {
    name: 'usage',
    message: 'Use: monitor <url> every day at 9:00, monitors, monitors pause|resume|delete|run <id>',
  };
}

/** Runs a monitor command for a chat user. */
export async function runMonitorCommand(
  monitors: MonitorService | undefined,
  cmd: MonitorCommand,
  origin: ConversationRef,
  caller: Caller,
): Promise<CommandReply> {
  if (!monitors) throw new HubError('Monitors are not available on this hub.', 'unavailable');
  if (cmd.action === 'add') {
    const { monitor, schedule } = await monitors.createFromText(origin, cmd.arg);
    return {
      kind: 'info',
      text: `Monitor ${shortId(monitor.id)} watches ${monitor.url} ${schedule.description}. The first check takes a baseline; after that you hear from me only when the page changes.`,
    };
  }
  if (cmd.action === 'list') {
    const list = await monitors.list(caller);
    return {
      kind: 'info',
      text: list.length
        ? [
            'Your monitors:',
            ...list.map(
              ({ monitor: m, schedule: s }) =>
                `${shortId(m.id)} ${s.status.padEnd(7)} ${s.description}: ${m.url} (${m.changes} change(s) in ${m.checks} check(s))`,
            ),
          ].join('\n')
        : 'You have no monitors. Start one with: monitor https://example.org/page every day at 9:00',
    };
  }
  if (cmd.action === 'run') {
    const { taskId } = await monitors.runNow(cmd.arg, caller);
    return { kind: 'info', text: `Checking now (task ${shortId(taskId)}); you hear from me if the page changed.` };
  }
  const { monitor, schedule } = await monitors.control(cmd.action, cmd.arg, caller);
  return { kind: 'info', text: `Monitor ${shortId(monitor.id)} is now ${schedule.status}.` };
}
