// code.analyze: inventory of a code base and where the request's topic shows up in it, read-only.
import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import type { Config } from '../../../core/config.ts';
import { type Capability, defineCapability } from '../../define-capability.ts';
import { analyzeTree } from './code-inventory.ts';
import { openSource, SourceRefused } from './code-source.ts';

/** The code.* family; nothing unless CODE_ALLOW_HOSTS or CODE_ROOTS says where code may come from. */
export function codeCapabilities(config: Config): Capability[] {
  if (config.CODE_ALLOW_HOSTS.length === 0 && config.CODE_ROOTS.length === 0) return [];
  const analyze = defineCapability({
    name: 'code.analyze',
    description:
      'Inventories a git repository or folder (languages, files, lines) and finds where a topic (e.g. logging) shows up, with file:line references.',
    input: z
      .object({
        source: z.string().max(2000).optional().describe('https git URL, file:// URL or absolute folder path'),
        topic: z.string().max(2000).optional().describe('what to look for, e.g. "the logging system"'),
        text: z.string().max(4000).optional().describe('text form: "<source> <topic…>"'),
      })
      .refine((i) => i.source || i.text?.trim(), 'give "source" (a git URL or folder)'),
    handler: async (ctx) => {
      const [first = '', ...rest] = (ctx.input.text ?? '').trim().split(/\s+/);
      const source = ctx.input.source ?? first;
      const topic = ctx.input.topic ?? rest.join(' ');
      ctx.progress.stage('fetching');
      const src = await openSource(config, source, ctx.job, ctx.signal).catch((err: unknown) => {
        throw err instanceof SourceRefused ? new UnrecoverableError(err.message) : err;
      });
      try {
        ctx.progress.stage('analysing');
        const found = await analyzeTree(src.dir, topic, { maxFiles: 20_000, maxMatches: 200, signal: ctx.signal });
        const top = found.inventory.languages
          .slice(0, 3)
          .map((l) => `${l.language} ${l.files} files/${l.lines} lines`)
          .join(', ');
        const refs = found.matches.slice(0, 10).map((m) => `${m.file}:${m.line}`);
        return {
          source,
          kind: src.kind,
          ...found,
          text: `${found.inventory.files} files, ${found.inventory.lines} lines (${top}). ${found.matches.length} place(s) match "${found.topic}"${refs.length ? `: ${refs.join(', ')}` : ''}.`,
        };
      } finally {
        await src.dispose();
      }
    },
  });
  return [analyze];
}
