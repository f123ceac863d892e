// llm.analyze: overview, findings with severity, and recommendations for a stated goal.
import { z } from 'zod';
import { defineCapability } from '../../define-capability.ts';
import { requireSources, type LlmFamily, sourcesOf } from './llm-step.ts';
import { ANALYZE, AnalysisSchema, taskLine } from './prompts.ts';

/** llm.analyze, run by `family`. */
export const analyzeCapability = (family: LlmFamily) =>
  defineCapability({
    name: 'llm.analyze',
    description: 'Analyses text, code or earlier outputs for a goal: overview, findings by severity, recommendations.',
    input: z.object({
      text: z.string().max(2_000_000).optional().describe('material to analyse (outputs of dependencies are added)'),
      instructions: z.string().max(4000).optional().describe('the goal, e.g. "find weaknesses in the logging"'),
    }),
    async handler(ctx) {
      const sources = requireSources(ctx, sourcesOf(ctx.input.text, ctx.deps));
      const { parsed, recorder } = await family.run(ctx, {
        template: ANALYZE,
        instructions: taskLine(ctx.input.instructions, 'Analyse the data and recommend improvements.'),
        sources,
        schema: { name: 'analysis', zod: AnalysisSchema },
        stage: 'analysing',
      });
      const findings = parsed.findings.map((f) => `- **${f.title}** (${f.severity}): ${f.detail}`).join('\n');
      const recs = parsed.recommendations.map((r, i) => `${i + 1}. ${r}`).join('\n');
      const markdown = [
        `## ${parsed.title}`,
        parsed.overview,
        findings && `**Findings**\n\n${findings}`,
        recs && `**Recommendations**\n\n${recs}`,
      ]
        .filter(Boolean)
        .join('\n\n');
      return recorder.attach({ markdown, ...parsed });
    },
  });
