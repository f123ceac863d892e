// CPU time of processes on this machine (Linux /proc), to split a run's CPU between hub, workers, Redis and Postgres.
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU milliseconds (user + system) of one pid, or 0 when it is gone or /proc is unavailable. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch { return 0; }
}

/** Pids whose command name (comm) is one of `names`. */
export function pidsNamed(...names: string[]): number[] {
  try {
    return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
      try { return names.includes(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()); } catch { return false; }
    });
  } catch { return []; }
}

/** Snapshot of CPU ms per group; `diff` gives the CPU each group used in between. */
export function cpuSnapshot(groups: Record<string, number[]>): Record<string, number> {
  return Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, pids.reduce((a, p) => a + cpuMsOf(p), 0)]));
}
