// A Redis subscription held only while someone listens. Every event of every task is published on the events
// channel; a hub with no open stream or socket would receive each one only to drop it.
import type { Redis } from 'ioredis';

/** How long a listener waits for the subscription before it goes on without it (Redis down: live items are missed, as they would be anyway). */
const SUBSCRIBE_WAIT_MS = 3000;

/** Subscribes a subscriber connection to `channels` while at least one listener holds the subscription. */
export class DemandSubscription {
  private holders = 0;
  private subscribed: Promise<void> | undefined;

  constructor(
    private readonly sub: Redis,
    private readonly channels: string[],
  ) {}

  /** Counts a listener in; resolves once the channels are subscribed, so what is published from then on arrives. */
  async hold(): Promise<void> {
    this.holders++;
    const subscribing = (this.subscribed ??= this.sub.subscribe(...this.channels).then(
      () => {},
      () => {
        this.subscribed = undefined; // the next listener tries again
      },
    ));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([subscribing, new Promise((r) => (timer = setTimeout(r, SUBSCRIBE_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** Counts a listener out; the last one out unsubscribes. */
  release(): void {
    if (this.holders === 0 || --this.holders > 0) return;
    this.subscribed = undefined;
    void this.sub.unsubscribe(...this.channels).catch(() => {});
  }
}
