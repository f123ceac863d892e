// The hub of the fault suite as its own process: configured from the environment like `switchboard hub`, with the
// Telegram frontend on the fast test settings (no production pacing, short long polls) so hundreds of tasks finish in
// seconds. Run with `node --experimental-transform-types test/faults/fault-hub.ts`; prints `ready <url>` once started.
import { loadConfig } from '../../src/core/config.ts';
import { startHub } from '../../src/main.ts';
import { telegramFactory } from '../fakes/telegram-driver.ts';

const hub = await startHub({
  config: loadConfig(process.env),
  embeddedWorkers: false,
  frontendFactories: [telegramFactory],
});
process.stdout.write(`ready ${hub.web.url()}\n`);
process.once('SIGTERM', () => void hub.stop().then(() => process.exit(0)));
