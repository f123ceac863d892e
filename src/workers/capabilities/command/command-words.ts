// Turns `command.run` input into an argv from the allow-list: words only, never a shell.
import { parse } from 'shell-quote';
import type { CommandEntry } from '../../../core/config.ts';

/** A command refused before anything ran; retrying cannot help. */
export class CommandRefused extends Error {
  override name = 'CommandRefused';
}

/** The words of the text form ("<entry> <args…>"); refuses operators, globs, substitutions and variables. */
export function parseWords(text: string): string[] {
  if (/[`$]/.test(text))
    throw new CommandRefused(
      'Command substitutions and variables ($…, `…`) are not allowed: arguments are plain words (pass one with $ in "args").',
    );
  const out: string[] = [];
  for (const w of parse(text)) {
    if (typeof w !== 'string')
      throw new CommandRefused(
        `"${'op' in w ? w.op : 'comment'}" is not allowed: commands run without a shell (no pipes, redirects, globs or chaining).`,
      );
    out.push(w);
  }
  return out;
}

/** The program, its arguments and the entry they run under; throws CommandRefused when not allowed. */
export function resolveCommand(
  allowlist: Record<string, CommandEntry>,
  name: string,
  extra: string[],
): { entry: CommandEntry; argv: string[] } {
  const entry = Object.hasOwn(allowlist, name) ? allowlist[name] : undefined;
  if (!entry)
    throw new CommandRefused(
      `"${name}" is not an allowed command (COMMAND_ALLOWLIST); allowed: ${Object.keys(allowlist).join(', ') || 'none'}.`,
    );
  if (extra.length > 0) {
    if (entry.allowArgs === undefined) throw new CommandRefused(`The command "${name}" takes no extra arguments.`);
    if (entry.allowArgs !== true) {
      const re = new RegExp(`^(?:${entry.allowArgs})$`);
      const bad = extra.find((a) => !re.test(a));
      if (bad !== undefined)
        throw new CommandRefused(
          `The argument "${bad.slice(0, 100)}" is not allowed for "${name}" (must match ${entry.allowArgs}).`,
        );
    }
  }
  return { entry, argv: [entry.argv0, ...(entry.args ?? []), ...extra] };
}
