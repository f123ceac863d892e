// doc.extract: text by page from the task's files (PDF, DOCX, HTML, Markdown, text), so later steps can cite pages.
import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import { artifactReader } from '../../../core/artifacts/artifact-transport.ts';
import type { Config } from '../../../core/config.ts';
import { type Capability, defineCapability } from '../../define-capability.ts';
import { extractDocument, UnreadableDocument, type ExtractedDocument } from './extract-document.ts';

/** The doc.* family; always available (it needs no outside service). */
export function docCapabilities(config: Config): Capability[] {
  const extract = defineCapability({
    name: 'doc.extract',
    description:
      'Extracts text by page from attached files (PDF, DOCX, HTML, Markdown, text); reports scanned PDFs without a text layer.',
    input: z.object({
      artifact: z.string().max(300).optional().describe('the file name to extract; all attached files when omitted'),
      text: z.string().max(10_000).optional().describe('text form: a file name'),
      maxPages: z.number().int().min(1).max(100_000).optional(),
    }),
    handler: async (ctx) => {
      const files = ctx.artifacts ?? artifactReader(null, []);
      const available = files.list();
      const wanted = ctx.input.artifact ?? ctx.input.text?.trim();
      const names = wanted ? [wanted] : available.map((a) => a.name);
      if (names.length === 0) throw new UnrecoverableError('doc.extract: no file is attached to this task.');
      const maxPages = Math.min(ctx.input.maxPages ?? config.DOC_MAX_PAGES, config.DOC_MAX_PAGES);
      const documents: ExtractedDocument[] = [];
      ctx.progress.stage('extracting', names.length);
      for (const [i, name] of names.entries()) {
        const ref = available.find((a) => a.name === name);
        if (!ref)
          throw new UnrecoverableError(
            `doc.extract: no file named "${name}"; attached: ${available.map((a) => a.name).join(', ') || 'none'}.`,
          );
        const bytes = await files.read(name);
        try {
          documents.push(
            await extractDocument(name, ref.mediaType, bytes, { maxPages, maxChars: 2_000_000, signal: ctx.signal }),
          );
        } catch (err) {
          if (err instanceof UnreadableDocument) throw new UnrecoverableError(err.message);
          throw err;
        }
        ctx.progress.items(i + 1, names.length);
      }
      return { documents };
    },
  });
  return [extract];
}
