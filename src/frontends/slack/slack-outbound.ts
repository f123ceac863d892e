// Posting and editing Slack messages with chat.postMessage / chat.update, errors mapped for the notifier.
import type { App } from '@slack/bolt';
import { PermanentError, RateLimitedError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { TaskService } from '../../core/tasks/task-service.ts';
import type { ConversationRef, MessageRef } from '../../core/types.ts';
import type { OutboundMessage } from '../frontend.ts';
import { mapSlackError } from './slack-errors.ts';
import { fitForSlack, renderMessage, splitForSlack } from './slack-text.ts';

type WebClient = App['client'];

const REMEMBER_THREAD_MS = 10 * 60_000;
const RESPONDER_MS = 60_000;

/** Delivers messages to Slack channels and threads; after a 429 it leaves that channel alone for Retry-After. */
export class SlackOutbound {
  private readonly blockedUntil = new Map<string, number>();
  private readonly pendingThreads = new Map<string, Promise<string | undefined>>();
  private readonly responders = new Map<string, { respond: (text: string) => Promise<unknown>; at: number }>();

  constructor(
    private readonly client: WebClient,
    private readonly tasks: Pick<TaskService, 'findVisible'>,
    private readonly log: Logger,
  ) {}

  /**
   * Delivers a message to the origin conversation: in its thread, or, for a request without one (a slash
   * command), in the thread of the task's progress message once that exists. Long text becomes several
   * messages of at most 3,000 characters; the buttons go on the last. Returns the first message.
   */
  async send(ref: ConversationRef, message: OutboundMessage): Promise<MessageRef> {
    const thread = ref.threadId ?? (await this.progressThread(ref, message.taskId));
    const posting = this.post(ref.conversationId, thread, message);
    // The acknowledgement of a request without a thread (a slash command) starts the thread the rest goes in.
    if (message.kind === 'ack' && !thread) this.rememberThread(message.taskId, posting);
    try {
      return await posting;
    } catch (err) {
      if (message.kind === 'ack' && err instanceof PermanentError) await this.tellPrivately(ref, message, err);
      throw err;
    }
  }

  /** Keeps a slash command's private answer for a minute, for an acknowledgement the channel refuses. */
  rememberResponder(origin: ConversationRef, respond: (text: string) => Promise<unknown>): void {
    const now = Date.now();
    for (const [key, r] of this.responders) if (r.at < now - RESPONDER_MS) this.responders.delete(key);
    this.responders.set(`${origin.conversationId}:${origin.userId}`, { respond, at: now });
  }

  /** Tells the person who asked, privately, why the acknowledgement is not in the channel and how to fix it. */
  private async tellPrivately(ref: ConversationRef, message: OutboundMessage, err: PermanentError): Promise<void> {
    const key = `${ref.conversationId}:${ref.userId}`;
    const responder = this.responders.get(key);
    if (!responder) return;
    this.responders.delete(key);
    const why = err.message.replace(/^Slack [\w.]+ failed: /, '');
    await responder
      .respond(
        `${message.text}\nI cannot post in this channel (${why}); invite me with /invite to get progress and the result here.`,
      )
      .catch((e: unknown) => this.log.warn({ err: e }, 'could not answer the slash command privately'));
  }

  /** Posts `message` in `channel` (in thread `threadTs` when given). */
  async post(channel: string, threadTs: string | undefined, message: OutboundMessage): Promise<MessageRef> {
    const parts = splitForSlack(message.text);
    let first: MessageRef | undefined;
    for (const [i, part] of parts.entries()) {
      const { text, blocks } = renderMessage(
        part,
        message.taskId,
        i === parts.length - 1 ? message.actions : undefined,
      );
      const res = await this.call(channel, 'chat.postMessage', () =>
        this.client.chat.postMessage({
          channel,
          text,
          blocks,
          unfurl_links: false,
          unfurl_media: false,
          ...(threadTs ? { thread_ts: threadTs } : {}),
        }),
      );
      const ts = res.ts;
      if (!ts) throw new Error('Slack chat.postMessage answered without a message ts');
      first ??= { platform: 'slack', conversationId: channel, threadId: threadTs, messageId: ts };
    }
    return first!;
  }

  /** Replaces a message's text and buttons (buttons are removed when `message.actions` is empty). */
  async edit(ref: MessageRef, message: OutboundMessage): Promise<void> {
    const { text, blocks } = renderMessage(fitForSlack(message.text), message.taskId, message.actions);
    await this.call(ref.conversationId, 'chat.update', () =>
      this.client.chat.update({ channel: ref.conversationId, ts: ref.messageId, text, blocks }),
    );
  }

  /** Runs one Web API call for a channel, refusing it (RateLimitedError) while the channel's Retry-After runs. */
  private async call<T>(channel: string, method: string, fn: () => Promise<T>): Promise<T> {
    const waitMs = (this.blockedUntil.get(channel) ?? 0) - Date.now();
    if (waitMs > 0) throw new RateLimitedError(`Slack asked to wait before ${method} in ${channel}`, waitMs);
    this.blockedUntil.delete(channel);
    try {
      return await fn();
    } catch (err) {
      const mapped = mapSlackError(err, method);
      if (mapped instanceof RateLimitedError) this.blockedUntil.set(channel, Date.now() + mapped.retryAfterMs);
      throw mapped;
    }
  }

  /**
   * Remembers the message a task's later messages thread under while it is posted and attached, so a result that
   * arrives before the progress message is stored still lands in its thread.
   */
  private rememberThread(taskId: string, posting: Promise<MessageRef | void>): void {
    this.pendingThreads.set(
      taskId,
      posting.then(
        (ref) => ref?.messageId,
        () => undefined,
      ),
    );
    setTimeout(() => this.pendingThreads.delete(taskId), REMEMBER_THREAD_MS).unref();
  }

  /** The ts of the task's progress message in this channel, to thread on; undefined when there is none yet. */
  private async progressThread(ref: ConversationRef, taskId: string): Promise<string | undefined> {
    if (!taskId) return undefined;
    const pending = await this.pendingThreads.get(taskId);
    if (pending) return pending;
    try {
      const task = await this.tasks.findVisible(taskId, { userId: ref.userId });
      const progress = task.progress_message as MessageRef | null;
      return progress?.platform === 'slack' && progress.conversationId === ref.conversationId
        ? progress.messageId
        : undefined;
    } catch (err) {
      this.log.debug({ err, taskId }, 'no progress message to thread on');
      return undefined;
    }
  }
}
