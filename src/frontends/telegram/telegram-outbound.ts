// Sends and edits hub messages in Telegram: plain text (no parse mode), split at 4096, actions as inline buttons.
import { splitText } from '../../core/text.ts';
import type { Api } from 'grammy';
import type { InlineKeyboardMarkup } from 'grammy/types';
import type { ConversationRef, MessageRef } from '../../core/types.ts';
import type { OutboundMessage } from '../frontend.ts';
import { isNotModified, mapTelegramError, migratedChatId } from './telegram-errors.ts';

/** Longest text of one Telegram message. */
export const TELEGRAM_MAX_LENGTH = 4096;

const LABELS = { cancel: 'Cancel', retry: 'Retry', approve: 'Approve', reject: 'Reject' } as const;

/** Inline buttons for a message's actions; each button's callback data is the command it runs (`cancel <taskId>`). */
export function keyboardFor(message: Pick<OutboundMessage, 'taskId' | 'actions'>): InlineKeyboardMarkup | undefined {
  if (!message.actions?.length || !message.taskId) return undefined;
  return {
    inline_keyboard: [message.actions.map((a) => ({ text: LABELS[a], callback_data: `${a} ${message.taskId}` }))],
  };
}

/** Splits text into Telegram-sized pieces; Telegram refuses an empty or blank message, so none is. */
export function splitMessage(text: string, max = TELEGRAM_MAX_LENGTH): string[] {
  return splitText(text, max).map((p) => (p.trim() ? p : '…'));
}

/** Telegram accepts numeric chat ids and @channel names. */
function chatOf(conversationId: string): number | string {
  return /^-?\d+$/.test(conversationId) ? Number(conversationId) : conversationId;
}

/** Delivers outbound messages through the bot's API, throwing the hub's delivery errors. */
export class TelegramOutbound {
  constructor(private readonly api: Api) {}

  /** Sends a message (split when longer than 4096; buttons on the last part); returns the ref of the last part. */
  async send(ref: ConversationRef, message: OutboundMessage, replyTo?: number): Promise<MessageRef> {
    const parts = splitMessage(message.text);
    const keyboard = keyboardFor(message);
    let chat = chatOf(ref.conversationId);
    let lastId = 0;
    for (const [i, text] of parts.entries()) {
      const other = {
        ...(ref.threadId ? { message_thread_id: Number(ref.threadId) } : {}),
        ...(i === parts.length - 1 && keyboard ? { reply_markup: keyboard } : {}),
        ...(i === 0 && replyTo ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } } : {}),
        link_preview_options: { is_disabled: true },
      };
      try {
        lastId = (await this.api.sendMessage(chat, text, other)).message_id;
      } catch (err) {
        const moved = migratedChatId(err);
        if (moved === undefined) throw mapTelegramError(err);
        chat = moved; // the group became a supergroup; its new id takes the message
        lastId = await this.api.sendMessage(chat, text, other).then(
          (m) => m.message_id,
          (e: unknown) => {
            throw mapTelegramError(e);
          },
        );
      }
    }
    return { platform: 'telegram', conversationId: String(chat), threadId: ref.threadId, messageId: String(lastId) };
  }

  /** Replaces a message's text and buttons (no buttons removes them); an identical edit is not an error. */
  async edit(ref: MessageRef, message: OutboundMessage): Promise<void> {
    const text =
      message.text.length > TELEGRAM_MAX_LENGTH
        ? `${splitMessage(message.text, TELEGRAM_MAX_LENGTH - 1)[0]}…`
        : message.text;
    const keyboard = keyboardFor(message);
    try {
      await this.api.editMessageText(chatOf(ref.conversationId), Number(ref.messageId), text.trim() ? text : '…', {
        ...(keyboard ? { reply_markup: keyboard } : {}),
        link_preview_options: { is_disabled: true },
      });
    } catch (err) {
      if (!isNotModified(err)) throw mapTelegramError(err);
    }
  }

  /** Acknowledges a button press so the client stops its spinner; failures (a stale query) are ignored. */
  async answerButton(callbackQueryId: string, text?: string): Promise<void> {
    await this.api.answerCallbackQuery(callbackQueryId, text ? { text } : {}).catch(() => {});
  }
}
