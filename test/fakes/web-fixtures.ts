// A local fixture web server on 127.0.0.1: saved pages (test/fixtures/web), a page that changes with ETags, redirect
// chains (including to 127.0.0.1 and 169.254.169.254), a huge page, a wrong charset, robots.txt, and recorded
// SearXNG/Brave/Tavily answers. Tests reach it through a fake resolver name (FETCH_ALLOW_HOSTS opens only that).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Resolver } from '../../src/workers/capabilities/web/ssrf-guard.ts';

const dir = new URL('../fixtures/web/', import.meta.url);
const file = (name: string): Buffer => readFileSync(new URL(name, dir));

/** The host name tests use for the fixture server (resolved by `resolver` to 127.0.0.1). */
export const FIXTURE_HOST = 'fixtures.test';

/** A recorded request. */
export interface FixtureRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** The running fixture server. */
export interface WebFixtures {
  /** http://fixtures.test:<port> */
  base: string;
  port: number;
  requests: FixtureRequest[];
  /** A fake DNS: FIXTURE_HOST -> 127.0.0.1, `names` as given, anything else ENOTFOUND. */
  resolver: Resolver;
  /** Sets the main text of /changing (its ETag follows the text). */
  setChanging(text: string): void;
  /** How many times /changing answered 200 and 304. */
  changingHits(): { full: number; notModified: number };
  close(): Promise<void>;
}

/** Starts the fixture server; `names` adds fake DNS entries (e.g. a public-looking name resolving to 10.0.0.1). */
export async function startWebFixtures(names: Record<string, string[]> = {}): Promise<WebFixtures> {
  const requests: FixtureRequest[] = [];
  let changing = 'First version of the notice: the hearing is on 3 April.';
  let visitors = 0;
  const hits = { full: 0, notModified: 0 };
  let base = '';

  const send = (
    res: ServerResponse,
    status: number,
    type: string,
    body: string | Buffer,
    extra: Record<string, string> = {},
  ) => {
    res.writeHead(status, { 'content-type': type, ...extra });
    res.end(body);
  };
  const recorded = (name: string) => file(name).toString('utf8').replaceAll('{{BASE}}', base);

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ method: req.method ?? 'GET', path: url.pathname + url.search, headers: req.headers, body });
    const p = url.pathname;
    if (p === '/robots.txt') return send(res, 200, 'text/plain', file('robots.txt'));
    if (p === '/article') return send(res, 200, 'text/html; charset=utf-8', file('article.html'));
    if (p === '/bills/air' || p === '/bills/air/') return send(res, 200, 'text/html', file('bills-air.html'));
    if (p === '/bills/forests') return send(res, 200, 'text/html', file('bills-forests.html'));
    // Bytes in windows-1252; the header names no charset, the page's <meta> does.
    if (p === '/latin') return send(res, 200, 'text/html', file('windows-1252.html'));
    // The header claims a charset that does not exist: the <meta> one is used.
    if (p === '/bogus-charset')
      return send(res, 200, 'text/html; charset=x-no-such-charset', file('windows-1252.html'));
    if (p === '/private/secret') return send(res, 200, 'text/html', '<p>robots.txt forbids this</p>');
    if (p === '/changing') {
      visitors++;
      const etag = `"${createHash('sha1').update(changing).digest('hex').slice(0, 16)}"`;
      if (req.headers['if-none-match'] === etag) {
        hits.notModified++;
        res.writeHead(304, { etag });
        return res.end();
      }
      hits.full++;
      const html = `<!doctype html><html><head><title>Notices</title></head><body><nav>NAVLINK Home</nav>
<div id="notice"><h1>Public notice</h1><p>${changing}</p><p class="meta">Last updated: ${new Date().toISOString()} · Visitors: ${visitors}</p></div>
<footer>Footer</footer></body></html>`;
      return send(res, 200, 'text/html; charset=utf-8', html, { etag });
    }
    if (p === '/r/1') return send(res, 302, 'text/plain', '', { location: '/r/2' });
    if (p === '/r/2') return send(res, 301, 'text/plain', '', { location: `${base}/r/3` });
    if (p === '/r/3') return send(res, 307, 'text/plain', '', { location: '/article' });
    if (p === '/r/loop')
      return send(res, 302, 'text/plain', '', { location: `/r/loop?n=${Number(url.searchParams.get('n') ?? 0) + 1}` });
    if (p === '/r/loopback') return send(res, 302, 'text/plain', '', { location: `http://127.0.0.1:${port}/article` });
    if (p === '/r/metadata')
      return send(res, 302, 'text/plain', '', { location: 'http://169.254.169.254/latest/meta-data/iam/' });
    if (p === '/huge') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.write('<html><body><article><h1>Huge</h1>');
      const para = `<p>${'lorem ipsum dolor sit amet '.repeat(40)}</p>\n`;
      for (let i = 0; i < 6000; i++) res.write(para); // ~6.5 MB
      return res.end('</article></body></html>');
    }
    if (p === '/doc.pdf') return send(res, 200, 'application/pdf', Buffer.from('%PDF-1.4\n%fake\n'));
    if (p === '/image.png') return send(res, 200, 'image/png', Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    if (p === '/data.json')
      return send(res, 200, 'application/json', '{"bills":[{"id":"SB 112","status":"committee"}]}');
    if (p === '/slow') {
      const t = setTimeout(() => send(res, 200, 'text/html', '<p>late</p>'), 3000);
      res.on('close', () => clearTimeout(t));
      return;
    }
    if (p === '/gone') return send(res, 404, 'text/html', '<h1>Not here</h1>');
    if (p === '/searxng-nojson/search') return send(res, 403, 'text/html', '<h1>403 Forbidden</h1>');
    if (p === '/searxng/search') {
      if (url.searchParams.get('format') !== 'json') return send(res, 403, 'text/html', 'Forbidden');
      return send(res, 200, 'application/json', recorded('searxng.json'));
    }
    if (p === '/brave/res/v1/web/search') {
      if (!req.headers['x-subscription-token']) return send(res, 401, 'application/json', '{"error":"no token"}');
      return send(res, 200, 'application/json', recorded('brave.json'));
    }
    if (p === '/tavily/search' && req.method === 'POST') {
      if (!String(req.headers.authorization ?? '').startsWith('Bearer '))
        return send(res, 401, 'application/json', '{}');
      return send(res, 200, 'application/json', recorded('tavily.json'));
    }
    return send(res, 404, 'text/plain', 'no such fixture');
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  base = `http://${FIXTURE_HOST}:${port}`;

  const resolver: Resolver = async (hostname) => {
    if (hostname === FIXTURE_HOST) return [{ address: '127.0.0.1', family: 4 }];
    const entry = names[hostname];
    if (entry) return entry.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  };

  return {
    base,
    port,
    requests,
    resolver,
    setChanging(text) {
      changing = text;
    },
    changingHits: () => ({ ...hits }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
