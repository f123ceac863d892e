// Turns Telegram updates into the hub's InboundMessage: who, where (chat, forum topic), what, and whether it is for us.
import type { Chat, MaybeInaccessibleMessage, Message, Update, UserFromGetMe } from 'grammy/types';
import type { ConversationRef, InboundMessage } from '../../core/types.ts';

/** What the frontend does with an update: run a chat message, or answer a button press and run its command. */
export type TelegramInbound =
  | { kind: 'message'; msg: InboundMessage; replyTo?: number | undefined }
  | { kind: 'button'; callbackQueryId: string; msg: InboundMessage | null };

const BUTTON_DATA = /^(cancel|retry|approve|reject) ([\w-]{1,60})$/;

/** The inbound message of an update, or null when the update is not addressed to the hub (group chatter, bots, edits). */
export function inboundFromUpdate(update: Update, me: UserFromGetMe): TelegramInbound | null {
  if (update.callback_query) {
    const q = update.callback_query;
    const at = q.message;
    const m = q.data ? BUTTON_DATA.exec(q.data) : null;
    if (!at || !m) return { kind: 'button', callbackQueryId: q.id, msg: null };
    return {
      kind: 'button',
      callbackQueryId: q.id,
      msg: {
        eventId: `callback:${q.id}`,
        origin: originOf(at.chat, topicOf(at), q.from.id),
        text: `${m[1]} ${m[2]}`,
        plainTextIsTask: false,
      },
    };
  }
  const msg = update.message;
  if (!msg?.from || msg.from.is_bot) return null;
  const origin = originOf(msg.chat, topicOf(msg), msg.from.id);
  const raw = msg.text ?? msg.caption ?? '';
  const eventId = `update:${update.update_id}`;
  if (msg.chat.type === 'private')
    return { kind: 'message', msg: { eventId, origin, text: raw, plainTextIsTask: true } };
  const addressed = addressedText(raw, me.username);
  if (!addressed) return null;
  return {
    kind: 'message',
    replyTo: msg.message_id,
    msg: { eventId, origin, text: addressed.text, plainTextIsTask: addressed.mentioned },
  };
}

/**
 * In a group, the text meant for the bot: a `/command` (not one addressed to another bot via `/cmd@OtherBot`),
 * or a message mentioning `@ourbot`, with the mention taken out. Null when neither.
 */
export function addressedText(raw: string, username: string): { text: string; mentioned: boolean } | null {
  const cmd = /^\/[A-Za-z0-9_]+(?:@(\w+))?(?=\s|$)/.exec(raw);
  if (cmd) return cmd[1] && cmd[1].toLowerCase() !== username.toLowerCase() ? null : { text: raw, mentioned: false };
  const mention = new RegExp(`(^|[^\\w@])@${username.replace(/\W/g, '')}(?!\\w)`, 'gi');
  if (!mention.test(raw)) return null;
  return {
    text: raw
      .replace(mention, '$1')
      .replace(/[ \t]{2,}/g, ' ')
      .trim(),
    mentioned: true,
  };
}

/** The forum topic a message belongs to (message_thread_id only counts for topic messages). */
function topicOf(m: MaybeInaccessibleMessage): number | undefined {
  const full = m as Partial<Message>;
  return full.is_topic_message ? full.message_thread_id : undefined;
}

function originOf(chat: Chat, threadId: number | undefined, fromId: number): ConversationRef {
  return {
    platform: 'telegram',
    conversationId: String(chat.id),
    threadId: threadId === undefined ? undefined : String(threadId),
    userId: `telegram:${fromId}`,
  };
}
