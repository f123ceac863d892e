// robots.txt per origin (robots-parser), fetched once and kept for an hour.
import robotsParserModule from 'robots-parser';

/** What robots.txt says about one URL. */
export interface RobotsVerdict {
  allowed: boolean;
  /** Crawl-delay for our agent, in milliseconds, when the site sets one. */
  delayMs?: number | undefined;
}

// The package is CommonJS (`module.exports = function`): the default import is the function itself.
const robotsParser = robotsParserModule as unknown as typeof robotsParserModule.default;
type Robot = ReturnType<typeof robotsParser>;

/** Fetches a robots.txt: status and text, or throws when the site cannot be reached. */
export type RobotsFetcher = (robotsUrl: string, signal?: AbortSignal) => Promise<{ status: number; text: string }>;

const TTL_MS = 3_600_000;
const MAX_ORIGINS = 1000;

/** Caches one parsed robots.txt per origin. 4xx = everything allowed; 5xx or unreachable = nothing (RFC 9309). */
export class RobotsCache {
  private readonly cache = new Map<string, { robot: Robot | 'allow-all' | 'deny-all'; at: number }>();

  constructor(
    private readonly fetcher: RobotsFetcher,
    private readonly userAgent: string,
  ) {}

  /** Whether our agent may fetch `url`, and the site's crawl delay. */
  async check(url: URL, signal?: AbortSignal): Promise<RobotsVerdict> {
    const robot = await this.robotOf(url.origin, signal);
    if (robot === 'allow-all') return { allowed: true };
    if (robot === 'deny-all') return { allowed: false };
    const delay = robot.getCrawlDelay(this.userAgent);
    return {
      allowed: robot.isAllowed(url.href, this.userAgent) !== false,
      delayMs: delay === undefined ? undefined : Math.min(delay, 30) * 1000,
    };
  }

  private async robotOf(origin: string, signal?: AbortSignal): Promise<Robot | 'allow-all' | 'deny-all'> {
    const hit = this.cache.get(origin);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.robot;
    const robotsUrl = `${origin}/robots.txt`;
    let robot: Robot | 'allow-all' | 'deny-all';
    try {
      const { status, text } = await this.fetcher(robotsUrl, signal);
      robot =
        status >= 200 && status < 300
          ? robotsParser(robotsUrl, text)
          : status >= 400 && status < 500
            ? 'allow-all'
            : 'deny-all';
    } catch (err) {
      if (signal?.aborted) throw err;
      robot = 'deny-all';
    }
    if (this.cache.size >= MAX_ORIGINS) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(origin, { robot, at: Date.now() });
    return robot;
  }
}
