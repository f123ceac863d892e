// Which chat frontends run: each one whose credentials are configured. Several run side by side. A platform's SDK
// is imported only when its frontend is enabled (discord.js, @slack/bolt, twilio and grammy weigh ~80 MB together).
import type { Config } from '../core/config.ts';
import type { FrontendFactory } from './frontend.ts';

/** A chat platform: whether the configuration enables it, and how to load its factory. */
interface ChatPlatform {
  enabled(config: Config): boolean;
  load(): Promise<FrontendFactory>;
}

const PLATFORMS: readonly ChatPlatform[] = [
  {
    enabled: (c) => Boolean(c.TELEGRAM_BOT_TOKEN),
    load: async () => (await import('./telegram/index.ts')).createTelegramFrontend,
  },
  {
    enabled: (c) => Boolean(c.DISCORD_BOT_TOKEN && c.DISCORD_APPLICATION_ID),
    load: async () => (await import('./discord/index.ts')).createDiscordFrontend,
  },
  // With neither SLACK_SIGNING_SECRET nor SLACK_APP_TOKEN the factory stops start-up naming them, rather than Slack
  // being silently off.
  {
    enabled: (c) => Boolean(c.SLACK_BOT_TOKEN),
    load: async () => (await import('./slack/index.ts')).createSlackFrontend,
  },
  {
    enabled: (c) => Boolean(c.TWILIO_ACCOUNT_SID || c.TWILIO_AUTH_TOKEN || c.TWILIO_FROM),
    load: async () => (await import('./sms/index.ts')).createSmsFrontend,
  },
];

/** Factories of the chat frontends the configuration enables; only their SDKs are loaded. */
export async function chatFrontendFactories(config: Config): Promise<FrontendFactory[]> {
  return Promise.all(PLATFORMS.filter((p) => p.enabled(config)).map((p) => p.load()));
}
