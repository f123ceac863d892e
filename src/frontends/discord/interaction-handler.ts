// Handles one Discord interaction: answer within Discord's 3 s (a deferral), run the shared grammar, reply through
// the token; a new task's acknowledgement fills the deferral from the notifier.
import { InteractionResponseType, MessageFlags } from 'discord.js';
import type { CommandReply } from '../../core/commands/command-service.ts';
import { describeError, errorText } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { InboundMessage, MessageRef } from '../../core/types.ts';
import type { FrontendDeps } from '../frontend.ts';
import { withAttachments } from '../attachments.ts';
import { handleInbound } from '../handle-inbound.ts';
import { discordAttachments } from './discord-attachments.ts';
import type { DiscordOutbound } from './discord-outbound.ts';
import { encodeMessageKey, snowflakeTime } from './message-ref.ts';
import {
  buttonText,
  commandText,
  InteractionKind,
  isDirect,
  originOf,
  type RawInteraction,
} from './interaction-text.ts';

/** Sends the initial interaction response: the HTTP body (endpoint mode) or the callback route (gateway mode). */
export type Respond = (body: unknown) => Promise<void>;

const EPHEMERAL = MessageFlags.Ephemeral;
const Answer = {
  Pong: InteractionResponseType.Pong,
  Message: InteractionResponseType.ChannelMessageWithSource,
  DeferredMessage: InteractionResponseType.DeferredChannelMessageWithSource,
  DeferredUpdate: InteractionResponseType.DeferredMessageUpdate,
  Autocomplete: InteractionResponseType.ApplicationCommandAutocompleteResult,
} as const;

/** Turns interactions into InboundMessages for `handleInbound`; tracks work in flight so `drain` can wait for it. */
export class InteractionHandler {
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly deps: Pick<FrontendDeps, 'commands' | 'tasks'> & { log: Logger },
    private readonly out: DiscordOutbound,
  ) {}

  /** Handles one interaction; resolves when the reply has been delivered (or given up). Never rejects. */
  handle(i: RawInteraction, respond: Respond): Promise<void> {
    const work: Promise<void> = this.run(i, respond)
      .catch((err: unknown) =>
        this.deps.log.error({ err: errorText(err), interaction: i.id }, 'discord interaction failed'),
      )
      .finally(() => this.inflight.delete(work));
    this.inflight.add(work);
    return work;
  }

  /** Waits for interactions in flight, at most `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inflight]),
      new Promise((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private async run(i: RawInteraction, respond: Respond): Promise<void> {
    switch (i.type) {
      case InteractionKind.Ping:
        return respond({ type: Answer.Pong });
      case InteractionKind.Command:
        return this.onCommand(i, respond);
      case InteractionKind.Component:
        return this.onButton(i, respond);
      case InteractionKind.Autocomplete:
        return respond({ type: Answer.Autocomplete, data: { choices: [] } });
      default:
        return respond({
          type: Answer.Message,
          data: { content: 'This kind of interaction is not supported here.', flags: EPHEMERAL },
        });
    }
  }

  private async onCommand(i: RawInteraction, respond: Respond): Promise<void> {
    const origin = originOf(i);
    if (!origin)
      return respond({
        type: Answer.Message,
        data: {
          content: 'I cannot tell who sent this or where; try again from a channel or a direct message.',
          flags: EPHEMERAL,
        },
      });
    await this.initial(i, respond, Answer.DeferredMessage);
    const files = await discordAttachments(i.data, this.deps.tasks.maxFileBytes);
    // The deferred response ("thinking…") is where a new task's acknowledgement goes: the notifier fills it.
    const placeholder = encodeMessageKey({ token: i.token, createdAt: snowflakeTime(i.id) });
    const msg = withAttachments(
      {
        eventId: i.id,
        origin: { ...origin, progressMessageId: placeholder },
        text: commandText(i.data),
        plainTextIsTask: isDirect(i),
      },
      files,
    );
    const answered = await this.inbound(msg, (r) => this.out.replyOriginal(i, origin, r));
    // No answer (a user who may not use the bot, already told): take the placeholder away rather than leave it thinking.
    if (!answered)
      await this.out
        .dropOriginal(i, origin)
        .catch((err: unknown) =>
          this.deps.log.debug({ err: errorText(err), interaction: i.id }, 'could not remove the deferral'),
        );
  }

  private async onButton(i: RawInteraction, respond: Respond): Promise<void> {
    const origin = originOf(i);
    const text = buttonText(i.data?.custom_id);
    await this.initial(i, respond, Answer.DeferredUpdate);
    if (!origin || !text) return;
    await this.inbound({ eventId: i.id, origin, text, plainTextIsTask: false }, (r) =>
      this.out.replyFollowUp(i, origin, r),
    );
  }

  /** The deferral; a failure is logged and the request still runs (the task must not be lost). */
  private async initial(i: RawInteraction, respond: Respond, type: number): Promise<void> {
    try {
      await respond({ type });
    } catch (err) {
      this.deps.log.warn({ err: errorText(err), interaction: i.id }, 'could not acknowledge the discord interaction');
    }
  }

  /** Runs the grammar and replies; false when there was nothing to answer (a redelivery, or a silent refusal). */
  private async inbound(msg: InboundMessage, reply: (r: CommandReply) => Promise<MessageRef>): Promise<boolean> {
    try {
      return (await handleInbound(this.deps, msg, reply)) !== null;
    } catch (err) {
      this.deps.log.error({ err: errorText(err), eventId: msg.eventId }, 'discord command failed');
      await reply({ kind: 'error', text: describeError(err).message }).catch(() => {});
      return true;
    }
  }
}
