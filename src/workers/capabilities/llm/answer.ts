// llm.answer: answers a question over the given context, with supporting quotes.
import { z } from 'zod';
import { defineCapability } from '../../define-capability.ts';
import { type LlmFamily, sourcesOf } from './llm-step.ts';
import { ANSWER, AnswerSchema } from './prompts.ts';

/** llm.answer, run by `family`. */
export const answerCapability = (family: LlmFamily) =>
  defineCapability({
    name: 'llm.answer',
    description: 'Answers a question over given context or earlier outputs, with supporting quotes and confidence.',
    input: z.object({
      question: z.string().min(1).max(4000).describe('the question to answer'),
      text: z.string().max(2_000_000).optional().describe('context to answer from (outputs of dependencies are added)'),
    }),
    async handler(ctx) {
      const { parsed, recorder } = await family.run(ctx, {
        template: ANSWER,
        instructions: `Question: ${ctx.input.question}`,
        sources: sourcesOf(ctx.input.text, ctx.deps),
        schema: { name: 'answer', zod: AnswerSchema },
        stage: 'answering',
      });
      const quotes = parsed.quotes.map((q) => `> ${q.replace(/\n/g, ' ')}`).join('\n');
      const markdown = `${parsed.answer}${quotes ? `\n\n${quotes}` : ''}\n\n_Confidence: ${parsed.confidence}_`;
      return recorder.attach({ markdown, ...parsed });
    },
  });
