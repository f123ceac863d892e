// The Discord frontend: slash commands and buttons over the gateway (discord.js) or the HTTP interactions endpoint.
import { Client, Events, GatewayDispatchEvents } from 'discord.js';
import { ConfigError, errorText } from '../../core/errors.ts';
import type { FrontendDeps, FrontendLimits, IFrontend } from '../frontend.ts';
import { DiscordApi } from './discord-api.ts';
import { DISCORD_MAX_LENGTH, DiscordOutbound } from './discord-outbound.ts';
import { registerInteractionEndpoint } from './interaction-endpoint.ts';
import { InteractionHandler } from './interaction-handler.ts';
import { isRawInteraction } from './interaction-text.ts';
import { syncSlashCommands } from './slash-commands.ts';

/** Tuning of the Discord frontend (defaults suit production; tests shorten them). */
export interface DiscordFrontendOptions {
  /** How long after an interaction its token is used to edit the reply (default 14 min: Discord's 15 minus a margin). */
  interactionTokenTtlMs?: number;
  /** @discordjs/rest retries on 5xx and network errors (default 3). */
  restRetries?: number;
  /** Timeout of one REST request (default 15 s). */
  restTimeoutMs?: number;
  /** A 429 asking for a longer wait is handed to the notifier as RateLimitedError; shorter ones are waited out (default 5 s). */
  maxRateLimitWaitMs?: number;
  /** Path of the HTTP interactions endpoint (default /webhooks/discord). */
  webhookPath?: string;
}

/** Path of the interactions endpoint on the hub's server in `DISCORD_MODE=http`. */
export const DISCORD_WEBHOOK_PATH = '/webhooks/discord';

const LIMITS: FrontendLimits = { maxLength: DISCORD_MAX_LENGTH, canEdit: true, threads: true, markup: 'markdown' };

/** Builds the Discord frontend from `DISCORD_*` settings; in http mode its endpoint is added to the hub's server here. */
export function createDiscordFrontend(deps: FrontendDeps, opts: DiscordFrontendOptions = {}): IFrontend {
  const c = deps.config;
  const token = c.DISCORD_BOT_TOKEN;
  const applicationId = c.DISCORD_APPLICATION_ID;
  if (!token || !applicationId)
    throw new ConfigError(
      'The Discord frontend needs DISCORD_BOT_TOKEN and DISCORD_APPLICATION_ID (Discord developer portal: Bot -> Token, General Information -> Application ID).',
    );
  if (c.DISCORD_MODE === 'http' && !c.DISCORD_PUBLIC_KEY)
    throw new ConfigError(
      'DISCORD_MODE=http needs DISCORD_PUBLIC_KEY (Discord developer portal: General Information -> Public Key) to verify interaction signatures.',
    );
  const log = deps.log.child({ frontend: 'discord' });
  const retries = opts.restRetries ?? 3;
  const timeoutMs = opts.restTimeoutMs ?? 15_000;
  const api = new DiscordApi({
    apiUrl: c.DISCORD_API_URL,
    botToken: token,
    applicationId,
    retries,
    timeoutMs,
    maxRateLimitWaitMs: opts.maxRateLimitWaitMs ?? 5000,
  });
  const out = new DiscordOutbound(api, opts.interactionTokenTtlMs ?? 14 * 60_000);
  const handler = new InteractionHandler({ commands: deps.commands, tasks: deps.tasks, log }, out);

  if (c.DISCORD_MODE === 'http') {
    registerInteractionEndpoint(deps.http, {
      path: opts.webhookPath ?? DISCORD_WEBHOOK_PATH,
      publicKeyHex: c.DISCORD_PUBLIC_KEY!,
      log,
      onInteraction: (i, respond) => handler.handle(i, respond),
    });
  }

  let client: Client | undefined;
  const connectGateway = async (): Promise<void> => {
    const cl = new Client({ intents: [], rest: { api: c.DISCORD_API_URL, retries, timeout: timeoutMs } });
    cl.on(Events.Error, (err) => log.warn({ err: errorText(err) }, 'discord gateway error'));
    cl.on(Events.ShardDisconnect, (ev) => log.warn({ code: ev.code }, 'discord gateway disconnected for good'));
    cl.ws.on(GatewayDispatchEvents.InteractionCreate, (data: unknown) => {
      if (!isRawInteraction(data)) return;
      void handler.handle(data, (body) => api.callback(data.id, data.token, body));
    });
    client = cl;
    try {
      await cl.login(token);
    } catch (err) {
      client = undefined;
      await cl.destroy().catch(() => {});
      throw err;
    }
    log.info('discord gateway connected');
  };

  return {
    name: 'discord',
    limits: LIMITS,
    async start() {
      await syncSlashCommands(api, log);
      if (c.DISCORD_MODE === 'gateway' && !client) await connectGateway();
    },
    async stop() {
      const cl = client;
      client = undefined;
      await cl?.destroy();
      await handler.drain(5000);
      api.close();
    },
    send: (ref, message) => out.send(ref, message),
    edit: (ref, message) => out.edit(ref, message),
  };
}
