// The `switchboard` command. Client commands never load the hub; process commands import src/main.ts on demand.
import { existsSync } from 'node:fs';
import { buildProgram } from './cli/program.ts';
import { VERSION } from './version.ts';

// Variables from ./.env when present; the real environment wins over the file.
if (existsSync('.env')) process.loadEnvFile('.env');

// `switchboard tasks list | head -3`: the reader went away, which is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

await buildProgram(VERSION).parseAsync(process.argv);
