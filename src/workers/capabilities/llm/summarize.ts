// llm.summarize: a title, a Markdown summary and key points of the given text and dependency outputs.
import { z } from 'zod';
import { defineCapability } from '../../define-capability.ts';
import { requireSources, type LlmFamily, sourcesOf } from './llm-step.ts';
import { SUMMARIZE, SummarySchema, taskLine } from './prompts.ts';

/** llm.summarize, run by `family`. */
export const summarizeCapability = (family: LlmFamily) =>
  defineCapability({
    name: 'llm.summarize',
    description:
      'Summarises text or the outputs of earlier steps (pages, documents): title, Markdown summary, key points.',
    input: z.object({
      text: z.string().max(2_000_000).optional().describe('text to summarise (outputs of dependencies are added)'),
      instructions: z.string().max(4000).optional().describe('what to focus on, e.g. "the budget impact"'),
      length: z.enum(['short', 'medium', 'long']).default('medium'),
    }),
    async handler(ctx) {
      const sources = requireSources(ctx, sourcesOf(ctx.input.text, ctx.deps));
      const { parsed, recorder } = await family.run(ctx, {
        template: SUMMARIZE,
        instructions: `${taskLine(ctx.input.instructions, 'Summarise the data.')}\n${SUMMARIZE.length[ctx.input.length]}`,
        sources,
        schema: { name: 'summary', zod: SummarySchema },
        stage: 'summarising',
      });
      const points = parsed.keyPoints.map((p) => `- ${p}`).join('\n');
      const markdown = `## ${parsed.title}\n\n${parsed.summary}${points ? `\n\n**Key points**\n\n${points}` : ''}`;
      return recorder.attach({ markdown, ...parsed });
    },
  });
