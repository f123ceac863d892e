// The SSRF guard with a fake DNS resolver: every refused address form, internal names, a public name resolving to a
// private address, FETCH_ALLOW_HOSTS, and the connection pinned to the checked address.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FetchRefused, refusedAddressReason, SsrfGuard } from '../src/workers/capabilities/web/ssrf-guard.ts';
import { WebClient } from '../src/workers/capabilities/web/web-client.ts';
import { FIXTURE_HOST, startWebFixtures, type WebFixtures } from './fakes/web-fixtures.ts';

const names: Record<string, string[]> = {
  'public.example': ['93.184.216.34'],
  'rebind.example': ['93.184.216.34', '10.0.0.7'],
  'private.example': ['192.168.1.20'],
  'v6private.example': ['fd00::5'],
  'mapped.example': ['::ffff:127.0.0.1'],
  'cgnat.example': ['100.64.3.4'],
  'meta.example': ['169.254.169.254'],
};

const fake = async (hostname: string) => {
  const entry = names[hostname];
  if (!entry) throw Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return entry.map((address) => ({ address, family: (address.includes(':') ? 6 : 4) as 4 | 6 }));
};

describe('refused literal addresses', () => {
  const guard = new SsrfGuard({ resolver: fake });
  const refused = [
    'http://127.0.0.1/',
    'http://127.1.2.3:8080/x',
    'http://0.0.0.0/',
    'http://10.1.2.3/',
    'http://172.16.5.4/',
    'http://192.168.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://100.64.0.1/',
    'http://224.0.0.1/',
    'http://255.255.255.255/',
    'http://[::1]/',
    'http://[::]/',
    'http://[fe80::1]/',
    'http://[fd12:3456::1]/',
    'http://[ff02::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:8.8.8.8]/',
    'http://0x7f.1/',
    'http://2130706433/',
    'http://0177.0.0.1/',
    'http://127.1/',
    'http://0x7f000001/',
    'http://localhost/',
    'http://LOCALHOST./',
    'http://api.localhost/',
    'http://printer.local/',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://db.internal/',
    'file:///etc/passwd',
    'ftp://example.org/',
    'gopher://example.org/',
    'http://user:pw@example.org/',
    'not a url',
  ];
  for (const url of refused) {
    it(`refuses ${url}`, () => {
      expect(() => guard.checkUrl(url)).toThrow(FetchRefused);
    });
  }

  it('says why in plain words', () => {
    expect(() => guard.checkUrl('http://0x7f.1/')).toThrow(/legacy form/);
    expect(() => guard.checkUrl('http://169.254.169.254/')).toThrow(/linkLocal/);
    expect(() => guard.checkUrl('http://[::ffff:127.0.0.1]/')).toThrow(/IPv4-mapped/);
    expect(() => guard.checkUrl('http://metadata.google.internal/')).toThrow(/internal host name/);
    expect(refusedAddressReason('8.8.8.8')).toBeNull();
    expect(refusedAddressReason('2001:4860:4860::8888')).toBeNull();
  });

  it('accepts public literals and names', () => {
    expect(guard.checkUrl('https://93.184.216.34/a?b=c').hostname).toBe('93.184.216.34');
    expect(guard.checkUrl('http://[2001:4860:4860::8888]/').hostname).toBe('[2001:4860:4860::8888]');
    expect(guard.checkUrl('https://example.org/path').hostname).toBe('example.org');
  });
});

describe('DNS answers', () => {
  const guard = new SsrfGuard({ resolver: fake });
  it('accepts a name whose every answer is public', async () => {
    await expect(guard.resolve('public.example')).resolves.toEqual([{ address: '93.184.216.34', family: 4 }]);
  });
  for (const name of ['private.example', 'v6private.example', 'mapped.example', 'cgnat.example', 'meta.example']) {
    it(`refuses ${name}, a public-looking name resolving to a private address`, async () => {
      await expect(guard.resolve(name)).rejects.toThrow(FetchRefused);
    });
  }
  it('refuses a name when any one answer is private', async () => {
    await expect(guard.resolve('rebind.example')).rejects.toThrow(/10\.0\.0\.7/);
  });
  it('an unknown name is a permanent refusal', async () => {
    await expect(guard.resolve('nowhere.example')).rejects.toThrow(/does not exist/);
  });
});

describe('FETCH_ALLOW_HOSTS', () => {
  it('opens a named host whatever it resolves to, and an IP entry by address only', async () => {
    const guard = new SsrfGuard({ resolver: fake, allowHosts: ['private.example', '10.0.0.7'] });
    await expect(guard.resolve('private.example')).resolves.toHaveLength(1);
    expect(guard.checkUrl('http://10.0.0.7:8080/').hostname).toBe('10.0.0.7');
    // rebind.example resolves to a public address and the opened 10.0.0.7: both pass.
    await expect(guard.resolve('rebind.example')).resolves.toHaveLength(2);
    expect(() => guard.checkUrl('http://10.0.0.8/')).toThrow(FetchRefused);
    await expect(guard.resolve('meta.example')).rejects.toThrow(FetchRefused);
  });
});

describe('the client pins connections to the checked address', () => {
  let fx: WebFixtures;
  const client = (allowHosts: string[], resolver = (h: string) => fx.resolver(h)) =>
    new WebClient({
      guard: new SsrfGuard({ allowHosts, resolver }),
      maxBytes: 1_000_000,
      userAgent: 'TestBot/1.0',
      respectRobots: false,
      connectTimeoutMs: 2000,
      headersTimeoutMs: 2000,
      bodyTimeoutMs: 2000,
      totalTimeoutMs: 5000,
      hostDelayMs: 0,
    });
  beforeAll(async () => {
    fx = await startWebFixtures();
  });
  afterAll(async () => {
    await fx.close();
  });

  it('reaches the fixture host only because FETCH_ALLOW_HOSTS names it', async () => {
    const open = client([FIXTURE_HOST]);
    const res = await open.get(`${fx.base}/article`);
    expect(res.status).toBe(200);
    await open.close();
    const closed = client([]);
    await expect(closed.get(`${fx.base}/article`)).rejects.toThrow(/resolves to 127\.0\.0\.1 is a loopback/);
    await closed.close();
  });

  it('connects to the address the guard checked, not to a second DNS answer', async () => {
    // The name answers a public address to the first query and loopback afterwards (DNS rebinding): the connection
    // uses the answer the guard checked at connect time, so the loopback answer is refused, never connected to.
    let calls = 0;
    const rebinding = async (h: string) => {
      calls++;
      return h === 'flip.example'
        ? [{ address: calls === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 as const }]
        : fx.resolver(h);
    };
    const c = client([], rebinding);
    expect(c.opts.guard.checkUrl(`http://flip.example:${fx.port}/article`).hostname).toBe('flip.example');
    await c.opts.guard.resolve('flip.example');
    await expect(c.get(`http://flip.example:${fx.port}/article`)).rejects.toThrow(FetchRefused);
    expect(fx.requests.some((r) => r.headers.host?.startsWith('flip.example'))).toBe(false);
    await c.close();
  });

  it('re-checks every redirect: to 127.0.0.1 and to the metadata address are refused', async () => {
    const c = client([FIXTURE_HOST]);
    await expect(c.get(`${fx.base}/r/loopback`)).rejects.toThrow(/127\.0\.0\.1.*loopback/);
    await expect(c.get(`${fx.base}/r/metadata`)).rejects.toThrow(/169\.254\.169\.254.*linkLocal/);
    await expect(c.get(`${fx.base}/r/loop`)).rejects.toThrow(/more than 5 times/);
    const ok = await c.get(`${fx.base}/r/1`);
    expect(ok.finalUrl).toBe(`${fx.base}/article`);
    await c.close();
  });
});
