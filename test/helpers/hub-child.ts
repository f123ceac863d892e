// A hub as a separate process (for crash tests): the test env's schema and Redis prefix, no workers, no chat frontends.
// Run with `node --experimental-transform-types test/helpers/hub-child.ts`; prints `ready <url>` once started.
import { loadConfig } from '../../src/core/config.ts';
import { createDatabase } from '../../src/core/store/create-database.ts';
import { startHub } from '../../src/main.ts';

const config = loadConfig(process.env);
const database = await createDatabase({
  url: process.env.TEST_DATABASE_URL,
  schema: process.env.HUB_SCHEMA,
  poolSize: 5,
});
const hub = await startHub({ config, database, embeddedWorkers: false, frontendFactories: [] });
process.stdout.write(`ready ${hub.web.url()}\n`);
