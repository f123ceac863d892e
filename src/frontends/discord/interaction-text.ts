// Translates Discord interactions into the shared grammar's text and origin, and actions into buttons.
import { ApplicationCommandOptionType, ButtonStyle, ChannelType, ComponentType, InteractionType } from 'discord.js';
import type { ConversationRef } from '../../core/types.ts';
import type { OutboundMessage } from '../frontend.ts';
import type { ResolvedAttachments } from './discord-attachments.ts';

/** An option of a slash command as Discord sends it. */
export interface RawOption {
  name: string;
  type: number;
  value?: unknown;
  options?: RawOption[];
}

/** The fields of an interaction payload the frontend reads (from the gateway or the HTTP endpoint). */
export interface RawInteraction {
  id: string;
  type: number;
  token: string;
  application_id?: string;
  guild_id?: string;
  channel_id?: string;
  channel?: { id: string; type?: number; parent_id?: string | null };
  member?: { user?: { id: string } };
  user?: { id: string };
  data?: {
    name?: string;
    type?: number;
    options?: RawOption[];
    custom_id?: string;
    component_type?: number;
    /** Objects the options refer to (attachments of /task). */
    resolved?: ResolvedAttachments;
  };
}

/** Interaction types (Discord API). */
export const InteractionKind = {
  Ping: InteractionType.Ping,
  Command: InteractionType.ApplicationCommand,
  Component: InteractionType.MessageComponent,
  Autocomplete: InteractionType.ApplicationCommandAutocomplete,
  ModalSubmit: InteractionType.ModalSubmit,
} as const;

const THREAD_TYPES = new Set<number>([
  ChannelType.AnnouncementThread,
  ChannelType.PublicThread,
  ChannelType.PrivateThread,
]);
const BUTTON_PREFIX = 'sb';
type Action = NonNullable<OutboundMessage['actions']>[number];
const ACTIONS: Record<Action, { label: string; style: number }> = {
  cancel: { label: 'Cancel', style: ButtonStyle.Danger },
  retry: { label: 'Retry', style: ButtonStyle.Primary },
  approve: { label: 'Approve', style: ButtonStyle.Success },
  reject: { label: 'Reject', style: ButtonStyle.Danger },
};

/** Whether a parsed JSON value has the shape of an interaction. */
export function isRawInteraction(v: unknown): v is RawInteraction {
  const o = v as Partial<RawInteraction> | null;
  return (
    !!o &&
    typeof o === 'object' &&
    typeof o.id === 'string' &&
    typeof o.type === 'number' &&
    typeof o.token === 'string'
  );
}

/** The conversation an interaction came from, or null without a user or channel. */
export function originOf(i: RawInteraction): ConversationRef | null {
  const user = i.member?.user?.id ?? i.user?.id;
  const channel = i.channel_id ?? i.channel?.id;
  if (!user || !channel) return null;
  const thread = i.channel?.type !== undefined && THREAD_TYPES.has(i.channel.type) ? channel : undefined;
  return { platform: 'discord', conversationId: channel, threadId: thread, userId: `discord:${user}` };
}

/** Whether the interaction happened in a direct message (no guild). */
export function isDirect(i: RawInteraction): boolean {
  return !i.guild_id;
}

const value = (opts: RawOption[] | undefined, name: string): string => {
  const v = opts?.find((o) => o.name === name)?.value;
  return v === undefined || v === null ? '' : String(v).trim();
};
const join = (...parts: string[]) => parts.filter(Boolean).join(' ');

/** The grammar text of a slash command (`task <text> --priority urgent`, `admin reprocess <id>`, ...). */
export function commandText(data: RawInteraction['data']): string {
  const name = (data?.name ?? '').toLowerCase();
  const opts = data?.options;
  switch (name) {
    case 'task': {
      const priority = value(opts, 'priority');
      const review = value(opts, 'review') === 'true' ? '--review' : '';
      return join('task', value(opts, 'text'), priority ? `--priority ${priority}` : '', review);
    }
    case 'status':
      return join('status', value(opts, 'id'));
    case 'tasks':
      return 'tasks';
    case 'cancel':
    case 'retry':
    case 'duplicate':
    case 'approve':
      return join(name, value(opts, 'id'));
    case 'reject':
      return join('reject', value(opts, 'id'), value(opts, 'reason'));
    case 'revise':
      return join('revise', value(opts, 'id'), value(opts, 'feedback'));
    case 'schedule':
      return join('schedule', value(opts, 'request'));
    case 'timezone':
      return join('timezone', value(opts, 'zone'));
    case 'help':
      return join('help', value(opts, 'topic'));
    case 'schedules':
    case 'admin': {
      const subcommand = opts?.find((o) => o.type === ApplicationCommandOptionType.Subcommand);
      if (!subcommand) return join(name, value(opts, 'command'));
      // Options in their declared order: `admin priority <id> <priority>`, `schedules pause <id>`.
      return join(name, subcommand.name, ...(subcommand.options ?? []).map((o) => String(o.value ?? '').trim()));
    }
    default:
      return `/${name || 'unknown'}`;
  }
}

/** The grammar text of a button press (`cancel <taskId>`), or null for a button that is not ours. */
export function buttonText(customId: string | undefined): string | null {
  const [prefix, action, taskId] = (customId ?? '').split(':');
  if (prefix !== BUTTON_PREFIX || !action || !taskId || !(action in ACTIONS)) return null;
  return `${action} ${taskId}`;
}

/** Message components: one row of buttons for the actions, or none (which also clears old buttons on edit). */
export function buttonsFor(taskId: string, actions: OutboundMessage['actions']): unknown[] {
  if (!actions?.length) return [];
  return [
    {
      type: ComponentType.ActionRow,
      components: actions.map((a) => ({
        type: ComponentType.Button,
        style: ACTIONS[a].style,
        label: ACTIONS[a].label,
        custom_id: `${BUTTON_PREFIX}:${a}:${taskId}`,
      })),
    },
  ];
}
