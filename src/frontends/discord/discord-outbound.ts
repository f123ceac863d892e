// Sends and edits Discord messages: interaction webhooks while the token lives, the bot's channel routes after.
import { splitText } from '../../core/text.ts';
import type { RawFile } from 'discord.js';
import type { CommandReply } from '../../core/commands/command-service.ts';
import { PermanentError } from '../../core/errors.ts';
import type { ConversationRef, MessageRef } from '../../core/types.ts';
import type { OutboundMessage } from '../frontend.ts';
import { discordFiles } from './discord-attachments.ts';
import { isInvalidToken, type DiscordApi, type DiscordMessageBody, type PostedMessage } from './discord-api.ts';
import { buttonsFor, type RawInteraction } from './interaction-text.ts';
import { decodeMessageKey, encodeMessageKey, snowflakeTime } from './message-ref.ts';

/** Longest content of one Discord message. */
export const DISCORD_MAX_LENGTH = 2000;
/** Longer texts than this many messages are sent as one message with the full text attached. */
const MAX_PARTS = 5;
const ATTACHMENT_NOTE = '\n… (the full text is attached as message.txt)';

/** Splits text into Discord-sized pieces (line, then word boundaries). */
export function splitMessage(text: string, max = DISCORD_MAX_LENGTH): string[] {
  return splitText(text, max);
}

/** How a text goes out: the message contents, and a file when it is too long for a few messages. */
export function layoutText(text: string): { parts: string[]; file?: RawFile } {
  const parts = splitMessage(text);
  if (parts.length <= MAX_PARTS) return { parts };
  const head = splitMessage(text, DISCORD_MAX_LENGTH - ATTACHMENT_NOTE.length)[0] ?? '';
  return {
    parts: [`${head}${ATTACHMENT_NOTE}`],
    file: { name: 'message.txt', data: Buffer.from(text, 'utf8'), contentType: 'text/plain; charset=utf-8' },
  };
}

const fit = (text: string) =>
  (text.length > DISCORD_MAX_LENGTH ? `${text.slice(0, DISCORD_MAX_LENGTH - 1)}…` : text) || '\u200b';

/** A message body: never pings anyone, buttons from the actions (none clears old ones). */
export function messageBody(
  text: string,
  taskId: string | undefined,
  actions: OutboundMessage['actions'],
): DiscordMessageBody {
  return { content: fit(text), components: taskId ? buttonsFor(taskId, actions) : [], allowed_mentions: { parse: [] } };
}

/** Delivers messages for the frontend. `tokenTtlMs` is how long an interaction token is trusted to edit. */
export class DiscordOutbound {
  constructor(
    private readonly api: DiscordApi,
    private readonly tokenTtlMs: number,
  ) {}

  /**
   * Posts a new message (split, or attached when long); the first one is returned. While the interaction that started
   * the task (its progress message, `ref.progressMessageId`) has a live token, the messages are follow-ups through
   * the interaction webhook, so the bot needs no Send Messages permission and works as a user-installed app; after
   * that, or when Discord says the token is gone, they are posted to the channel with the bot token.
   */
  async send(ref: ConversationRef, message: OutboundMessage): Promise<MessageRef> {
    const channel = ref.threadId ?? ref.conversationId;
    const { parts, file } = layoutText(message.text);
    const token = this.liveToken(ref.progressMessageId);
    const post = async (body: DiscordMessageBody, files: RawFile[] | undefined): Promise<PostedMessage> => {
      if (token) {
        try {
          return await this.api.followUp(channel, token, body, files);
        } catch (err) {
          if (!isInvalidToken(err)) throw err;
        }
      }
      return this.api.postChannel(channel, body, files);
    };
    const attached = await discordFiles(message.files);
    let first: PostedMessage | undefined;
    for (const [i, part] of parts.entries()) {
      const last = i === parts.length - 1;
      const files = [...(i === 0 && file ? [file] : []), ...(last ? attached : [])];
      const posted = await post(
        messageBody(part, message.taskId, last ? message.actions : undefined),
        files.length ? files : undefined,
      );
      first ??= posted;
    }
    return { platform: 'discord', conversationId: ref.conversationId, threadId: ref.threadId, messageId: first!.id };
  }

  /** The interaction token inside a progress message key while it is young enough to use. */
  private liveToken(progressMessageId: string | undefined): string | undefined {
    if (!progressMessageId) return undefined;
    const key = decodeMessageKey(progressMessageId);
    return key.token && Date.now() < (key.createdAt ?? 0) + this.tokenTtlMs ? key.token : undefined;
  }

  /**
   * Edits a message: through the interaction webhook while its token is valid, else through the channel with the
   * bot token. An edit of an interaction's original response returns its ref with the message id learned from it
   * (so it stays editable after the token expires).
   */
  async edit(ref: MessageRef, message: OutboundMessage): Promise<MessageRef | void> {
    const key = decodeMessageKey(ref.messageId);
    const body = messageBody(message.text, message.taskId, message.actions);
    // An original response not yet filled (a deferral) has no other route than its token.
    if (key.token && (this.liveToken(ref.messageId) || !key.messageId)) {
      try {
        const posted = await this.api.editOriginal(ref.threadId ?? ref.conversationId, key.token, body);
        return posted?.id && !key.messageId
          ? { ...ref, messageId: encodeMessageKey({ ...key, messageId: posted.id }) }
          : undefined;
      } catch (err) {
        if (!key.messageId || !isInvalidToken(err)) throw err;
      }
    }
    if (!key.messageId)
      throw new PermanentError(
        'The interaction token has expired and the message id is unknown, so the message cannot be edited.',
      );
    await this.api.editChannel(ref.threadId ?? ref.conversationId, key.messageId, body);
  }

  /** Answers a deferred slash command by editing its original response (the rest of a long reply as follow-ups). */
  async replyOriginal(i: RawInteraction, origin: ConversationRef, r: CommandReply): Promise<MessageRef> {
    const parts = splitMessage(r.text).slice(0, MAX_PARTS);
    const channel = origin.threadId ?? origin.conversationId;
    const posted = await this.api.editOriginal(
      channel,
      i.token,
      messageBody(parts[0] ?? '', r.taskId, parts.length === 1 ? r.actions : undefined),
    );
    for (const [n, part] of parts.slice(1).entries()) {
      await this.api.followUp(
        channel,
        i.token,
        messageBody(part, r.taskId, n === parts.length - 2 ? r.actions : undefined),
      );
    }
    return this.refOf(i, origin, posted);
  }

  /** Removes the "thinking…" placeholder of a deferred slash command that gets no answer. */
  async dropOriginal(i: RawInteraction, origin: ConversationRef): Promise<void> {
    await this.api.deleteOriginal(origin.threadId ?? origin.conversationId, i.token);
  }

  /** Answers a button press (acknowledged with a deferred update) with a follow-up message. */
  async replyFollowUp(i: RawInteraction, origin: ConversationRef, r: CommandReply): Promise<MessageRef> {
    const posted = await this.api.followUp(
      origin.threadId ?? origin.conversationId,
      i.token,
      messageBody(r.text, r.taskId, r.actions),
    );
    return {
      platform: 'discord',
      conversationId: origin.conversationId,
      threadId: origin.threadId,
      messageId: posted.id,
    };
  }

  private refOf(i: RawInteraction, origin: ConversationRef, posted: PostedMessage | undefined): MessageRef {
    // The original response: editable through the interaction token for 15 minutes, then by its id with the bot token.
    const messageId = encodeMessageKey({ token: i.token, createdAt: snowflakeTime(i.id), messageId: posted?.id });
    return { platform: 'discord', conversationId: origin.conversationId, threadId: origin.threadId, messageId };
  }
}
