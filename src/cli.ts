// The `switchboard` command. Client commands never load the hub; process commands import src/main.ts on demand.
import { readFileSync } from 'node:fs';
import { buildProgram } from './cli/program.ts';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

await buildProgram(version).parseAsync(process.argv);
