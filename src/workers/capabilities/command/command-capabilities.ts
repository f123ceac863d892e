// command.run: dispatches an allow-listed command-line tool as a task step, with live progress and captured output.
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import type { Config } from '../../../core/config.ts';
import { type Capability, defineCapability } from '../../define-capability.ts';
import { CommandRefused, parseWords, resolveCommand } from './command-words.ts';
import { runProcess } from './run-process.ts';

/** The command.* family; nothing when COMMAND_ALLOWLIST is empty (not advertised). */
export function commandCapabilities(config: Config): Capability[] {
  const allowlist = config.COMMAND_ALLOWLIST;
  const names = Object.keys(allowlist);
  if (names.length === 0) return [];
  const resolveInput = (input: {
    command?: string | undefined;
    args?: string[] | undefined;
    text?: string | undefined;
  }) => {
    try {
      const [name = '', ...extra] = input.command
        ? [input.command, ...(input.args ?? [])]
        : parseWords(input.text ?? '');
      return { name, ...resolveCommand(allowlist, name, extra) };
    } catch (err) {
      throw err instanceof CommandRefused ? new UnrecoverableError(err.message) : err;
    }
  };
  const run = defineCapability({
    name: 'command.run',
    description: `Runs an allow-listed command-line tool (${names.join(', ').slice(0, 200)}) with word arguments, no shell; returns exit code and output.`,
    input: z
      .object({
        command: z
          .string()
          .max(200)
          .optional()
          .describe(`the allow-list entry: ${names.join(', ').slice(0, 300)}`),
        args: z.array(z.string().max(4000)).max(200).optional().describe('extra arguments, as words'),
        text: z.string().max(20_000).optional().describe('text form: "<entry> <args…>"'),
      })
      .refine(
        (i) => i.command || i.text?.trim(),
        'give "command" (an allow-list entry) or the text form "<entry> <args…>"',
      ),
    handler: async (ctx) => {
      const { name, entry, argv } = resolveInput(ctx.input);
      const ownDir = !entry.cwd;
      const cwd =
        entry.cwd ??
        join(config.COMMAND_WORK_DIR ?? join(tmpdir(), 'switchboard-commands'), ctx.job.taskId, ctx.job.subtaskId);
      if (ownDir) await mkdir(cwd, { recursive: true });
      ctx.progress.stage(`running ${name}`);
      try {
        const r = await runProcess({
          argv,
          cwd,
          env: { ...(entry.env ?? {}) },
          timeoutMs: entry.timeoutMs ?? 600_000,
          killGraceMs: config.COMMAND_KILL_GRACE_MS,
          maxOutputBytes: config.COMMAND_OUTPUT_BYTES,
          signal: ctx.signal,
          progress: ctx.progress,
          onSpawn: (pid) => ctx.log.info({ pid, command: name }, 'command started'),
        });
        if (r.aborted) throw ctx.signal.reason ?? new Error('cancelled');
        const tail = r.stderr.trim().slice(-500) || r.stdout.trim().slice(-300);
        if (r.timedOut)
          throw new Error(
            `The command "${name}" timed out after ${entry.timeoutMs ?? 600_000} ms and was stopped. ${tail}`,
          );
        if (r.exitCode !== 0) {
          const msg = `The command "${name}" exited with ${r.exitCode === null ? `signal ${r.signal}` : `code ${r.exitCode}`}: ${tail}`;
          if (r.exitCode !== null && entry.permanentExitCodes?.includes(r.exitCode)) throw new UnrecoverableError(msg);
          throw new Error(msg);
        }
        return {
          status: 'succeeded',
          command: name,
          exitCode: r.exitCode,
          stdout: r.stdout,
          stderr: r.stderr,
          durationMs: r.durationMs,
        };
      } finally {
        if (ownDir) await rm(cwd, { recursive: true, force: true }).catch(() => {});
      }
    },
  });
  return [run];
}
