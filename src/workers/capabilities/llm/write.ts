// llm.write: composes a deliverable (talking points, report, email, …) in Markdown from its inputs, streamed.
import { z } from 'zod';
import { defineCapability } from '../../define-capability.ts';
import { type LlmFamily, sourcesOf } from './llm-step.ts';
import { taskLine, WRITE } from './prompts.ts';

/** llm.write, run by `family`. */
export const writeCapability = (family: LlmFamily) =>
  defineCapability({
    name: 'llm.write',
    description:
      'Writes a deliverable in Markdown (talking points, report, email, memo, blog post) from earlier outputs.',
    input: z.object({
      kind: z.string().min(1).max(100).default('report').describe('talking points, report, email, memo, blog post, …'),
      instructions: z.string().max(4000).optional().describe('what to write about and what it is for'),
      audience: z.string().max(500).optional(),
      tone: z.string().max(200).optional(),
      text: z.string().max(2_000_000).optional().describe('material to write from (outputs of dependencies are added)'),
    }),
    async handler(ctx) {
      const { kind, audience, tone } = ctx.input;
      const lines = [
        taskLine(ctx.input.instructions, `Write ${kind} from the data.`),
        WRITE.kinds[kind.toLowerCase()] ?? `Write a ${kind}.`,
        audience ? `Audience: ${audience}` : '',
        tone ? `Tone: ${tone}` : '',
      ].filter(Boolean);
      const { text, recorder } = await family.run(ctx, {
        template: WRITE,
        instructions: lines.join('\n'),
        sources: sourcesOf(ctx.input.text, ctx.deps),
        stage: 'writing',
      });
      const markdown = text.trim();
      const title =
        /^#+\s*(.+)$/m.exec(markdown)?.[1]?.trim() ?? /^Subject:\s*(.+)$/im.exec(markdown)?.[1]?.trim() ?? kind;
      return recorder.attach({ markdown, kind, title, words: markdown.split(/\s+/).filter(Boolean).length });
    },
  });
