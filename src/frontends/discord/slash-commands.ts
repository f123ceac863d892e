// The slash commands the bot offers, and their registration only when the definitions changed.
import {
  ApplicationCommandType,
  ApplicationIntegrationType,
  InteractionContextType,
  SlashCommandBuilder,
  type SlashCommandStringOption,
  type SlashCommandSubcommandBuilder,
} from 'discord.js';
import { errorText } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { PRIORITIES } from '../../core/types.ts';
import type { CommandJson, DiscordApi } from './discord-api.ts';

type Str = SlashCommandStringOption;
const taskId = (required: boolean) => (o: Str) =>
  o.setName('id').setDescription('Task id (the first 4+ characters are enough)').setRequired(required).setMaxLength(64);
const scheduleId = (o: Str) =>
  o.setName('id').setDescription('Schedule id (the first 4+ characters are enough)').setRequired(true).setMaxLength(64);
const capability = (o: Str) => o.setName('capability').setDescription('Only this capability').setMaxLength(100);

/**
 * A command usable everywhere the app is: guild channels, DMs with the bot, and (installed by a user) group DMs and
 * servers where the bot is not a member — its answers then go through the interaction webhook only.
 */
const command = (name: string, description: string) =>
  new SlashCommandBuilder()
    .setName(name)
    .setDescription(description)
    .setIntegrationTypes(ApplicationIntegrationType.GuildInstall, ApplicationIntegrationType.UserInstall)
    .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM, InteractionContextType.PrivateChannel);
const withTaskId = (name: string, description: string) => command(name, description).addStringOption(taskId(true));
const sub = (b: SlashCommandSubcommandBuilder, name: string, description: string) =>
  b.setName(name).setDescription(description);

/** The global slash commands, one per word of the shared chat grammar (`commandText` turns them back into text). */
export const SLASH_COMMANDS: CommandJson[] = [
  command('task', 'Start a task')
    .addStringOption((o) => o.setName('text').setDescription('What to do').setRequired(true).setMaxLength(6000))
    .addStringOption((o) =>
      o
        .setName('priority')
        .setDescription('How urgent it is')
        .addChoices(...PRIORITIES.map((p) => ({ name: p, value: p }))),
    )
    .addBooleanOption((o) => o.setName('review').setDescription('Wait for your approval before finishing'))
    .addAttachmentOption((o) => o.setName('file').setDescription('A file to work on'))
    .addAttachmentOption((o) => o.setName('file2').setDescription('Another file'))
    .addAttachmentOption((o) => o.setName('file3').setDescription('Another file')),
  command('status', 'Progress of a task (your latest if no id)').addStringOption(taskId(false)),
  command('tasks', 'Your recent tasks'),
  withTaskId('cancel', 'Stop a task'),
  withTaskId('retry', 'Run a failed task again from where it failed'),
  withTaskId('duplicate', 'Submit the same request again'),
  withTaskId('approve', 'Approve a task awaiting review'),
  withTaskId('reject', 'Reject a task awaiting review').addStringOption((o) =>
    o.setName('reason').setDescription('Why').setMaxLength(1000),
  ),
  withTaskId('revise', 'Send a task awaiting review back with what to change').addStringOption((o) =>
    o.setName('feedback').setDescription('What to change').setRequired(true).setMaxLength(2000),
  ),
  command('schedule', 'Run a task later or repeatedly').addStringOption((o) =>
    o
      .setName('request')
      .setDescription('When, then what: "every day at 9:00 summarise the news", "in 2 hours check the build"')
      .setRequired(true)
      .setMaxLength(6000),
  ),
  command('schedules', 'Your schedules')
    .addSubcommand((b) => sub(b, 'list', 'List your schedules'))
    .addSubcommand((b) => sub(b, 'pause', 'Pause a schedule').addStringOption(scheduleId))
    .addSubcommand((b) => sub(b, 'resume', 'Resume a paused schedule').addStringOption(scheduleId))
    .addSubcommand((b) => sub(b, 'delete', 'Delete a schedule').addStringOption(scheduleId)),
  command('timezone', 'Your time zone for schedules').addStringOption((o) =>
    o.setName('zone').setDescription('An IANA time zone, e.g. Europe/Berlin (empty: show yours)').setMaxLength(64),
  ),
  command('help', 'What the bot can do').addStringOption((o) =>
    o.setName('topic').setDescription('A help topic').addChoices({ name: 'admin', value: 'admin' }),
  ),
  command('admin', 'Admin commands')
    .addSubcommand((b) => sub(b, 'failed', 'Dead-lettered work').addStringOption(capability))
    .addSubcommand((b) =>
      sub(b, 'reprocess', 'Run a dead-lettered task again').addStringOption((o) =>
        o.setName('id').setDescription('Task or subtask id').setRequired(true).setMaxLength(64),
      ),
    )
    .addSubcommand((b) => sub(b, 'reprocess-all', 'Reprocess every dead letter').addStringOption(capability))
    .addSubcommand((b) =>
      sub(b, 'priority', "Change a queued task's priority")
        .addStringOption(taskId(true))
        .addStringOption((o) =>
          o
            .setName('priority')
            .setDescription('The new priority')
            .setRequired(true)
            .addChoices(...PRIORITIES.map((p) => ({ name: p, value: p }))),
        ),
    )
    .addSubcommand((b) => sub(b, 'workers', 'Live workers'))
    .addSubcommand((b) => sub(b, 'queues', 'Queue sizes'))
    .addSubcommand((b) =>
      sub(b, 'pair', 'Let the user who got this pairing code use the bot').addStringOption((o) =>
        o.setName('code').setDescription('The code the user got').setRequired(true).setMaxLength(32),
      ),
    )
    .addSubcommand((b) =>
      sub(b, 'unpair', "Take a paired user's access away").addStringOption((o) =>
        o.setName('user').setDescription('platform:id, e.g. discord:1234').setRequired(true).setMaxLength(100),
      ),
    )
    .addSubcommand((b) => sub(b, 'access', 'Who may use the bot, and codes waiting for approval')),
].map((b): CommandJson => ({ ...b.toJSON() }));

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
  'contexts',
  'integration_types',
];

/** The fields of a command or option that we define, with Discord's defaults filled in, in a stable order. */
function canonical(o: CommandJson, isCommand: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of OPTION_KEYS) {
    let v = o[k];
    if (k === 'type' && isCommand) v = v ?? ApplicationCommandType.ChatInput;
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
