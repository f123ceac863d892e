// Text and structure from one file: PDF (unpdf), DOCX (mammoth), HTML (Readability + turndown), Markdown, text.
import { Readability } from '@mozilla/readability';
import { parseHTML } from 'linkedom';
import mammoth from 'mammoth';
import TurndownService from 'turndown';
import { getDocumentProxy } from 'unpdf';

/** One page of extracted text (documents without pages are one page). */
export interface DocumentPage {
  n: number;
  text: string;
}

/** What doc.extract returns for one file. */
export interface ExtractedDocument {
  name: string;
  mediaType: string;
  kind: 'pdf' | 'docx' | 'html' | 'markdown' | 'text';
  pageCount: number;
  pages: DocumentPage[];
  /** A PDF whose pages carry no text layer (a scan): nothing to read without OCR. */
  scanned?: boolean;
  /** Pages (or characters) were cut at the caps. */
  truncated?: boolean;
  title?: string;
  note?: string;
}

/** Limits of one extraction. */
export interface ExtractLimits {
  maxPages: number;
  maxChars: number;
  signal?: AbortSignal;
}

/** The kind of a file, from its media type, else its extension; null when unsupported. */
export function documentKind(name: string, mediaType: string): ExtractedDocument['kind'] | null {
  const t = mediaType.toLowerCase();
  const ext = /\.([a-z0-9]+)$/i.exec(name)?.[1]?.toLowerCase();
  if (t.includes('pdf') || ext === 'pdf') return 'pdf';
  if (t.includes('officedocument.wordprocessingml') || ext === 'docx') return 'docx';
  if (t.includes('html') || ext === 'html' || ext === 'htm') return 'html';
  if (t.includes('markdown') || ext === 'md' || ext === 'markdown') return 'markdown';
  if (t.startsWith('text/') || ['txt', 'csv', 'log', 'json', 'yaml', 'yml'].includes(ext ?? '')) return 'text';
  return null;
}

/** Unsupported or unreadable file: retrying cannot help. */
export class UnreadableDocument extends Error {
  override name = 'UnreadableDocument';
}

/** Extracts a file's text by page, within the page and character caps. */
export async function extractDocument(
  name: string,
  mediaType: string,
  bytes: Uint8Array,
  limits: ExtractLimits,
): Promise<ExtractedDocument> {
  const kind = documentKind(name, mediaType);
  if (!kind)
    throw new UnreadableDocument(
      `"${name}" (${mediaType}) is not a supported document: PDF, DOCX, HTML, Markdown or plain text.`,
    );
  const base = { name, mediaType, kind };
  if (kind === 'pdf') return { ...base, ...(await extractPdf(name, bytes, limits)) };
  if (kind === 'docx') {
    const { value } = await mammoth.extractRawText({ buffer: Buffer.from(bytes) }).catch((err: unknown) => {
      throw new UnreadableDocument(`"${name}" is not a readable DOCX file (${(err as Error).message}).`);
    });
    return { ...base, ...capChars([value], limits.maxChars) };
  }
  const raw = Buffer.from(bytes).toString('utf8');
  if (kind === 'html') {
    const { document } = parseHTML(raw);
    const article = new Readability(document as unknown as ConstructorParameters<typeof Readability>[0]).parse();
    const md = new TurndownService({ headingStyle: 'atx' }).turndown(
      article?.content ?? document.body?.innerHTML ?? '',
    );
    return { ...base, ...capChars([md], limits.maxChars), ...(article?.title ? { title: article.title } : {}) };
  }
  // Plain text and Markdown: form feeds separate pages, as `pdftotext` writes them.
  return { ...base, ...capChars(raw.split('\f').slice(0, limits.maxPages), limits.maxChars) };
}

function capChars(texts: string[], maxChars: number): Pick<ExtractedDocument, 'pages' | 'pageCount' | 'truncated'> {
  let left = maxChars;
  let truncated = false;
  const pages = texts.map((t, i) => {
    const text = t.length > left ? t.slice(0, left) : t;
    if (text.length < t.length) truncated = true;
    left -= text.length;
    return { n: i + 1, text };
  });
  return { pages, pageCount: texts.length, ...(truncated ? { truncated } : {}) };
}

async function extractPdf(
  name: string,
  bytes: Uint8Array,
  limits: ExtractLimits,
): Promise<Omit<ExtractedDocument, 'name' | 'mediaType' | 'kind'>> {
  const pdf = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0 }).catch((err: unknown) => {
    throw new UnreadableDocument(`"${name}" is not a readable PDF (${(err as Error).message}).`);
  });
  try {
    const total = pdf.numPages;
    const upto = Math.min(total, limits.maxPages);
    const texts: string[] = [];
    for (let n = 1; n <= upto; n++) {
      limits.signal?.throwIfAborted();
      const page = await pdf.getPage(n);
      const content = await page.getTextContent();
      texts.push(
        content.items
          .map((item) => ('str' in item ? item.str + (item.hasEOL ? '\n' : '') : ''))
          .join('')
          .trim(),
      );
    }
    const capped = capChars(texts, limits.maxChars);
    const chars = texts.reduce((n, t) => n + t.replace(/\s/g, '').length, 0);
    const scanned = total > 0 && chars < 5 * upto;
    return {
      ...capped,
      pageCount: total,
      ...(upto < total ? { truncated: true } : {}),
      ...(scanned
        ? {
            scanned: true,
            note: `"${name}" has no text layer (a scanned PDF): its ${total} page(s) are images; run OCR first to read it.`,
          }
        : {}),
    };
  } finally {
    await pdf.loadingTask.destroy();
  }
}
