// The slash commands the bot offers, and their registration only when the definitions changed.
import type { Logger } from '../../core/logger.ts';
import { errorText } from '../../core/errors.ts';
import type { CommandJson, DiscordApi } from './discord-api.ts';

const STRING = 3;
const SUBCOMMAND = 1;

const str = (name: string, description: string, extra: Record<string, unknown> = {}): CommandJson => ({
  type: STRING,
  name,
  description,
  ...extra,
});
const id = (required = true): CommandJson =>
  str('id', 'Task id (the first 4+ characters are enough)', { required, max_length: 64 });
const sub = (name: string, description: string, options: CommandJson[] = []): CommandJson => ({
  type: SUBCOMMAND,
  name,
  description,
  ...(options.length ? { options } : {}),
});
const cmd = (name: string, description: string, options: CommandJson[] = []): CommandJson => ({
  type: 1,
  name,
  description,
  ...(options.length ? { options } : {}),
});

/** The global slash commands, one per word of the shared chat grammar. */
export const SLASH_COMMANDS: CommandJson[] = [
  cmd('task', 'Start a task', [
    str('text', 'What to do', { required: true, max_length: 6000 }),
    str('priority', 'How urgent it is', { choices: ['urgent', 'normal', 'low'].map((p) => ({ name: p, value: p })) }),
    ...['file', 'file2', 'file3'].map((name) => ({ type: 11, name, description: 'A file to work on' })),
  ]),
  cmd('status', 'Progress of a task (your latest if no id)', [id(false)]),
  cmd('tasks', 'Your recent tasks'),
  cmd('cancel', 'Stop a task', [id()]),
  cmd('retry', 'Run a failed task again from where it failed', [id()]),
  cmd('duplicate', 'Submit the same request again', [id()]),
  cmd('approve', 'Approve a task awaiting review', [id()]),
  cmd('reject', 'Reject a task awaiting review', [id(), str('reason', 'Why', { max_length: 1000 })]),
  cmd('help', 'What the bot can do', [str('topic', 'A help topic', { choices: [{ name: 'admin', value: 'admin' }] })]),
  cmd('admin', 'Admin commands', [
    sub('failed', 'Dead-lettered work', [str('capability', 'Only this capability')]),
    sub('reprocess', 'Run a dead-lettered task again', [
      str('id', 'Task or subtask id', { required: true, max_length: 64 }),
    ]),
    sub('reprocess-all', 'Reprocess every dead letter', [str('capability', 'Only this capability')]),
    sub('workers', 'Live workers'),
    sub('queues', 'Queue sizes'),
  ]),
];

const OPTION_KEYS = [
  'type',
  'name',
  'description',
  'required',
  'choices',
  'options',
  'min_length',
  'max_length',
  'autocomplete',
];

/** The fields of a command or option that we define, with Discord's defaults filled in, in a stable order. */
function canonical(o: CommandJson, isCommand: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of OPTION_KEYS) {
    let v = o[k];
    if (k === 'type' && isCommand) v = v ?? 1;
    if (k === 'required' || k === 'autocomplete') v = v === true;
    if (k === 'options') v = ((v as CommandJson[] | undefined) ?? []).map((x) => canonical(x, false));
    if (k === 'choices')
      v = ((v as Array<{ name: string; value: unknown }> | undefined) ?? []).map((c) => ({
        name: c.name,
        value: c.value,
      }));
    if (v !== undefined && v !== null) out[k] = v;
  }
  return out;
}

/** True when the registered commands differ from `desired` in anything we define. */
export function commandsDiffer(existing: CommandJson[], desired: CommandJson[]): boolean {
  const norm = (xs: CommandJson[]) =>
    JSON.stringify(xs.map((c) => canonical(c, true)).sort((a, b) => String(a.name).localeCompare(String(b.name))));
  return norm(existing) !== norm(desired);
}

/** Registers the commands unless Discord already has the same set; returns whether it wrote them. Failures are logged, not thrown. */
export async function syncSlashCommands(
  api: DiscordApi,
  log: Logger,
  desired: CommandJson[] = SLASH_COMMANDS,
): Promise<boolean> {
  try {
    const existing = await api.getCommands();
    if (!commandsDiffer(existing, desired)) {
      log.debug('discord slash commands are up to date');
      return false;
    }
    await api.putCommands(desired);
    log.info({ commands: desired.length }, 'discord slash commands registered');
    return true;
  } catch (err) {
    log.warn({ err: errorText(err) }, 'could not register the discord slash commands; the existing ones stay');
    return false;
  }
}
