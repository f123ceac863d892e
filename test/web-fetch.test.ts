// web.fetch, web.search and web.monitor handlers against the local fixture server (real undici, fake DNS).
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/core/config.ts';
import { parseInput, specOf, type Capability } from '../src/workers/define-capability.ts';
import type { HandlerContext } from '../src/workers/capability.ts';
import { webCapabilities } from '../src/workers/capabilities/web/web-capabilities.ts';
import { FIXTURE_HOST, startWebFixtures, type WebFixtures } from './fakes/web-fixtures.ts';

let fx: WebFixtures;
const log = pino({ level: 'silent' });

/** Runs a capability's handler the way the runtime does: input validated by its schema first. */
async function run(cap: Capability, input: unknown): Promise<any> {
  const ctx = {
    input: parseInput(cap, input),
    deps: {},
    signal: new AbortController().signal,
    log,
    progress: { stage() {}, items() {}, message() {} },
    attempt: 1,
  } as unknown as HandlerContext;
  return cap.handler(ctx);
}

function family(env: Record<string, string> = {}): Record<string, Capability> {
  const config = loadConfig({
    FETCH_ALLOW_HOSTS: FIXTURE_HOST,
    FETCH_HOST_DELAY_MS: '0',
    FETCH_MAX_BYTES: String(1024 * 1024),
    ...env,
  });
  return Object.fromEntries(webCapabilities(config, { resolver: fx.resolver }).map((c) => [c.name, c]));
}

beforeAll(async () => {
  fx = await startWebFixtures();
});
afterAll(async () => {
  await fx.close();
});

describe('web.fetch', () => {
  it('extracts the article: body kept, navigation, sidebar, footer and scripts gone', async () => {
    const { 'web.fetch': fetch } = family();
    const page = await run(fetch!, { url: `${fx.base}/article` });
    expect(page).toMatchObject({ untrusted: true, source: 'web', status: 200, finalUrl: `${fx.base}/article` });
    expect(page.title).toContain('Rivers bill advances');
    for (const kept of [
      'cap nitrate runoff from farms at 10 milligrams per litre',
      'The committee vote was 7 to 4',
      'Requires quarterly public reporting of water samples.',
      'further changes to the reporting requirements',
    ]) {
      expect(page.text).toContain(kept);
      expect(page.markdown.replace(/\s+/g, ' ')).toContain(kept);
    }
    for (const gone of [
      'NAVLINK',
      'SIDEBAR-PROMO',
      'FOOTER-COPYRIGHT',
      'SCRIPT-TOKEN',
      'SCRIPT-IN-ARTICLE',
      'INJECTED-BY-SCRIPT',
      'font-family',
    ]) {
      expect(page.text).not.toContain(gone);
      expect(page.markdown).not.toContain(gone);
    }
    expect(page.markdown).toMatch(/^## What the bill does$/m);
    expect(page.markdown).toMatch(/^-\s+Caps nitrate runoff/m);
    expect(page.links).toContainEqual({ text: 'full text of SB 112', url: 'https://legislature.example/bills/sb-112' });
    expect(page.links).toContainEqual({ text: 'fiscal analysis', url: `${fx.base}/analysis/sb-112` });
    expect(page.truncated).toBe(false);
    expect(Date.parse(page.fetchedAt)).toBeGreaterThan(0);
  });

  it('takes the URL from the text ("use web.fetch: https://…")', async () => {
    const { 'web.fetch': fetch } = family();
    const page = await run(fetch!, { text: `please read ${fx.base}/article, thanks` });
    expect(page.url).toBe(`${fx.base}/article`);
    await expect(run(fetch!, { text: 'no link here' })).rejects.toThrow(/needs a URL/);
    expect(() => parseInput(fetch!, {})).toThrow(/give "url"/);
  });

  it('follows a redirect chain and reports the final URL', async () => {
    const page = await run(family()['web.fetch']!, { url: `${fx.base}/r/1` });
    expect(page.finalUrl).toBe(`${fx.base}/article`);
    expect(page.url).toBe(`${fx.base}/r/1`);
  });

  it('refuses redirects to 127.0.0.1 and 169.254.169.254 permanently', async () => {
    const fetch = family()['web.fetch']!;
    await expect(run(fetch, { url: `${fx.base}/r/loopback` })).rejects.toMatchObject({ name: 'FetchRefused' });
    await expect(run(fetch, { url: `${fx.base}/r/metadata` })).rejects.toMatchObject({ name: 'FetchRefused' });
  });

  it('caps a huge page at FETCH_MAX_BYTES and says it is truncated', async () => {
    const page = await run(family()['web.fetch']!, { url: `${fx.base}/huge` });
    expect(page.truncated).toBe(true);
    expect(page.text.length).toBeGreaterThan(10_000);
    expect(page.text.length).toBeLessThanOrEqual(1024 * 1024);
  });

  it('decodes a page by its <meta> charset, and ignores a charset label that does not exist', async () => {
    const fetch = family()['web.fetch']!;
    for (const path of ['/latin', '/bogus-charset']) {
      const page = await run(fetch, { url: `${fx.base}${path}` });
      expect(page.title).toContain('Café');
      expect(page.text).toContain('Café naïve – “quoted”');
      expect(page.text).not.toContain('\uFFFD');
    }
  });

  it('obeys robots.txt (and not when FETCH_RESPECT_ROBOTS=false)', async () => {
    await expect(run(family()['web.fetch']!, { url: `${fx.base}/private/secret` })).rejects.toThrow(/robots\.txt/);
    const page = await run(family({ FETCH_RESPECT_ROBOTS: 'false' })['web.fetch']!, {
      url: `${fx.base}/private/secret`,
    });
    expect(page.text).toContain('robots.txt forbids this');
    const ua = fx.requests.filter((r) => r.path === '/robots.txt').map((r) => r.headers['user-agent']);
    expect(ua[0]).toMatch(/^SwitchboardBot\//);
  });

  it('refuses content types it does not read; hands a PDF over only when asked', async () => {
    const fetch = family()['web.fetch']!;
    await expect(run(fetch, { url: `${fx.base}/image.png` })).rejects.toThrow(/image\/png, not a page/);
    await expect(run(fetch, { url: `${fx.base}/doc.pdf` })).rejects.toThrow(/doc\.extract/);
    const doc = await run(fetch, { url: `${fx.base}/doc.pdf`, documents: true });
    expect(doc).toMatchObject({ kind: 'document', handOffTo: 'doc.extract', contentType: 'application/pdf' });
    expect(Buffer.from(doc.base64, 'base64').toString()).toContain('%PDF');
    const json = await run(fetch, { url: `${fx.base}/data.json` });
    expect(json.text).toContain('"SB 112"');
  });

  it('a 404 is permanent, with the status in the message', async () => {
    await expect(run(family()['web.fetch']!, { url: `${fx.base}/gone` })).rejects.toMatchObject({
      name: 'UnrecoverableError',
      message: expect.stringContaining('HTTP 404'),
    });
  });

  it('a slow server hits the headers timeout: a readable, retryable error', async () => {
    const fetch = family({ FETCH_HEADERS_TIMEOUT_MS: '200', FETCH_RESPECT_ROBOTS: 'false' })['web.fetch']!;
    const err = await run(fetch, { url: `${fx.base}/slow` }).catch((e: Error) => e);
    expect(err.message).toMatch(/sent no response headers within 200 ms/);
    expect(err.name).not.toBe('UnrecoverableError');
  });

  it('stops at once when the step is cancelled (the signal aborts the request)', async () => {
    const fetch = family({ FETCH_RESPECT_ROBOTS: 'false' })['web.fetch']!;
    const ac = new AbortController();
    const ctx = {
      input: parseInput(fetch, { url: `${fx.base}/slow` }),
      deps: {},
      signal: ac.signal,
      log,
      progress: { stage() {}, items() {}, message() {} },
      attempt: 1,
    } as unknown as HandlerContext;
    const t0 = performance.now();
    setTimeout(() => ac.abort(new Error('cancelled')), 100);
    await expect(fetch.handler(ctx)).rejects.toThrow();
    expect(performance.now() - t0).toBeLessThan(1500);
  });

  it('configuration mistakes name the variable and the fix', () => {
    expect(() => loadConfig({ FETCH_MAX_BYTES: 'lots' })).toThrow(/FETCH_MAX_BYTES: must be a number of bytes/);
    expect(() => loadConfig({ FETCH_ALLOW_HOSTS: 'http://intranet:8080' })).toThrow(
      /FETCH_ALLOW_HOSTS: comma-separated host names/,
    );
    expect(() => loadConfig({ SEARCH_PROVIDER: 'google' })).toThrow(
      /SEARCH_PROVIDER: must be searxng, brave or tavily/,
    );
    expect(() => loadConfig({ SEARXNG_URL: 'searxng' })).toThrow(/SEARXNG_URL: must be the base URL/);
    expect(loadConfig({ FETCH_ALLOW_HOSTS: 'intranet.example, 10.0.0.5,::1' }).FETCH_ALLOW_HOSTS).toEqual([
      'intranet.example',
      '10.0.0.5',
      '::1',
    ]);
  });

  it('waits the per-host politeness delay between requests', async () => {
    const fetch = family({ FETCH_HOST_DELAY_MS: '300', FETCH_RESPECT_ROBOTS: 'false' })['web.fetch']!;
    await run(fetch, { url: `${fx.base}/data.json` });
    const t0 = performance.now();
    await run(fetch, { url: `${fx.base}/data.json` });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
  });
});

describe('web.search', () => {
  it('is not advertised without a provider', () => {
    expect(family()['web.search']).toBeUndefined();
    expect(() => family({ SEARCH_PROVIDER: 'brave' })).toThrow(/BRAVE_API_KEY is not set/);
  });

  const providers: Array<[string, Record<string, string>, number]> = [
    ['searxng', { SEARXNG_URL: '' }, 3],
    ['brave', { BRAVE_API_KEY: 'test-brave-key', BRAVE_API_URL: '' }, 2],
    ['tavily', { TAVILY_API_KEY: 'tvly-test-key', TAVILY_API_URL: '' }, 2],
  ];
  for (const [name, env, expected] of providers) {
    it(`${name}: recorded answer parsed, deduplicated, advertised with a schema`, async () => {
      const real = Object.fromEntries(
        Object.entries(env).map(([k, v]) => [
          k,
          v || `http://127.0.0.1:${fx.port}/${name === 'searxng' ? 'searxng' : name}`,
        ]),
      );
      const caps = family(real);
      const search = caps['web.search']!;
      expect(specOf(search)?.inputSchema).toMatchObject({ type: 'object', properties: { query: { type: 'string' } } });
      const out = await run(search, { query: 'environmental bills', count: 5 });
      expect(out.provider).toBe(name);
      expect(out.untrusted).toBe(true);
      expect(out.results).toHaveLength(expected);
      expect(new Set(out.results.map((r: { url: string }) => r.url.replace(/\/$/, ''))).size).toBe(expected);
      for (const r of out.results)
        expect(r).toMatchObject({ title: expect.any(String), url: expect.stringMatching(/^http/), provider: name });
      expect(out.results.find((r: { url: string }) => r.url.endsWith('/article')).snippet).toContain(
        'Clean Rivers Act',
      );
    });
  }

  it('a SearXNG without the JSON format enabled is a permanent error that says how to fix it', async () => {
    const search = family({ SEARXNG_URL: `http://127.0.0.1:${fx.port}/searxng-nojson` })['web.search']!;
    await expect(run(search, { query: 'x' })).rejects.toMatchObject({
      name: 'UnrecoverableError',
      message: expect.stringMatching(/HTTP 403 \(enable the json format under search.formats in its settings.yml\)/),
    });
  });

  it('SEARCH_PROVIDER picks one of several; top N results are fetched through web.fetch code', async () => {
    const caps = family({
      SEARXNG_URL: `http://127.0.0.1:${fx.port}/searxng`,
      TAVILY_API_KEY: 'tvly-test-key',
      TAVILY_API_URL: `http://127.0.0.1:${fx.port}/tavily`,
      SEARCH_PROVIDER: 'tavily',
    });
    const out = await run(caps['web.search']!, { text: 'environmental bills', fetchTop: 2 });
    expect(out.provider).toBe('tavily');
    expect(out.pages).toHaveLength(2);
    expect(out.pages[0].title).toBe('Forest Protection Bill');
    expect(out.pages[1].text).toContain('nitrate runoff');
    const tavily = fx.requests.find((r) => r.path === '/tavily/search')!;
    expect(JSON.parse(tavily.body)).toMatchObject({ query: 'environmental bills' });
    expect(tavily.headers.authorization).toBe('Bearer tvly-test-key');
  });
});

describe('web.monitor', () => {
  it('baseline, unchanged (304), changed with a diff; selector and ignore patterns', async () => {
    const monitor = family({ FETCH_RESPECT_ROBOTS: 'false' })['web.monitor']!;
    const url = `${fx.base}/changing`;
    const ignore = ['Last updated: \\S+', 'Visitors: \\d+'];
    fx.setChanging('Hearing on 3 April.');
    const first = await run(monitor, { url, selector: '#notice', ignore });
    expect(first).toMatchObject({ baseline: true, changed: false });
    expect(first.snapshot.text).toContain('Hearing on 3 April.');
    expect(first.snapshot.text).not.toContain('NAVLINK');
    expect(first.snapshot.etag).toMatch(/^"/);

    const second = await run(monitor, { url, selector: '#notice', ignore, previous: first.snapshot });
    expect(second).toMatchObject({ baseline: false, changed: false, notModified: true });
    expect(fx.changingHits().notModified).toBe(1);

    // The page changes only in its counters: the ignore patterns blank them, so no change.
    const noEtag = { ...first.snapshot, etag: null };
    const third = await run(monitor, { url, selector: '#notice', ignore, previous: noEtag });
    expect(third).toMatchObject({ changed: false, notModified: false });
    expect(third.snapshot.hash).toBe(first.snapshot.hash);

    fx.setChanging('Hearing moved to 10 April.');
    const fourth = await run(monitor, { url, selector: '#notice', ignore, previous: first.snapshot });
    expect(fourth).toMatchObject({ changed: true, added: 1, removed: 1 });
    expect(fourth.diff).toContain('-Hearing on 3 April.');
    expect(fourth.diff).toContain('+Hearing moved to 10 April.');

    await expect(run(monitor, { url, selector: '#nope' })).rejects.toThrow(/matches nothing/);
    await expect(run(monitor, { url, ignore: ['('] })).rejects.toThrow(/not a valid regular expression/);
  });
});
