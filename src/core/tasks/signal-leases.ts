// Which hub applies a subtask's worker signals when several hubs subscribe to the signals channel: the first hub
// to see a signal of a subtask claims it with a short Redis lease and applies all its signals (in order, once);
// the others drop them. A hub remembers its answer until the lease is due for renewal, so a signal usually costs
// no Redis command at all (one EVALSHA per subtask and half lease). A stopping hub gives its leases back; if a hub
// dies, another takes over once its leases expire (signals in between are lost: progress, nothing durable).
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

/** Deletes each lease still held by `ARGV[1]`. */
const RELEASE = `
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('DEL', k) end
end
return 0`;

type Leasing = Redis & {
  sbClaimSignals(key: string, holder: string, ttlMs: number): Promise<number>;
  sbReleaseSignals(count: number, ...keysThenHolder: string[]): Promise<number>;
};

/** What a hub keeps per subtask with recent signals. */
interface Known {
  mine: boolean;
  /** Until when the answer holds without asking Redis. */
  until: number;
  /** The last stage recorded as a `progress.stage` event. */
  stage?: string | undefined;
}

/** Per-subtask signal leases of one hub process, with the last stage each subtask reported. */
export class SignalLeases {
  private readonly known = new Map<string, Known>();
  private nextSweep = 0;

  constructor(
    private readonly redis: Redis,
    /** Key prefix of the leases (the signals channel's name). */
    private readonly prefix: string,
    private readonly holder: string,
    private readonly ttlMs = 10_000,
  ) {
    if (!('sbClaimSignals' in redis)) {
      redis.defineCommand('sbClaimSignals', { numberOfKeys: 1, lua: CLAIM });
      redis.defineCommand('sbReleaseSignals', { lua: RELEASE });
    }
  }

  /** Whether this hub applies the signals of `subtaskId` now. */
  async claim(subtaskId: string): Promise<boolean> {
    const t = Date.now();
    const hit = this.known.get(subtaskId);
    if (hit && hit.until > t) return hit.mine;
    const left = await (this.redis as Leasing).sbClaimSignals(this.key(subtaskId), this.holder, this.ttlMs);
    const mine = left === 0;
    this.known.set(subtaskId, { mine, until: t + (mine ? this.ttlMs / 2 : left), stage: hit?.stage });
    this.sweep(t);
    return mine;
  }

  /** Records `stage` as the subtask's current one; true when it differs from the last recorded (an event is due). */
  stageChanged(subtaskId: string, stage: string): boolean {
    const k = this.known.get(subtaskId);
    if (k?.stage === stage) return false;
    if (k) k.stage = stage;
    else this.known.set(subtaskId, { mine: true, until: 0, stage });
    return true;
  }

  /** Forgets a finished subtask (its lease expires by itself). */
  forget(subtaskId: string): void {
    this.known.delete(subtaskId);
  }

  /** Gives back every lease this hub holds (on stop), so another hub takes the signals over at once. */
  async releaseAll(): Promise<void> {
    const keys = [...this.known].filter(([, k]) => k.mine).map(([id]) => this.key(id));
    this.known.clear();
    if (keys.length) await (this.redis as Leasing).sbReleaseSignals(keys.length, ...keys, this.holder);
  }

  private key(subtaskId: string): string {
    return `${this.prefix}:lease:${subtaskId}`;
  }

  /** Now and then drops what was not asked for a minute, so the map holds only subtasks with recent signals. */
  private sweep(t: number): void {
    if (t < this.nextSweep) return;
    this.nextSweep = t + 60_000;
    for (const [id, k] of this.known) if (k.until + 60_000 <= t) this.known.delete(id);
  }
}
