// Success rate per capability and per worker over a sliding window, shared by every hub through Redis.
// The hot path only bumps in-memory counters; they are flushed to per-minute Redis hashes every few seconds.
import type { Redis } from 'ioredis';

/** Outcomes of one capability or worker in the window. */
export interface OutcomeStats {
  ok: number;
  failed: number;
  /** ok / (ok + failed), or null when nothing finished in the window. */
  rate: number | null;
}

/** Success rates by capability and by worker id. */
export interface SuccessRates {
  windowMinutes: number;
  capabilities: Record<string, OutcomeStats>;
  workers: Record<string, OutcomeStats>;
}

const MINUTE = 60_000;

/** Counts attempt outcomes into minute buckets (`<prefix>:ops:outcomes:<minute>`) and reads the last N minutes. */
export class SuccessWindow {
  private pending = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly windowMinutes = 15,
    private readonly flushMs = 2000,
  ) {}

  private key(minute: number): string {
    return `${this.prefix}:ops:outcomes:${minute}`;
  }

  /** Records one attempt outcome (a retry or dead letter counts as a failure). */
  record(capability: string, workerId: string | null, ok: boolean): void {
    const field = ok ? 'ok' : 'failed';
    this.bump(`c|${capability}|${field}`);
    if (workerId) this.bump(`w|${workerId}|${field}`);
    this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  private bump(field: string): void {
    this.pending.set(field, (this.pending.get(field) ?? 0) + 1);
  }

  /** Writes the buffered counts to Redis (one pipeline); errors drop the batch, which only costs precision. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const key = this.key(Math.floor(Date.now() / MINUTE));
    const p = this.redis.pipeline();
    for (const [field, n] of batch) p.hincrby(key, field, n);
    p.pexpire(key, (this.windowMinutes + 2) * MINUTE);
    await p.exec().catch(() => {});
  }

  /** Rates over the last `windowMinutes` minutes, this process's unflushed counts included. */
  async read(): Promise<SuccessRates> {
    await this.flush();
    const now = Math.floor(Date.now() / MINUTE);
    const p = this.redis.pipeline();
    for (let m = now - this.windowMinutes + 1; m <= now; m++) p.hgetall(this.key(m));
    const res = (await p.exec()) ?? [];
    const out: SuccessRates = { windowMinutes: this.windowMinutes, capabilities: {}, workers: {} };
    for (const [, hash] of res) {
      for (const [field, n] of Object.entries((hash ?? {}) as Record<string, string>)) {
        const [kind, name, outcome] = splitField(field);
        const into = kind === 'c' ? out.capabilities : out.workers;
        const s = (into[name] ??= { ok: 0, failed: 0, rate: null });
        if (outcome === 'ok') s.ok += Number(n);
        else s.failed += Number(n);
      }
    }
    for (const s of [...Object.values(out.capabilities), ...Object.values(out.workers)])
      s.rate = s.ok + s.failed === 0 ? null : s.ok / (s.ok + s.failed);
    return out;
  }

  /** Stops the flush timer after a last flush. */
  async stop(): Promise<void> {
    await this.flush();
  }
}

/** `c|web.fetch|ok` -> ['c', 'web.fetch', 'ok'] (names may contain `|`: the kind and outcome are at the ends). */
function splitField(field: string): [string, string, string] {
  const first = field.indexOf('|');
  const last = field.lastIndexOf('|');
  return [field.slice(0, first), field.slice(first + 1, last), field.slice(last + 1)];
}
