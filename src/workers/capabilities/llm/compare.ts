// llm.compare: N options (given items and/or dependency outputs) -> comparison table and a recommendation.
import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import { defineCapability } from '../../define-capability.ts';
import { type LlmFamily, outputName, outputText } from './llm-step.ts';
import { COMPARE, ComparisonSchema, taskLine } from './prompts.ts';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n+/g, ' ');

/** llm.compare, run by `family`. */
export const compareCapability = (family: LlmFamily) =>
  defineCapability({
    name: 'llm.compare',
    description: 'Compares several options (given items or earlier outputs) by criteria; table plus a recommendation.',
    input: z.object({
      items: z
        .array(z.object({ name: z.string().min(1).max(200), text: z.string().max(1_000_000) }))
        .max(20)
        .optional()
        .describe('options to compare (each dependency output is an option too)'),
      criteria: z.array(z.string().max(200)).max(20).optional().describe('criteria to compare by'),
      instructions: z.string().max(4000).optional().describe('what the choice is for, e.g. "a family of four"'),
    }),
    async handler(ctx) {
      const sources = [
        ...(ctx.input.items ?? []).map((i) => ({ label: `option '${i.name}'`, text: i.text })),
        // An option is named after what it is (a page title, the documents) so the table and the choice read well.
        ...Object.entries(ctx.deps).map(([key, value]) => ({
          label: `option '${outputName(value) ?? key}'`,
          text: outputText(value),
        })),
      ];
      if (sources.length < 2) {
        throw new UnrecoverableError('llm.compare needs at least two options (items, or steps it depends on).');
      }
      const criteria = ctx.input.criteria?.length ? `\nCriteria: ${ctx.input.criteria.join('; ')}` : '';
      const { parsed, recorder } = await family.run(ctx, {
        template: COMPARE,
        instructions: `${taskLine(ctx.input.instructions, 'Compare the options and recommend the best one.')}${criteria}`,
        sources,
        schema: { name: 'comparison', zod: ComparisonSchema },
        stage: 'comparing',
      });
      const header = `| Criterion | ${parsed.options.map((o) => cell(o.name)).join(' | ')} |`;
      const rule = `|---|${parsed.options.map(() => '---').join('|')}|`;
      const rows = parsed.criteria.map(
        (c) =>
          `| ${cell(c)} | ${parsed.options.map((o) => cell(o.assessments.find((a) => a.criterion === c)?.assessment ?? '—')).join(' | ')} |`,
      );
      const proscons = parsed.options
        .map((o) => `**${o.name}**: pros: ${o.pros.join('; ') || '—'}. Cons: ${o.cons.join('; ') || '—'}.`)
        .join('\n\n');
      const markdown = [
        [header, rule, ...rows].join('\n'),
        proscons,
        `**Recommendation: ${parsed.recommendation.choice}.** ${parsed.recommendation.reasoning}`,
      ].join('\n\n');
      return recorder.attach({ markdown, ...parsed });
    },
  });
