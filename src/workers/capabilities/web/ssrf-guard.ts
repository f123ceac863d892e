// The SSRF guard: which URLs, host names and addresses web capabilities may open, and a DNS lookup that checks
// every answer and pins the connection to the address it checked.
import { promises as dns } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { UnrecoverableError } from 'bullmq';

/** One DNS answer. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (injectable: tests use a fake resolver). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** A refused URL, host or address: permanent, so the step is not retried. */
export class FetchRefused extends UnrecoverableError {
  override name = 'FetchRefused';
}

/** The system resolver: every A and AAAA answer. */
export const systemResolver: Resolver = async (hostname) => {
  const all = await dns.lookup(hostname, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** Names that point inside by convention; refused whatever they resolve to. */
const INTERNAL_NAMES = [/^localhost$/, /\.localhost$/, /\.local$/, /\.internal$/, /^metadata$/, /^metadata\.google$/];

/** Decimal dotted quad, the only IPv4 spelling accepted in a URL. */
const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** What a WHATWG parser would read as an IPv4 address in another form: hex, octal, fewer than four parts. */
const LEGACY_IPV4 = /^(0x[0-9a-f]*|\d+)(\.(0x[0-9a-f]*|\d+)){0,3}\.?$/i;

/** Why an address may not be opened, or null when it is a public unicast address. */
export function refusedAddressReason(address: string): string | null {
  if (!ipaddr.isValid(address)) return `"${address}" is not an IP address`;
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    return `${address} is an IPv4-mapped IPv6 address`;
  }
  const range = ipaddr.process(address).range();
  if (range !== 'unicast') return `${address} is a ${range} address`;
  return null;
}

/** The guard's policy: hosts the operator opened (FETCH_ALLOW_HOSTS) and how names are resolved. */
export interface GuardOptions {
  /** Host names and IP addresses that are opened whatever they are (FETCH_ALLOW_HOSTS). */
  allowHosts?: string[];
  resolver?: Resolver;
}

/** Checks URLs, names and DNS answers, and builds the pinned lookup used by the HTTP client. */
export class SsrfGuard {
  private readonly allowNames: Set<string>;
  private readonly allowIps: Set<string>;
  readonly resolver: Resolver;

  constructor(opts: GuardOptions = {}) {
    const entries = (opts.allowHosts ?? []).map((h) => h.trim().toLowerCase().replace(/\.$/, '')).filter(Boolean);
    this.allowIps = new Set(entries.filter((h) => ipaddr.isValid(h)).map((h) => ipaddr.process(h).toString()));
    this.allowNames = new Set(entries.filter((h) => !ipaddr.isValid(h)));
    this.resolver = opts.resolver ?? systemResolver;
  }

  /** Whether an address is one the operator opened. */
  private allowedIp(address: string): boolean {
    return ipaddr.isValid(address) && this.allowIps.has(ipaddr.process(address).toString());
  }

  /**
   * Parses and checks a URL before anything is sent: http(s) only, no credentials, no legacy IPv4 spellings,
   * no internal names, no refused literal addresses (unless FETCH_ALLOW_HOSTS opens them). Throws FetchRefused.
   */
  checkUrl(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new FetchRefused(`"${raw.slice(0, 200)}" is not a valid URL.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new FetchRefused(`Only http and https URLs can be fetched, not ${url.protocol.replace(':', '')}.`);
    }
    if (url.username || url.password) throw new FetchRefused('URLs with a user name or password are not fetched.');
    // The host as written: the URL parser already turned 0x7f.1 into 127.0.0.1, so look at the original text.
    const written = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/i.exec(raw.trim())?.[1] ?? '';
    if (!written.startsWith('[') && LEGACY_IPV4.test(written) && !DOTTED_QUAD.test(written.replace(/\.$/, ''))) {
      throw new FetchRefused(`The host "${written}" is an IPv4 address in a legacy form; write it as a dotted quad.`);
    }
    this.checkHost(url.hostname);
    return url;
  }

  /** Checks a host name or literal address (as URL.hostname gives it). Throws FetchRefused. */
  checkHost(hostname: string): void {
    const host = hostname
      .toLowerCase()
      .replace(/^\[|\]$/g, '')
      .replace(/\.$/, '');
    if (this.allowNames.has(host)) return;
    if (ipaddr.isValid(host)) {
      if (this.allowedIp(host)) return;
      const why = refusedAddressReason(host);
      if (why) throw new FetchRefused(`Refused to fetch from ${hostname}: ${why}. Only public addresses are fetched.`);
      return;
    }
    if (INTERNAL_NAMES.some((re) => re.test(host))) {
      throw new FetchRefused(
        `Refused to fetch from ${hostname}: an internal host name. Only public hosts are fetched.`,
      );
    }
  }

  /** Resolves a name and checks every answer; returns the answers (all public, or all allowed). Throws FetchRefused. */
  async resolve(hostname: string): Promise<ResolvedAddress[]> {
    const host = hostname.toLowerCase().replace(/\.$/, '');
    this.checkHost(host);
    if (ipaddr.isValid(host)) return [{ address: host, family: ipaddr.parse(host).kind() === 'ipv6' ? 6 : 4 }];
    let answers: ResolvedAddress[];
    try {
      answers = await this.resolver(host);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENOTFOUND' || code === 'ENODATA') throw new FetchRefused(`The host ${hostname} does not exist.`);
      throw err;
    }
    if (answers.length === 0) throw new FetchRefused(`The host ${hostname} has no address.`);
    if (this.allowNames.has(host)) return answers;
    for (const a of answers) {
      if (this.allowedIp(a.address)) continue;
      const why = refusedAddressReason(a.address);
      if (why) throw new FetchRefused(`Refused to fetch from ${hostname}: it resolves to ${why}.`);
    }
    return answers;
  }

  /**
   * A `lookup` for net/tls connect (undici's `connect.lookup`): the connection goes to an address this guard has
   * just checked, so a second, different DNS answer (rebinding) can never be used.
   */
  readonly lookup = (
    hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    this.resolve(hostname).then(
      (answers) => {
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = wanted ? answers.filter((a) => a.family === wanted) : answers;
        if (usable.length === 0) {
          callback(Object.assign(new Error(`no IPv${wanted} address for ${hostname}`), { code: 'ENOTFOUND' }), '');
        } else if (options.all) {
          callback(null, usable);
        } else {
          callback(null, usable[0]!.address, usable[0]!.family);
        }
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, ''),
    );
  };
}
