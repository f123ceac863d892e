// Test capabilities with the real names and realistic input schemas, for planning tests. The llm.* ones call the
// model through the real LlmClient (against the OpenAI fake) and hand usage and traces back under `_llm`.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Config } from '../../src/core/config.ts';
import { LlmClient } from '../../src/core/llm/llm-client.ts';
import { LlmRecorder } from '../../src/core/llm/trace.ts';
import { createLogger } from '../../src/core/logger.ts';
import { byName, type CapabilityHandlers } from '../../src/workers/capability.ts';
import { defineCapability, type Capability } from '../../src/workers/define-capability.ts';

/** The capabilities, by name; the LLM client is created at first use from the running hub's config and Redis. */
export function planningCapabilities(hub: () => { config: Config; redis: Redis }): CapabilityHandlers {
  let client: LlmClient | undefined;
  const llm = () => {
    const { config, redis } = hub();
    return (client ??= new LlmClient(config, redis, config.QUEUE_PREFIX, createLogger('silent')));
  };
  const llmCapability = (name: string, description: string, input: z.ZodObject) =>
    defineCapability({
      name,
      description,
      input,
      handler: async (ctx) => {
        const rec = new LlmRecorder(ctx.job.subtaskId);
        const res = await llm().complete({
          purpose: name,
          messages: [
            { role: 'system', content: `[purpose: ${name}] ${description}` },
            { role: 'user', content: `${JSON.stringify(ctx.input)}\n${JSON.stringify(ctx.deps).slice(0, 2000)}` },
          ],
          budget: { taskId: ctx.job.taskId, userId: ctx.job.userId, admin: false },
        });
        rec.call(res.usage, res.trace);
        return rec.attach({ text: res.text });
      },
    });
  const caps: Capability[] = [
    defineCapability({
      name: 'web.search',
      description: 'Searches the web and returns the top results (title, url, snippet).',
      input: z.object({
        query: z.string().min(2).describe('what to search for'),
        maxResults: z.number().int().min(1).max(20).optional(),
        recency: z.enum(['day', 'week', 'month', 'year']).optional(),
      }),
      handler: async ({ input }) => ({
        results: [
          { title: `Result for ${input.query}`, url: 'https://example.org/a', snippet: 'first' },
          { title: 'Another', url: 'https://example.org/b', snippet: 'second' },
        ],
      }),
    }),
    defineCapability({
      name: 'web.fetch',
      description: 'Fetches a web page and returns its readable text.',
      input: z.object({ url: z.url().describe('an http(s) URL'), selector: z.string().optional() }),
      handler: async ({ input }) => ({ url: input.url, text: `Readable text of ${input.url}` }),
    }),
    defineCapability({
      name: 'doc.extract',
      description: "Extracts the text of a document (PDF, DOCX, HTML) from a URL or the user's files.",
      input: z.object({ source: z.string().min(1).describe('URL or file name'), pages: z.string().optional() }),
      handler: async ({ input }) => ({ source: input.source, text: `Text of ${input.source}` }),
    }),
    defineCapability({
      name: 'code.analyze',
      description: 'Analyses a code repository for a concern (logging, errors, security) and lists findings.',
      input: z.object({
        repository: z.string().min(1),
        focus: z.string().min(1),
        paths: z.array(z.string()).optional(),
      }),
      handler: async ({ input }) => ({
        findings: [{ file: 'src/log.ts', issue: `${input.focus}: console.log in hot path` }],
      }),
    }),
    llmCapability(
      'llm.summarize',
      'Summarises its inputs (dependency outputs and given text) in Markdown.',
      z.object({ instructions: z.string().optional(), maxWords: z.number().int().min(10).max(2000).optional() }),
    ),
    llmCapability(
      'llm.analyze',
      'Analyses its inputs for a question and answers with reasoning in Markdown.',
      z.object({ question: z.string().min(1) }),
    ),
    llmCapability(
      'llm.compare',
      'Compares N inputs on criteria: a comparison table and a recommendation.',
      z.object({ criteria: z.array(z.string()).min(1), recommend: z.boolean().optional() }),
    ),
    llmCapability(
      'llm.write',
      'Composes a deliverable (talking points, report, email, answer) from its inputs.',
      z.object({
        kind: z.enum(['talking points', 'report', 'email', 'answer']),
        instructions: z.string().optional(),
      }),
    ),
  ];
  return byName(caps);
}
