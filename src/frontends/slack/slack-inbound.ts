// Slack events, slash commands and button presses -> InboundMessage -> the shared command grammar.
import type { App, RespondFn } from '@slack/bolt';
import type { CommandReply } from '../../core/commands/command-service.ts';
import { parseCommand } from '../../core/commands/parse-command.ts';
import { PermanentError, RateLimitedError } from '../../core/errors.ts';
import type { InboundAttachment, InboundMessage, MessageRef } from '../../core/types.ts';
import type { FrontendDeps, OutboundMessage } from '../frontend.ts';
import { withAttachments } from '../attachments.ts';
import { handleInbound } from '../handle-inbound.ts';
import type { SlackFile } from './slack-attachments.ts';
import type { SlackOutbound } from './slack-outbound.ts';
import { ACTION_PREFIX, fromSlackText, renderMessage } from './slack-text.ts';

type Deps = Pick<FrontendDeps, 'commands' | 'tasks' | 'log'>;
type Reply = (r: CommandReply) => Promise<MessageRef | void>;

/** The parts of a message event this frontend reads. */
interface SlackMessageEvent {
  type: string;
  subtype?: string;
  channel: string;
  channel_type?: string;
  user?: string;
  bot_id?: string;
  text?: string;
  ts: string;
  thread_ts?: string;
  files?: SlackFile[];
}

/** The parts of a block_actions payload this frontend reads. */
interface BlockActionBody {
  user: { id: string };
  channel?: { id: string };
  message?: { ts: string; thread_ts?: string };
  actions: Array<{ action_id: string; value?: string; action_ts: string }>;
}

const VERBS = ['cancel', 'retry', 'approve', 'reject'];
const RETRY_ATTEMPTS = 3;
const MAX_WAIT_MS = 30_000;

/** Registers the listeners: app_mention in channels, direct messages, every slash command, and the task buttons. */
export function registerSlackListeners(
  app: App,
  deps: Deps,
  out: SlackOutbound,
  fetchFiles: (files: SlackFile[] | undefined) => Promise<InboundAttachment[]> = async () => [],
): void {
  const origin = (channel: string, user: string, threadId?: string) => ({
    platform: 'slack',
    conversationId: channel,
    threadId,
    userId: `slack:${user}`,
  });
  const inThread =
    (channel: string, threadTs: string): Reply =>
    (r) =>
      withRetries(() => out.post(channel, threadTs, toOutbound(r)));

  /** A mention in a channel or a direct message: a request in the thread it started (or belongs to). */
  const onMessage = async (e: SlackMessageEvent, eventId: string, botUserId: string | undefined) => {
    const threadTs = e.thread_ts ?? e.ts;
    const msg: InboundMessage = {
      eventId,
      origin: origin(e.channel, e.user!, threadTs),
      text: fromSlackText(e.text ?? '', botUserId),
      plainTextIsTask: true,
    };
    await handleInbound(deps, withAttachments(msg, await fetchFiles(e.files)), inThread(e.channel, threadTs));
  };

  app.event('app_mention', async ({ event, body, context }) => {
    const e = event as unknown as SlackMessageEvent;
    if (ignored(e) || e.channel_type === 'im' || e.channel.startsWith('D')) return;
    await onMessage(e, String(body.event_id), context.botUserId);
  });

  app.event('message', async ({ event, body, context }) => {
    const e = event as unknown as SlackMessageEvent;
    if (ignored(e) || e.channel_type !== 'im') return;
    await onMessage(e, String(body.event_id), context.botUserId);
  });

  app.command(/.*/, async ({ command, ack, respond }) => {
    await ack();
    const name = command.command.replace(/^\//, '').toLowerCase();
    // `/task x`, `/status`, `/admin reprocess x` are grammar words; any other command (`/switchboard status`) is a prefix.
    const isVerb = parseCommand(name, false).name !== 'unknown';
    const msg: InboundMessage = {
      eventId: command.trigger_id,
      origin: origin(command.channel_id, command.user_id),
      text: isVerb ? `${name} ${fromSlackText(command.text ?? '')}` : fromSlackText(command.text ?? ''),
      plainTextIsTask: false,
    };
    // A new task's acknowledgement is posted in the channel by the notifier; if the bot cannot post there, it
    // falls back to this command's private answer.
    out.rememberResponder(msg.origin, (text) => ephemeral(respond, { kind: 'ack', text }));
    await handleInbound(deps, msg, (r) => ephemeral(respond, r));
  });

  app.action(new RegExp(`^${ACTION_PREFIX}(${VERBS.join('|')})$`), async ({ ack, body, respond }) => {
    await ack();
    const b = body as unknown as BlockActionBody;
    const action = b.actions[0];
    const channel = b.channel?.id;
    if (!action?.value || !channel) return;
    const threadTs = b.message ? (b.message.thread_ts ?? b.message.ts) : undefined;
    const msg: InboundMessage = {
      eventId: `${action.action_ts}:${b.user.id}`,
      origin: origin(channel, b.user.id, threadTs),
      text: `${action.action_id.slice(ACTION_PREFIX.length)} ${action.value}`,
      plainTextIsTask: false,
    };
    await handleInbound(deps, msg, (r) =>
      respond ? ephemeral(respond, r) : withRetries(() => out.post(channel, threadTs, toOutbound(r))),
    );
  });
}

/** Bots (this one included), edits, joins and other message subtypes are not requests. */
function ignored(e: SlackMessageEvent): boolean {
  return Boolean((e.subtype && e.subtype !== 'file_share') || e.bot_id || !e.user);
}

function toOutbound(r: CommandReply): OutboundMessage {
  return { taskId: r.taskId ?? '', kind: r.kind === 'ack' ? 'ack' : 'info', text: r.text, actions: r.actions };
}

/** Answers only the person who asked, through the request's response_url. */
async function ephemeral(respond: RespondFn, r: CommandReply): Promise<void> {
  const { text, blocks } = renderMessage(r.text, r.taskId ?? '', r.actions);
  await respond({ response_type: 'ephemeral', replace_original: false, text, blocks });
}

/** Runs a Slack call, waiting out rate limits (Retry-After) and brief outages; permanent errors fail at once. */
async function withRetries<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof PermanentError || attempt >= RETRY_ATTEMPTS) throw err;
      const waitMs = err instanceof RateLimitedError ? err.retryAfterMs : 500 * 2 ** attempt;
      if (waitMs > MAX_WAIT_MS) throw err;
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
}
