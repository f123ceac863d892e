// Which chat frontends run: each one whose credentials are configured. Several run side by side.
import type { Config } from '../core/config.ts';
import { createDiscordFrontend } from './discord/index.ts';
import type { FrontendFactory } from './frontend.ts';
import { createSlackFrontend } from './slack/index.ts';
import { createSmsFrontend } from './sms/index.ts';
import { createTelegramFrontend } from './telegram/index.ts';

/** Factories of the chat frontends enabled by the configuration. */
export function chatFrontendFactories(config: Config): FrontendFactory[] {
  const factories: FrontendFactory[] = [];
  if (config.TELEGRAM_BOT_TOKEN) factories.push((deps) => createTelegramFrontend(deps));
  if (config.DISCORD_BOT_TOKEN && config.DISCORD_APPLICATION_ID) factories.push((deps) => createDiscordFrontend(deps));
  // With neither SLACK_SIGNING_SECRET nor SLACK_APP_TOKEN the factory stops start-up naming them, rather than Slack being silently off.
  if (config.SLACK_BOT_TOKEN) factories.push((deps) => createSlackFrontend(deps));
  if (config.TWILIO_ACCOUNT_SID || config.TWILIO_AUTH_TOKEN || config.TWILIO_FROM)
    factories.push((deps) => createSmsFrontend(deps));
  return factories;
}
