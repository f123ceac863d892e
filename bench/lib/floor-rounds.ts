// The durable floor and the end-to-end scenario run back to back in rounds: both sides of a round see the same
// machine, so a ratio is not skewed by the machine speeding up or slowing down between scenarios.
import type { DurableFloorResult } from '../scenarios/durable-floor.ts';
import type { ThroughputResult } from '../scenarios/throughput.ts';

/** A durable floor run and the end-to-end run right after it. */
export interface FloorRound {
  floor?: DurableFloorResult | undefined;
  e2e: ThroughputResult;
}

/** The ratio of a round's hub throughput to its floor's (NaN without a floor). */
export const roundRatio = (r: FloorRound): number => (r.floor ? r.e2e.tasksPerSec / r.floor.tasksPerSec : NaN);

/** The round whose ratio is the median (the lower middle one of an even count). */
export function medianRound(rounds: FloorRound[]): FloorRound {
  const sorted = [...rounds].sort((a, b) => roundRatio(a) - roundRatio(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}
