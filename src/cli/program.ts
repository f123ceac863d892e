// The `switchboard` command line: process commands and API client commands.
import { Command } from 'commander';
import { registerClientCommands } from './client-commands.ts';
import { registerProcessCommands } from './process-commands.ts';
import { registerScheduleCommands } from './schedule-commands.ts';
import { registerMonitorCommands } from './monitor-commands.ts';

/** Builds the commander program (without parsing). */
export function buildProgram(version: string): Command {
  const program = new Command('switchboard')
    .description('Hand real work to AI-powered workers from wherever you chat.')
    .version(version)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Client commands talk to the hub at SWITCHBOARD_URL (default http://127.0.0.1:$PORT, port 3000)
with the token in SWITCHBOARD_TOKEN (default: the file $DATA_DIR/api-token the local hub writes).`,
    );
  registerProcessCommands(program);
  registerClientCommands(program);
  registerScheduleCommands(program);
  registerMonitorCommands(program);
  return program;
}
