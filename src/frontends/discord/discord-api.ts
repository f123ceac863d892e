// The Discord REST calls the frontend makes, through @discordjs/rest, with errors mapped to the hub's kinds.
import { DiscordAPIError, HTTPError, RateLimitError, REST, Routes, type RawFile } from 'discord.js';
import { PermanentError, RateLimitedError } from '../../core/errors.ts';

/** How to reach the Discord API. */
export interface DiscordApiOptions {
  /** REST base, e.g. https://discord.com/api (the version is appended). */
  apiUrl: string;
  botToken: string;
  applicationId: string;
  /** Retries of @discordjs/rest on 5xx and network errors. */
  retries: number;
  timeoutMs: number;
  /** A 429 asking to wait longer than this is thrown as RateLimitedError instead of waited out in place. */
  maxRateLimitWaitMs: number;
}

/** The body of a message post or edit. */
export interface DiscordMessageBody {
  content?: string;
  components?: unknown[];
  allowed_mentions?: { parse: string[] };
  flags?: number;
}

/** The part of a Discord message object the frontend reads. */
export interface PostedMessage {
  id: string;
  channel_id: string;
}

/** A slash command as the API returns or accepts it. */
export type CommandJson = Record<string, unknown>;

/** Thin, typed wrapper over @discordjs/rest for the routes the frontend uses. */
export class DiscordApi {
  readonly rest: REST;
  /** Channels that answered 429, and until when nothing more is sent to them (keeps a channel's messages in order). */
  private readonly holds = new Map<string, number>();

  constructor(private readonly o: DiscordApiOptions) {
    // Every rate limit comes back to `call`, which pauses the channel and waits or hands the wait to the notifier.
    this.rest = new REST({
      api: o.apiUrl,
      version: '10',
      retries: o.retries,
      timeout: o.timeoutMs,
      rejectOnRateLimit: () => true,
    }).setToken(o.botToken);
  }

  /** Answers an interaction (deferral, deferred update, message). The interaction token authorises it. */
  async callback(interactionId: string, token: string, body: unknown): Promise<void> {
    await this.call('the interaction response', undefined, () =>
      this.rest.post(Routes.interactionCallback(interactionId, token), {
        body,
        auth: false,
        query: new URLSearchParams({ with_response: 'false' }),
      }),
    );
  }

  /** Edits the original response of an interaction in `channel` while its token is valid. */
  editOriginal(channel: string, token: string, body: DiscordMessageBody): Promise<PostedMessage> {
    return this.call('the interaction reply', channel, () =>
      this.rest.patch(Routes.webhookMessage(this.o.applicationId, token, '@original'), { body, auth: false }),
    );
  }

  /** Deletes the original response of an interaction (a deferral that gets no answer) while its token is valid. */
  async deleteOriginal(channel: string, token: string): Promise<void> {
    await this.call('the interaction reply', channel, () =>
      this.rest.delete(Routes.webhookMessage(this.o.applicationId, token, '@original'), { auth: false }),
    );
  }

  /** Posts a follow-up message of an interaction in `channel` while its token is valid. */
  followUp(channel: string, token: string, body: DiscordMessageBody, files?: RawFile[]): Promise<PostedMessage> {
    return this.call('a follow-up message', channel, () =>
      this.rest.post(Routes.webhook(this.o.applicationId, token), { body, files, auth: false }),
    );
  }

  /** Posts a message to a channel with the bot token. */
  postChannel(channel: string, body: DiscordMessageBody, files?: RawFile[]): Promise<PostedMessage> {
    return this.call(`a message to channel ${channel}`, channel, () =>
      this.rest.post(Routes.channelMessages(channel), { body, files }),
    );
  }

  /** Edits a message in a channel with the bot token. */
  editChannel(channel: string, messageId: string, body: DiscordMessageBody): Promise<PostedMessage> {
    return this.call(`an edit in channel ${channel}`, channel, () =>
      this.rest.patch(Routes.channelMessage(channel, messageId), { body }),
    );
  }

  /** The application's global slash commands. */
  getCommands(): Promise<CommandJson[]> {
    return this.call('the command list', undefined, () =>
      this.rest.get(Routes.applicationCommands(this.o.applicationId)),
    );
  }

  /** Replaces the application's global slash commands with `commands`. */
  putCommands(commands: CommandJson[]): Promise<CommandJson[]> {
    return this.call('the command registration', undefined, () =>
      this.rest.put(Routes.applicationCommands(this.o.applicationId), { body: commands }),
    );
  }

  /** Stops the REST manager's sweep timers. */
  close(): void {
    this.rest.clearHashSweeper();
    this.rest.clearHandlerSweeper();
  }

  /**
   * Runs one request. A 429 pauses the channel for retry_after: waits up to `maxRateLimitWaitMs` are waited out
   * here and the request repeated; a longer one is thrown as RateLimitedError (the notifier delays the job).
   */
  private async call<T>(what: string, channel: string | undefined, fn: () => Promise<unknown>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.waitForChannel(channel, what);
      try {
        return (await fn()) as T;
      } catch (err) {
        if (!(err instanceof RateLimitError) || attempt >= MAX_RATE_LIMIT_REPEATS) throw mapDiscordError(err, what);
        const waitMs = rateLimitWait(err);
        if (waitMs > this.o.maxRateLimitWaitMs) {
          this.hold(channel, waitMs);
          throw mapDiscordError(err, what);
        }
        this.hold(channel, waitMs);
        if (!channel) await sleep(waitMs);
      }
    }
  }

  private hold(channel: string | undefined, ms: number): void {
    if (channel) this.holds.set(channel, Math.max(this.holds.get(channel) ?? 0, Date.now() + ms));
  }

  private async waitForChannel(channel: string | undefined, what: string): Promise<void> {
    const until = channel ? this.holds.get(channel) : undefined;
    if (!channel || until === undefined) return;
    const waitMs = until - Date.now();
    if (waitMs <= 0) {
      this.holds.delete(channel);
      return;
    }
    if (waitMs > this.o.maxRateLimitWaitMs)
      throw new RateLimitedError(
        `Discord asked to slow down in channel ${channel}; ${what} waits ${Math.ceil(waitMs / 1000)} s.`,
        waitMs,
      );
    await sleep(waitMs);
  }
}

const MAX_RATE_LIMIT_REPEATS = 3;
const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms);
  });
const rateLimitWait = (err: RateLimitError) => Math.max(err.retryAfter, err.timeToReset, 1);

/** Whether an error is Discord saying a webhook/interaction token is unknown or expired. */
export function isInvalidToken(err: unknown): boolean {
  const cause = err instanceof PermanentError ? err.cause : err;
  return cause instanceof DiscordAPIError && (cause.status === 401 || cause.status === 404);
}

/** 429 -> RateLimitedError, any other 4xx -> PermanentError, 5xx and network errors unchanged (retryable). */
export function mapDiscordError(err: unknown, what: string): unknown {
  if (err instanceof RateLimitError) {
    const wait = rateLimitWait(err);
    return new RateLimitedError(`Discord rate limit on ${what}; retry in ${Math.ceil(wait / 1000)} s.`, wait, err);
  }
  const status = err instanceof DiscordAPIError || err instanceof HTTPError ? err.status : undefined;
  if (status === 429) return new RateLimitedError(`Discord rate limit on ${what}.`, 1000, err);
  if (status !== undefined && status >= 400 && status < 500) {
    const code = err instanceof DiscordAPIError ? ` code ${String(err.code)}` : '';
    return new PermanentError(`Discord refused ${what} (${status}${code}: ${(err as Error).message})`, err);
  }
  return err;
}
