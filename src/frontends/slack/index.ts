// The Slack frontend (@slack/bolt): HTTP events on the hub's server, or Socket Mode; threads, buttons, edits.
import { App, type ReceiverEvent } from '@slack/bolt';
import { ConfigError, errorText } from '../../core/errors.ts';
import type { ConversationRef, MessageRef } from '../../core/types.ts';
import type { FrontendDeps, FrontendLimits, IFrontend, OutboundMessage } from '../frontend.ts';
import { boltLevel, boltLogger } from './bolt-logger.ts';
import { FastifyReceiver } from './fastify-receiver.ts';
import { isAuthError } from './slack-errors.ts';
import { slackFileFetcher, uploadSlackFiles } from './slack-attachments.ts';
import { registerSlackListeners } from './slack-inbound.ts';
import { SlackOutbound } from './slack-outbound.ts';
import { SLACK_SECTION_LIMIT } from './slack-text.ts';

/** The Slack frontend, with a hook tests and shutdown use to wait for inbound work in flight. */
export interface SlackFrontend extends IFrontend {
  readonly name: 'slack';
  /** `http` (events at POST /webhooks/slack) or `socket` (Socket Mode). */
  readonly mode: 'http' | 'socket';
  /** Resolves once no Slack request is being processed. */
  idle(): Promise<void>;
}

/** Tuning knobs; the defaults suit production. */
export interface SlackFrontendOptions {
  /** Route of Slack's Events API, slash commands and interactivity (default /webhooks/slack). */
  path?: string;
  /** How long a request may wait for its ack before it is answered empty (default 2500 ms). */
  ackTimeoutMs?: number;
  /** Timeout of one Web API call (default 10 s). */
  apiTimeoutMs?: number;
}

/** Default route of every Slack request in HTTP mode. */
export const SLACK_WEBHOOK_PATH = '/webhooks/slack';

const MAX_RECONNECT_MS = 60_000;

/** Counts promises in flight and tells when none is left. */
class InFlight {
  private count = 0;
  private waiters: Array<() => void> = [];

  track<T>(p: Promise<T>): Promise<T> {
    this.count++;
    return p.finally(() => {
      if (--this.count === 0) for (const w of this.waiters.splice(0)) w();
    });
  }

  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** A Bolt app whose event processing (listeners included) is tracked, whichever receiver feeds it. */
class TrackedApp extends App {
  readonly inFlight = new InFlight();

  override processEvent(event: ReceiverEvent): Promise<void> {
    return this.inFlight.track(super.processEvent(event));
  }
}

/**
 * Builds the Slack frontend from SLACK_BOT_TOKEN plus SLACK_SIGNING_SECRET (HTTP: the route is added to the hub's
 * server here, before it listens) or SLACK_APP_TOKEN (Socket Mode, preferred when both are set).
 */
export function createSlackFrontend(deps: FrontendDeps, opts: SlackFrontendOptions = {}): SlackFrontend {
  const { config } = deps;
  const token = config.SLACK_BOT_TOKEN;
  if (!token)
    throw new ConfigError(
      'SLACK_BOT_TOKEN is not set: give the bot token (xoxb-...) from your Slack app\'s "OAuth & Permissions" page.',
    );
  const appToken = config.SLACK_APP_TOKEN;
  const signingSecret = config.SLACK_SIGNING_SECRET;
  if (!appToken && !signingSecret) {
    throw new ConfigError(
      'Slack needs SLACK_SIGNING_SECRET (HTTP events at POST /webhooks/slack) or SLACK_APP_TOKEN (xapp-..., Socket Mode): set one of them.',
    );
  }
  const mode = appToken ? 'socket' : 'http';
  const log = deps.log.child({ frontend: 'slack' });
  let ready = false;
  const receiver =
    mode === 'http'
      ? new FastifyReceiver({
          signingSecret: signingSecret!,
          log,
          isReady: () => ready,
          ackTimeoutMs: opts.ackTimeoutMs,
        })
      : undefined;
  const app = new TrackedApp({
    token,
    logger: boltLogger(log),
    logLevel: boltLevel(log.level),
    deferInitialization: true,
    clientOptions: {
      slackApiUrl: config.SLACK_API_URL,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: opts.apiTimeoutMs ?? 10_000,
    },
    ...(receiver ? { receiver } : { socketMode: true, appToken }),
  });
  app.error(async (err) => {
    log.warn({ err: errorText(err) }, 'Slack listener failed');
  });
  receiver?.register(deps.http, opts.path ?? SLACK_WEBHOOK_PATH);
  const out = new SlackOutbound(app.client, deps.tasks, log);
  registerSlackListeners(app, deps, out, slackFileFetcher(token, config.MAX_ARTIFACT_BYTES));

  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let attempts = 0;
  const connect = async () => {
    await app.init();
    if (mode === 'socket') await app.start();
    ready = true;
    attempts = 0;
    log.info({ mode }, 'Slack frontend connected');
  };
  const retryLater = (err: unknown) => {
    const delay = Math.min(MAX_RECONNECT_MS, 1000 * 2 ** attempts++);
    log.warn({ err: errorText(err), retryInMs: delay }, 'Slack is not reachable; retrying in the background');
    retryTimer = setTimeout(() => {
      if (!stopped) connect().catch(retryLater);
    }, delay);
    retryTimer.unref();
  };

  const limits: FrontendLimits = { maxLength: SLACK_SECTION_LIMIT, canEdit: true, threads: true, markup: 'mrkdwn' };
  return {
    name: 'slack',
    mode,
    limits,
    idle: () => app.inFlight.idle(),
    async start() {
      stopped = false;
      try {
        await connect();
      } catch (err) {
        if (isAuthError(err))
          throw new ConfigError(
            `Slack refused SLACK_BOT_TOKEN or SLACK_APP_TOKEN (${(err as { data?: { error?: string } }).data?.error}): copy the tokens again from your Slack app's settings.`,
            err,
          );
        retryLater(err);
      }
    },
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      ready = false;
      if (mode === 'socket')
        await app
          .stop()
          .catch((err: unknown) => log.warn({ err: errorText(err) }, 'Socket Mode did not close cleanly'));
      await Promise.race([app.inFlight.idle(), new Promise((r) => setTimeout(r, 5000).unref())]);
    },
    send: async (ref: ConversationRef, message: OutboundMessage): Promise<MessageRef> => {
      const sent = await out.send(ref, message);
      await uploadSlackFiles(app.client, sent, message.files);
      return sent;
    },
    edit: (ref: MessageRef, message: OutboundMessage): Promise<void> => out.edit(ref, message),
  };
}
