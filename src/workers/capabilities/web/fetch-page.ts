// Fetch + extract in one call: what web.fetch returns, and what web.search and web.monitor reuse.
import { UnrecoverableError } from 'bullmq';
import { decodeText, extractHtml, extractPlain } from './extract-page.ts';
import type { FetchedResponse, GetOptions, WebClient } from './web-client.ts';

/** A fetched page. Everything in it came from the web: later LLM steps must treat it as data, not instructions. */
export interface FetchedPage {
  untrusted: true;
  source: 'web';
  url: string;
  finalUrl: string;
  status: number;
  contentType: string;
  title: string | null;
  markdown: string;
  text: string;
  links: Array<{ text: string; url: string }>;
  truncated: boolean;
  fetchedAt: string;
  etag: string | null;
  lastModified: string | null;
}

/** A PDF handed over to the document capability (doc.extract) as bytes. */
export interface FetchedDocument {
  untrusted: true;
  source: 'web';
  kind: 'document';
  handOffTo: 'doc.extract';
  url: string;
  finalUrl: string;
  status: number;
  contentType: string;
  base64: string;
  bytes: number;
  truncated: boolean;
  fetchedAt: string;
  etag: string | null;
  lastModified: string | null;
}

/** The first http(s) URL in a text ("use web.fetch: https://example.org please"). */
export function firstUrlIn(text: string): string | undefined {
  return /https?:\/\/[^\s<>"'`]+/i.exec(text)?.[0]?.replace(/[.,;:!?)\]}]+$/, '');
}

/** Turns a response into a page (HTML through Readability, other text as is). */
export function pageOf(res: FetchedResponse, maxChars: number): FetchedPage {
  const decoded = decodeText(res.body, res.contentType, res.mime);
  const isHtml =
    res.mime === 'text/html' || res.mime === 'application/xhtml+xml' || (!res.mime && /<html/i.test(decoded));
  const page = isHtml ? extractHtml(decoded, res.finalUrl, maxChars) : extractPlain(decoded, res.mime, maxChars);
  return {
    untrusted: true,
    source: 'web',
    url: res.url,
    finalUrl: res.finalUrl,
    status: res.status,
    contentType: res.mime,
    ...page,
    truncated: page.truncated || res.truncated,
    fetchedAt: new Date().toISOString(),
    etag: res.etag,
    lastModified: res.lastModified,
  };
}

/** Fetches and extracts one URL. PDFs are returned as a document for doc.extract when `documents` is set, else refused. */
export async function fetchPage(
  client: WebClient,
  url: string,
  opts: GetOptions & { maxChars: number; documents?: boolean | undefined },
): Promise<FetchedPage | FetchedDocument> {
  const res = await client.get(url, opts);
  if (res.mime === 'application/pdf') {
    if (!opts.documents) {
      throw new UnrecoverableError(
        `${res.finalUrl} is a PDF. web.fetch reads web pages; PDFs are read by the document capability (doc.extract), e.g. "use doc.extract: ${res.finalUrl}".`,
      );
    }
    return {
      untrusted: true,
      source: 'web',
      kind: 'document',
      handOffTo: 'doc.extract',
      url: res.url,
      finalUrl: res.finalUrl,
      status: res.status,
      contentType: res.mime,
      base64: res.body.toString('base64'),
      bytes: res.body.length,
      truncated: res.truncated,
      fetchedAt: new Date().toISOString(),
      etag: res.etag,
      lastModified: res.lastModified,
    };
  }
  return pageOf(res, opts.maxChars);
}
