// llm.extract: entities (people, organisations, locations, dates, amounts, other) with context.
import { z } from 'zod';
import { defineCapability } from '../../define-capability.ts';
import { requireSources, type LlmFamily, sourcesOf } from './llm-step.ts';
import { EntitiesSchema, EXTRACT, taskLine } from './prompts.ts';

const HEADINGS: Record<string, string> = {
  people: 'People',
  orgs: 'Organisations',
  locations: 'Locations',
  dates: 'Dates',
  amounts: 'Amounts',
};

/** llm.extract, run by `family`. */
export const extractCapability = (family: LlmFamily) =>
  defineCapability({
    name: 'llm.extract',
    description: 'Extracts entities from text or earlier outputs: people, orgs, locations, dates, amounts, other.',
    input: z.object({
      text: z.string().max(2_000_000).optional().describe('text to extract from (outputs of dependencies are added)'),
      instructions: z.string().max(4000).optional().describe('what to look for, e.g. "only parties to the contract"'),
    }),
    async handler(ctx) {
      const sources = requireSources(ctx, sourcesOf(ctx.input.text, ctx.deps));
      const { parsed, recorder } = await family.run(ctx, {
        template: EXTRACT,
        instructions: taskLine(ctx.input.instructions, 'Extract the entities in the data.'),
        sources,
        schema: { name: 'entities', zod: EntitiesSchema },
        stage: 'extracting',
      });
      const sections = Object.entries(HEADINGS)
        .map(([k, title]) => {
          const xs = parsed[k as keyof typeof HEADINGS & keyof typeof parsed] as { value: string; context: string }[];
          return xs.length ? `**${title}**\n\n${xs.map((e) => `- ${e.value} — ${e.context}`).join('\n')}` : '';
        })
        .concat(
          parsed.other.length
            ? [`**Other**\n\n${parsed.other.map((e) => `- ${e.value} (${e.type}) — ${e.context}`).join('\n')}`]
            : [],
        )
        .filter(Boolean);
      const markdown = sections.length ? sections.join('\n\n') : 'No entities found.';
      return recorder.attach({ markdown, ...parsed });
    },
  });
