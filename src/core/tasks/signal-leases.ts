// Which hub applies a subtask's worker signals when several hubs subscribe to the signals channel: the first hub
// to see a signal of a subtask claims it with a short Redis lease and applies all its signals (in order, once);
// the others drop them. A hub remembers its answer until the lease is due for renewal, so a signal usually costs
// no Redis command at all (one EVALSHA per subtask and half lease). If the holder dies, another hub takes over once
// the lease expires (signals in between are lost: they are progress, nothing durable).
import type { Redis } from 'ioredis';

/** Claims the lease for `ARGV[1]` or renews it when already held; returns 0 when held now, else the other's ms left. */
const CLAIM = `
local cur = redis.call('GET', KEYS[1])
if not cur or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 0
end
local left = redis.call('PTTL', KEYS[1])
if left < 1 then return 1 end
return left`;

type Claimer = Redis & { sbClaimSignals(key: string, holder: string, ttlMs: number): Promise<number> };

/** Per-subtask signal leases of one hub process. */
export class SignalLeases {
  private readonly known = new Map<string, { mine: boolean; until: number }>();
  private nextSweep = 0;

  constructor(
    private readonly redis: Redis,
    /** Key prefix of the leases (the signals channel's name). */
    private readonly prefix: string,
    private readonly holder: string,
    private readonly ttlMs = 10_000,
  ) {
    if (!('sbClaimSignals' in redis)) redis.defineCommand('sbClaimSignals', { numberOfKeys: 1, lua: CLAIM });
  }

  /** Whether this hub applies the signals of `subtaskId` now. */
  async claim(subtaskId: string): Promise<boolean> {
    const t = Date.now();
    const hit = this.known.get(subtaskId);
    if (hit && hit.until > t) return hit.mine;
    const left = await (this.redis as Claimer).sbClaimSignals(
      `${this.prefix}:lease:${subtaskId}`,
      this.holder,
      this.ttlMs,
    );
    const mine = left === 0;
    this.known.set(subtaskId, { mine, until: t + (mine ? this.ttlMs / 2 : left) });
    this.sweep(t);
    return mine;
  }

  /** Forgets a finished subtask (its lease expires by itself). */
  forget(subtaskId: string): void {
    this.known.delete(subtaskId);
  }

  /** Drops expired answers now and then, so the map holds only subtasks with recent signals. */
  private sweep(t: number): void {
    if (t < this.nextSweep) return;
    this.nextSweep = t + this.ttlMs;
    for (const [id, k] of this.known) if (k.until <= t) this.known.delete(id);
  }
}
