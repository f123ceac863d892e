// Readable content of a fetched page: charset decoding, Readability on linkedom, Markdown by turndown, plain text.
import { Readability } from '@mozilla/readability';
import { parseHTML } from 'linkedom';
import TurndownService from 'turndown';

/** The few DOM members used here (the project compiles without the DOM lib; linkedom provides them at runtime). */
export interface DomElement {
  textContent: string | null;
  innerHTML: string;
  ownerDocument: DomDocument;
  cloneNode(deep: boolean): DomElement;
  querySelector(selector: string): DomElement | null;
  querySelectorAll(selector: string): ArrayLike<DomElement>;
  getAttribute(name: string): string | null;
  remove(): void;
  after(node: unknown): void;
}

/** A parsed document. */
export interface DomDocument extends DomElement {
  body: DomElement | null;
  createTextNode(text: string): unknown;
}

/** What a page says, ready for an LLM step (as data) or a diff. */
export interface ExtractedPage {
  title: string | null;
  markdown: string;
  text: string;
  links: Array<{ text: string; url: string }>;
  truncated: boolean;
}

const turndown = new TurndownService({ headingStyle: 'atx', codeBlockStyle: 'fenced', bulletListMarker: '-' });
turndown.remove(['script', 'style', 'noscript', 'iframe', 'form']);

/** Decodes bytes by the header's charset, else an HTML <meta> charset, else UTF-8 (unknown labels fall back too). */
export function decodeText(body: Buffer, contentType: string, mime: string): string {
  const declared = /charset\s*=\s*"?([\w.:-]+)/i.exec(contentType)?.[1];
  const sniffed =
    mime.includes('html') || mime.includes('xml')
      ? (/<meta[^>]+charset\s*=\s*["']?([\w.:-]+)/i.exec(body.subarray(0, 2048).toString('latin1'))?.[1] ??
        /<\?xml[^>]+encoding\s*=\s*["']([\w.:-]+)/i.exec(body.subarray(0, 200).toString('latin1'))?.[1])
      : undefined;
  for (const label of [declared, sniffed, 'utf-8']) {
    if (!label) continue;
    try {
      return new TextDecoder(label).decode(body);
    } catch {
      // An unknown label: try the next source.
    }
  }
  return body.toString('utf8');
}

/** Collapses runs of blank space line by line, keeping paragraph breaks. */
export function normaliseText(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' ').trim())
    .filter((l, i, all) => l !== '' || (i > 0 && all[i - 1] !== ''))
    .join('\n')
    .trim();
}

/** Cuts text to `max` characters. */
function cap(text: string, max: number): { text: string; cut: boolean } {
  return text.length > max ? { text: text.slice(0, max), cut: true } : { text, cut: false };
}

/** Parses HTML into a linkedom document. */
export function parseDocument(html: string): DomDocument {
  // linkedom gives a fragment without <html>/<body> no body element: wrap it.
  const whole = /<(html|body)[\s>]/i.test(html) ? html : `<!doctype html><html><body>${html}</body></html>`;
  return parseHTML(whole).document as unknown as DomDocument;
}

/** Plain text of a node, block elements on their own lines. */
export function textOf(node: DomElement): string {
  const clone = node.cloneNode(true) as DomElement;
  for (const el of Array.from(clone.querySelectorAll('script,style,noscript,template'))) el.remove();
  for (const el of Array.from(
    clone.querySelectorAll('br,p,div,li,h1,h2,h3,h4,h5,h6,tr,section,article,pre,blockquote'),
  )) {
    el.after(clone.ownerDocument.createTextNode('\n'));
  }
  return normaliseText(clone.textContent ?? '');
}

/** Extracts the main content of an HTML page (Readability), falling back to the body when it finds none. */
export function extractHtml(html: string, baseUrl: string, maxChars: number): ExtractedPage {
  const doc = parseDocument(html);
  const links = linksOf(doc, baseUrl);
  const pageTitle = doc.querySelector('title')?.textContent?.trim() || null;
  // Readability changes the DOM it reads: give it its own copy.
  const article = new Readability(parseDocument(html) as never, { charThreshold: 200 }).parse();
  let contentHtml: string;
  let text: string;
  if (article?.content) {
    contentHtml = article.content;
    text = textOf(parseDocument(article.content).body!);
  } else {
    const body = doc.body;
    for (const el of Array.from(body?.querySelectorAll('script,style,noscript,nav,header,footer,aside') ?? [])) {
      el.remove();
    }
    contentHtml = body?.innerHTML ?? '';
    text = body ? textOf(body) : '';
  }
  const md = cap(turndown.turndown(contentHtml).trim(), maxChars);
  const plain = cap(text, maxChars);
  return {
    title: article?.title?.trim() || pageTitle,
    markdown: md.text,
    text: plain.text,
    links,
    truncated: md.cut || plain.cut,
  };
}

/** Extracts a non-HTML text body (plain, Markdown, JSON, XML) as is. */
export function extractPlain(text: string, mime: string, maxChars: number): ExtractedPage {
  let body = text;
  if (mime.includes('json')) {
    try {
      body = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // Not valid JSON: keep the text.
    }
  }
  const c = cap(body, maxChars);
  return {
    title: null,
    markdown: mime.includes('json') ? `\`\`\`json\n${c.text}\n\`\`\`` : c.text,
    text: c.text,
    links: [],
    truncated: c.cut,
  };
}

/** Absolute http(s) links of a document, deduplicated, at most 200. */
function linksOf(doc: DomDocument, baseUrl: string): Array<{ text: string; url: string }> {
  const seen = new Set<string>();
  const out: Array<{ text: string; url: string }> = [];
  for (const a of Array.from(doc.querySelectorAll('a[href]'))) {
    let href: URL;
    try {
      href = new URL(a.getAttribute('href') ?? '', baseUrl);
    } catch {
      continue;
    }
    if (href.protocol !== 'http:' && href.protocol !== 'https:') continue;
    href.hash = '';
    if (seen.has(href.href)) continue;
    seen.add(href.href);
    out.push({ text: (a.textContent ?? '').replace(/\s+/g, ' ').trim().slice(0, 200), url: href.href });
    if (out.length >= 200) break;
  }
  return out;
}
