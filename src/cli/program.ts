// The `switchboard` command line: process commands and API client commands.
import { Command } from 'commander';
import { registerAccessCommands } from './access-commands.ts';
import { registerClientCommands } from './client-commands.ts';
import { registerProcessCommands } from './process-commands.ts';
import { registerScheduleCommands } from './schedule-commands.ts';
import { registerMonitorCommands } from './monitor-commands.ts';

/** Builds the commander program (without parsing). */
export function buildProgram(version: string): Command {
  const program = new Command('switchboard')
    .description('Hand real work to AI-powered workers from wherever you chat.')
    .version(version, '-v, --version', 'print the version')
    .option('--url <url>', 'the hub to talk to (overrides SWITCHBOARD_URL)')
    .option('--token <token>', 'API token (overrides SWITCHBOARD_TOKEN)')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Client commands talk to the hub at --url / SWITCHBOARD_URL (default http://127.0.0.1:$PORT, port 3000)
with the token in --token / SWITCHBOARD_TOKEN (default: the file $DATA_DIR/api-token the local hub writes).
Variables are also read from a .env file in the current folder when present.`,
    );
  // The flags win over the environment; the API client reads the environment.
  program.hook('preAction', () => {
    const { url, token } = program.opts<{ url?: string; token?: string }>();
    if (url) process.env.SWITCHBOARD_URL = url;
    if (token) process.env.SWITCHBOARD_TOKEN = token;
  });
  registerProcessCommands(program);
  registerClientCommands(program);
  registerScheduleCommands(program);
  registerMonitorCommands(program);
  registerAccessCommands(program);
  return program;
}
