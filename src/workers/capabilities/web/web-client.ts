// The one guarded HTTP client of the web capabilities (undici): timeouts, a size cap, re-checked redirects,
// a content-type allow-list, charset decoding, robots.txt and a per-host politeness delay.
import { setTimeout as sleep } from 'node:timers/promises';
import { UnrecoverableError } from 'bullmq';
import { Agent, errors as undiciErrors, request } from 'undici';
import { RobotsCache } from './robots-cache.ts';
import { FetchRefused, type SsrfGuard } from './ssrf-guard.ts';

/** Limits and manners of the client (from FETCH_* configuration). */
export interface WebClientOptions {
  guard: SsrfGuard;
  maxBytes: number;
  userAgent: string;
  respectRobots: boolean;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  totalTimeoutMs: number;
  /** Least time between two requests to the same host from this process. */
  hostDelayMs: number;
  maxRedirects?: number;
}

/** A fetched response: raw bytes (at most maxBytes) and what the headers said. */
export interface FetchedResponse {
  url: string;
  finalUrl: string;
  status: number;
  /** The media type without parameters, lower case ("text/html"). */
  mime: string;
  contentType: string;
  body: Buffer;
  truncated: boolean;
  /** 304 to a conditional request. */
  notModified: boolean;
  etag: string | null;
  lastModified: string | null;
}

/** Options of one GET. */
export interface GetOptions {
  signal?: AbortSignal | undefined;
  /** Extra request headers (If-None-Match, If-Modified-Since, Accept). */
  headers?: Record<string, string> | undefined;
  /** Skip robots.txt (used for robots.txt itself). */
  skipRobots?: boolean | undefined;
  /** Accept any content type (robots.txt, search APIs); default: the allow-list. */
  anyType?: boolean | undefined;
}

/** Media types web.fetch reads; PDF is handed to the document capability. */
export const ALLOWED_TYPES = [
  /^text\/(html|plain|markdown|xml|csv)$/,
  /^application\/(xhtml\+xml|xml|json|ld\+json|rss\+xml|atom\+xml|pdf)$/,
  /^application\/[\w.-]+\+(json|xml)$/,
];

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Finds a FetchRefused anywhere in an error's cause chain. */
function refusalIn(err: unknown): FetchRefused | undefined {
  for (let e = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    if (e instanceof FetchRefused) return e;
  }
  return undefined;
}

/** The guarded client. One per worker process: the robots cache and the politeness clock live here. */
export class WebClient {
  private readonly agent: Agent;
  private readonly robots: RobotsCache;
  private readonly nextSlot = new Map<string, number>();

  constructor(readonly opts: WebClientOptions) {
    this.agent = new Agent({
      connect: { timeout: opts.connectTimeoutMs, lookup: opts.guard.lookup },
      headersTimeout: opts.headersTimeoutMs,
      bodyTimeout: opts.bodyTimeoutMs,
      connections: 8,
    });
    this.robots = new RobotsCache(async (robotsUrl, signal) => {
      const res = await this.get(robotsUrl, {
        signal,
        skipRobots: true,
        anyType: true,
        headers: { accept: 'text/plain' },
      });
      return { status: res.status, text: res.body.toString('utf8') };
    }, opts.userAgent);
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  /** GETs a URL: every hop's URL and address checked, robots.txt obeyed, at most maxRedirects redirects. */
  async get(rawUrl: string, options: GetOptions = {}): Promise<FetchedResponse> {
    const total = AbortSignal.timeout(this.opts.totalTimeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, total]) : total;
    const maxRedirects = this.opts.maxRedirects ?? 5;
    let url = this.opts.guard.checkUrl(rawUrl);
    for (let hop = 0; ; hop++) {
      if (this.opts.respectRobots && !options.skipRobots) {
        const verdict = await this.robots.check(url, signal);
        if (!verdict.allowed) {
          throw new UnrecoverableError(`${url.href} is disallowed for this bot by the site's robots.txt.`);
        }
        await this.politeWait(url.host, verdict.delayMs, signal);
      } else if (!options.skipRobots) {
        await this.politeWait(url.host, undefined, signal);
      }
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(url, {
          dispatcher: this.agent,
          method: 'GET',
          signal,
          headers: {
            'user-agent': this.opts.userAgent,
            accept: 'text/html,application/xhtml+xml,*/*;q=0.8',
            ...options.headers,
          },
        });
      } catch (err) {
        throw this.explain(err, url, total);
      }
      const header = (name: string): string | null => {
        const v = res.headers[name];
        return v === undefined ? null : Array.isArray(v) ? (v[0] ?? null) : String(v);
      };
      if (REDIRECTS.has(res.statusCode) && header('location')) {
        await res.body.dump();
        if (hop >= maxRedirects) throw new UnrecoverableError(`${rawUrl} redirects more than ${maxRedirects} times.`);
        url = this.opts.guard.checkUrl(new URL(header('location')!, url).href);
        continue;
      }
      const contentType = header('content-type') ?? '';
      const mime = contentType.split(';')[0]!.trim().toLowerCase();
      const base = { url: rawUrl, finalUrl: url.href, status: res.statusCode, mime, contentType };
      const meta = { etag: header('etag'), lastModified: header('last-modified') };
      if (res.statusCode === 304) {
        await res.body.dump();
        return { ...base, ...meta, body: Buffer.alloc(0), truncated: false, notModified: true };
      }
      if (res.statusCode >= 400 && !options.anyType) {
        await res.body.dump();
        const msg = `${url.href} answered HTTP ${res.statusCode}.`;
        if (res.statusCode === 408 || res.statusCode === 429 || res.statusCode >= 500) throw new Error(msg);
        throw new UnrecoverableError(msg);
      }
      if (!options.anyType && !ALLOWED_TYPES.some((re) => re.test(mime))) {
        await res.body.dump();
        throw new UnrecoverableError(
          `${url.href} is ${mime || 'of no stated type'}, not a page web.fetch reads (HTML, text, JSON, XML or PDF).`,
        );
      }
      const { body, truncated } = await this.readCapped(res.body, url, total);
      return { ...base, ...meta, body, truncated, notModified: false };
    }
  }

  /** Reads a body up to maxBytes; stops reading (and marks it truncated) past the cap. */
  private async readCapped(
    body: AsyncIterable<Buffer> & { destroy(): unknown },
    url: URL,
    total: AbortSignal,
  ): Promise<{ body: Buffer; truncated: boolean }> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body) {
        chunks.push(chunk);
        size += chunk.length;
        if (size > this.opts.maxBytes) {
          body.destroy();
          return { body: Buffer.concat(chunks).subarray(0, this.opts.maxBytes), truncated: true };
        }
      }
    } catch (err) {
      throw this.explain(err, url, total);
    }
    return { body: Buffer.concat(chunks), truncated: false };
  }

  /** Waits until this host's next slot (politeness delay, or the site's crawl delay if longer). */
  private async politeWait(host: string, crawlDelayMs: number | undefined, signal: AbortSignal): Promise<void> {
    const gap = Math.max(this.opts.hostDelayMs, crawlDelayMs ?? 0);
    if (gap <= 0) return;
    const now = Date.now();
    const slot = Math.max(now, this.nextSlot.get(host) ?? 0);
    this.nextSlot.set(host, slot + gap);
    if (this.nextSlot.size > 10_000) this.nextSlot.delete(this.nextSlot.keys().next().value!);
    if (slot > now) await sleep(slot - now, undefined, { signal });
  }

  /** Turns transport errors into readable ones: refusals stay permanent, timeouts say which limit. */
  private explain(err: unknown, url: URL, total: AbortSignal): Error {
    const refused = refusalIn(err);
    if (refused) return refused;
    if (total.aborted) return new Error(`Fetching ${url.href} took longer than ${this.opts.totalTimeoutMs} ms.`);
    if (err instanceof undiciErrors.ConnectTimeoutError)
      return new Error(`Connecting to ${url.host} took longer than ${this.opts.connectTimeoutMs} ms.`);
    if (err instanceof undiciErrors.HeadersTimeoutError)
      return new Error(`${url.host} sent no response headers within ${this.opts.headersTimeoutMs} ms.`);
    if (err instanceof undiciErrors.BodyTimeoutError)
      return new Error(`${url.host} stalled sending the page for ${this.opts.bodyTimeoutMs} ms.`);
    return err instanceof Error ? err : new Error(String(err));
  }
}
