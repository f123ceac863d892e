// Web search providers over plain HTTP: SearXNG, Brave and Tavily behind one SearchProvider interface.
import { UnrecoverableError } from 'bullmq';
import { request } from 'undici';
import type { Config } from '../../../core/config.ts';
import { ConfigError } from '../../../core/errors.ts';

/** One search hit. The title and snippet come from the web: untrusted data. */
export interface SearchResult {
  title: string;
  url: string;
  snippet: string;
  publishedAt: string | null;
  provider: string;
}

/** A search engine the web.search capability can ask. */
export interface SearchProvider {
  readonly name: 'searxng' | 'brave' | 'tavily';
  search(query: string, opts: { count: number; signal: AbortSignal }): Promise<SearchResult[]>;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const dateOrNull = (v: unknown): string | null => {
  if (typeof v !== 'string' || !v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
};

/** Calls a provider's JSON API; 4xx (bad key, JSON disabled) is permanent, 429/5xx retried. */
async function callJson(
  provider: string,
  url: URL,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string; signal: AbortSignal },
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const res = await request(url, {
    method: init.method,
    headers: { accept: 'application/json', ...init.headers },
    body: init.body,
    signal: AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const text = await res.body.text();
  if (res.statusCode >= 400) {
    const msg = `${provider} search answered HTTP ${res.statusCode}${res.statusCode === 403 && provider === 'searxng' ? ' (enable the json format under search.formats in its settings.yml)' : ''}: ${text.slice(0, 200)}`;
    if (res.statusCode === 429 || res.statusCode >= 500) throw new Error(msg);
    throw new UnrecoverableError(msg);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${provider} search answered something that is not JSON.`);
  }
}

const withSlash = (u: string): string => (u.endsWith('/') ? u : `${u}/`);

const list = (v: unknown): Record<string, unknown>[] =>
  Array.isArray(v) ? (v.filter((x) => x && typeof x === 'object') as Record<string, unknown>[]) : [];

/** SearXNG: GET {base}/search?q=…&format=json. */
export function searxngProvider(baseUrl: string, timeoutMs: number): SearchProvider {
  return {
    name: 'searxng',
    async search(query, { count, signal }) {
      const url = new URL('search', withSlash(baseUrl));
      url.searchParams.set('q', query);
      url.searchParams.set('format', 'json');
      const json = await callJson('searxng', url, { method: 'GET', headers: {}, signal }, timeoutMs);
      return list(json.results)
        .slice(0, count * 2)
        .map((r) => ({
          title: str(r.title),
          url: str(r.url),
          snippet: str(r.content),
          publishedAt: dateOrNull(r.publishedDate),
          provider: 'searxng',
        }));
    },
  };
}

/** Brave Search: GET {base}/res/v1/web/search with X-Subscription-Token. */
export function braveProvider(apiKey: string, baseUrl: string, timeoutMs: number): SearchProvider {
  return {
    name: 'brave',
    async search(query, { count, signal }) {
      const url = new URL('res/v1/web/search', withSlash(baseUrl));
      url.searchParams.set('q', query);
      url.searchParams.set('count', String(Math.min(count * 2, 20)));
      const json = await callJson(
        'brave',
        url,
        { method: 'GET', headers: { 'x-subscription-token': apiKey }, signal },
        timeoutMs,
      );
      const web = (json.web ?? {}) as Record<string, unknown>;
      return list(web.results).map((r) => ({
        title: str(r.title),
        url: str(r.url),
        snippet: str(r.description).replace(/<\/?strong>/g, ''),
        publishedAt: dateOrNull(r.page_age),
        provider: 'brave',
      }));
    },
  };
}

/** Tavily: POST {base}/search with a bearer key. */
export function tavilyProvider(apiKey: string, baseUrl: string, timeoutMs: number): SearchProvider {
  return {
    name: 'tavily',
    async search(query, { count, signal }) {
      const json = await callJson(
        'tavily',
        new URL('search', withSlash(baseUrl)),
        {
          method: 'POST',
          headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ query, max_results: Math.min(count * 2, 20) }),
          signal,
        },
        timeoutMs,
      );
      return list(json.results).map((r) => ({
        title: str(r.title),
        url: str(r.url),
        snippet: str(r.content),
        publishedAt: dateOrNull(r.published_date),
        provider: 'tavily',
      }));
    },
  };
}

/** The provider SEARCH_PROVIDER names, else the first configured one; undefined when none is configured. */
export function searchProviderFrom(config: Config): SearchProvider | undefined {
  const t = config.FETCH_TOTAL_TIMEOUT_MS;
  const available = {
    searxng: config.SEARXNG_URL ? () => searxngProvider(config.SEARXNG_URL!, t) : undefined,
    brave: config.BRAVE_API_KEY ? () => braveProvider(config.BRAVE_API_KEY!, config.BRAVE_API_URL, t) : undefined,
    tavily: config.TAVILY_API_KEY ? () => tavilyProvider(config.TAVILY_API_KEY!, config.TAVILY_API_URL, t) : undefined,
  };
  if (config.SEARCH_PROVIDER) {
    const make = available[config.SEARCH_PROVIDER];
    if (!make) {
      const needs = { searxng: 'SEARXNG_URL', brave: 'BRAVE_API_KEY', tavily: 'TAVILY_API_KEY' }[
        config.SEARCH_PROVIDER
      ];
      throw new ConfigError(`SEARCH_PROVIDER is ${config.SEARCH_PROVIDER} but ${needs} is not set: set ${needs}.`);
    }
    return make();
  }
  return (available.searxng ?? available.brave ?? available.tavily)?.();
}

/** A URL as a deduplication key: no fragment, no tracking parameters, no trailing slash, lower-case host. */
export function urlKey(raw: string): string | null {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    u.hash = '';
    for (const k of [...u.searchParams.keys()]) if (/^(utm_|fbclid|gclid)/i.test(k)) u.searchParams.delete(k);
    return `${u.host.replace(/^www\./, '')}${u.pathname.replace(/\/+$/, '')}${u.search}`;
  } catch {
    return null;
  }
}

/** Drops results without a usable URL and repeats of one page. */
export function dedupeResults(results: SearchResult[]): SearchResult[] {
  const seen = new Set<string>();
  return results.filter((r) => {
    const k = urlKey(r.url);
    if (!k || seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
