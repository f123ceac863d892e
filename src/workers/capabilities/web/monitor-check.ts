// One run of a monitor on the worker: conditional GET, normalise (selector, ignore patterns), hash, diff.
import { createHash } from 'node:crypto';
import { UnrecoverableError } from 'bullmq';
import { createTwoFilesPatch, diffLines } from 'diff';
import { decodeText, type DomElement, normaliseText, parseDocument, textOf } from './extract-page.ts';
import { pageOf } from './fetch-page.ts';
import type { WebClient } from './web-client.ts';

/** What the hub keeps of a check, and hands back to the next one. */
export interface MonitorSnapshot {
  hash: string;
  text: string;
  etag: string | null;
  lastModified: string | null;
}

/** What a check found. `diff` only when the text changed. */
export interface MonitorCheckResult {
  untrusted: true;
  source: 'web';
  url: string;
  finalUrl: string;
  status: number;
  title: string | null;
  checkedAt: string;
  /** No previous snapshot: this run took the baseline. */
  baseline: boolean;
  changed: boolean;
  /** The server answered 304 to the conditional request. */
  notModified: boolean;
  snapshot: MonitorSnapshot;
  diff?: string | undefined;
  added?: number | undefined;
  removed?: number | undefined;
}

/** Compiles ignore patterns (regular expressions); a bad one is a permanent error naming it. */
export function compileIgnore(patterns: string[]): RegExp[] {
  return patterns.map((p) => {
    try {
      return new RegExp(p, 'giu');
    } catch (err) {
      throw new UnrecoverableError(
        `The ignore pattern /${p}/ is not a valid regular expression: ${(err as Error).message}`,
      );
    }
  });
}

/** The text a monitor compares: the selected elements' (or the readable page's) text, ignore patterns blanked. */
export function monitoredText(
  html: string | null,
  readable: string,
  selector: string | undefined,
  ignore: RegExp[],
): string {
  let text = readable;
  if (selector && html !== null) {
    let nodes: DomElement[];
    try {
      nodes = Array.from(parseDocument(html).querySelectorAll(selector));
    } catch {
      throw new UnrecoverableError(`The CSS selector "${selector}" is not valid.`);
    }
    if (nodes.length === 0) throw new UnrecoverableError(`The CSS selector "${selector}" matches nothing on the page.`);
    text = nodes.map(textOf).join('\n\n');
  }
  for (const re of ignore) text = text.replace(re, '');
  return normaliseText(text);
}

/** Checks a page against the previous snapshot. */
export async function checkPage(
  client: WebClient,
  input: {
    url: string;
    selector?: string | undefined;
    ignore: string[];
    previous?: MonitorSnapshot | null | undefined;
  },
  opts: { signal: AbortSignal; maxChars: number },
): Promise<MonitorCheckResult> {
  const ignore = compileIgnore(input.ignore);
  const prev = input.previous ?? null;
  const headers: Record<string, string> = {};
  if (prev?.etag) headers['if-none-match'] = prev.etag;
  if (prev?.lastModified) headers['if-modified-since'] = prev.lastModified;
  const res = await client.get(input.url, { signal: opts.signal, headers });
  const checkedAt = new Date().toISOString();
  const base = {
    untrusted: true as const,
    source: 'web' as const,
    url: input.url,
    finalUrl: res.finalUrl,
    status: res.status,
    checkedAt,
  };
  if (res.notModified && prev) {
    return { ...base, title: null, baseline: false, changed: false, notModified: true, snapshot: prev };
  }
  if (res.mime === 'application/pdf')
    throw new UnrecoverableError(`${res.finalUrl} is a PDF; monitors watch web pages.`);
  const page = pageOf(res, opts.maxChars);
  const isHtml = res.mime.includes('html');
  const text = monitoredText(
    isHtml ? decodeText(res.body, res.contentType, res.mime) : null,
    page.text,
    input.selector,
    ignore,
  );
  const snapshot: MonitorSnapshot = {
    hash: createHash('sha256').update(text).digest('hex'),
    text,
    etag: res.etag,
    lastModified: res.lastModified,
  };
  if (!prev) return { ...base, title: page.title, baseline: true, changed: false, notModified: false, snapshot };
  if (prev.hash === snapshot.hash) {
    return { ...base, title: page.title, baseline: false, changed: false, notModified: false, snapshot };
  }
  let added = 0;
  let removed = 0;
  for (const part of diffLines(`${prev.text}\n`, `${text}\n`)) {
    if (part.added) added += part.count ?? 0;
    if (part.removed) removed += part.count ?? 0;
  }
  const diff = createTwoFilesPatch('before', 'after', `${prev.text}\n`, `${text}\n`, undefined, checkedAt, {
    context: 2,
  });
  return {
    ...base,
    title: page.title,
    baseline: false,
    changed: true,
    notModified: false,
    snapshot,
    diff,
    added,
    removed,
  };
}
