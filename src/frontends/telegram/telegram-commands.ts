// The bot's command menu (the "/" button in Telegram), registered with setMyCommands only when it changed.
import type { Api } from 'grammy';
import type { BotCommand } from 'grammy/types';
import { CHAT_COMMANDS } from '../../core/commands/parse-command.ts';
import { errorText } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';

/** The menu: every command of the shared grammar with its one-line summary. */
export const TELEGRAM_COMMANDS: BotCommand[] = CHAT_COMMANDS.map((c) => ({ command: c.word, description: c.summary }));

/** Sets the menu unless Telegram already has exactly it; returns whether it wrote it. Failures are logged, not thrown. */
export async function syncTelegramCommands(
  api: Pick<Api, 'getMyCommands' | 'setMyCommands'>,
  log: Logger,
  desired: BotCommand[] = TELEGRAM_COMMANDS,
): Promise<boolean> {
  try {
    const existing = await api.getMyCommands();
    const same =
      existing.length === desired.length &&
      existing.every((c, i) => c.command === desired[i]!.command && c.description === desired[i]!.description);
    if (same) {
      log.debug('telegram command menu is up to date');
      return false;
    }
    await api.setMyCommands(desired);
    log.info({ commands: desired.length }, 'telegram command menu registered');
    return true;
  } catch (err) {
    log.warn({ err: errorText(err) }, 'could not register the telegram command menu; the existing one stays');
    return false;
  }
}
