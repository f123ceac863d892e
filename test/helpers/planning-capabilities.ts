// Test capabilities with the real names and realistic input schemas (web, documents, code), for planning tests.
import { z } from 'zod';
import { byName, type CapabilityHandlers } from '../../src/workers/capability.ts';
import { defineCapability, type Capability } from '../../src/workers/define-capability.ts';

/** The capabilities, by name (the real llm.* family comes from builtinCapabilities when an LLM is configured). */
export function planningCapabilities(): CapabilityHandlers {
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
  ];
  return byName(caps);
}
