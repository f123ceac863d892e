// Latency summaries (sorted-array percentiles) and the small formatting helpers the report uses.

/** Percentiles of one latency distribution, in milliseconds. */
export interface LatencySummary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** p50/p95/p99/max/mean of a set of samples (ms), rounded to 0.01 ms. */
export function summarize(samples: number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  const mean = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : NaN;
  return {
    n: sorted.length,
    p50: r(percentile(sorted, 50)),
    p95: r(percentile(sorted, 95)),
    p99: r(percentile(sorted, 99)),
    max: r(sorted.at(-1) ?? NaN),
    mean: r(mean),
  };
}

/** "p50 1.2 / p95 3.4 / p99 5.6 ms (n=800)". */
export function fmtLatency(s: LatencySummary): string {
  return `p50 ${fmt(s.p50)} / p95 ${fmt(s.p95)} / p99 ${fmt(s.p99)} ms (n=${s.n})`;
}

/** A number with at most 3 significant decimals, thousands kept readable. */
export function fmt(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  return String(Math.round(x * 10 ** digits) / 10 ** digits);
}

/** Rounds to `digits` decimals (for the JSON file). */
export function round(x: number, digits = 2): number {
  return Math.round(x * 10 ** digits) / 10 ** digits;
}

/** High-resolution wall-clock milliseconds, comparable across processes on one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `everyMs` until it is truthy; throws with `what` after `timeoutMs`. */
export async function waitUntil<T>(
  check: () => Promise<T> | T,
  what: string,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Runs `fn(i)` for i in [0, n) with at most `limit` calls in flight. */
export async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
}

/** Calls `fn(i)` at a steady `perSecond` rate for `count` calls without waiting for them (open loop); resolves when all settle. `fn` gets the intended start time. */
export async function openLoop(
  count: number,
  perSecond: number,
  fn: (i: number, intendedAt: number) => Promise<void>,
): Promise<void> {
  const start = nowMs() + 5;
  const gap = 1000 / perSecond;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const at = start + i * gap;
    const wait = at - nowMs();
    if (wait > 0) await sleep(wait);
    inFlight.push(fn(i, at));
  }
  await Promise.all(inFlight);
}

/** Progress notes on stderr when BENCH_DEBUG is set. */
export function debug(msg: string): void {
  if (process.env.BENCH_DEBUG)
    process.stderr.write(`[bench debug ${process.pid} ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}
