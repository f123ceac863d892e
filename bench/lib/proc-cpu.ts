// CPU time of processes on this machine (Linux /proc), to split a run's CPU between hub, workers, Redis and Postgres.
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** CPU milliseconds (user + system) of one pid, or 0 when it is gone or /proc is unavailable. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** Pids whose command name (comm) is one of `names`. */
export function pidsNamed(...names: string[]): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .filter((pid) => {
        try {
          return names.includes(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}

/** The pids of each process group at one moment; a group is re-read at each end of a window (backends come and go). */
export type PidGroups = Record<string, number[]>;

/** CPU ms of every pid of every group, at one moment. */
export type CpuSnapshot = Record<string, Map<number, number>>;

/** CPU ms of every pid of each group now. */
export function cpuSnapshot(groups: PidGroups): CpuSnapshot {
  return Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, new Map(pids.map((p) => [p, cpuMsOf(p)]))]));
}

/**
 * CPU ms each group used between two snapshots. A pid first seen at the end (a pool connection opened during
 * the window) counts from zero; a pid gone by the end is lost (its CPU cannot be read any more).
 */
export function cpuUsedBetween(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after).map(([k, pids]) => [
      k,
      [...pids].reduce((a, [pid, ms]) => a + Math.max(0, ms - (before[k]?.get(pid) ?? 0)), 0),
    ]),
  );
}

function readStat(pid: number): { ppid: number; comm: string; cpuMs: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    return {
      ppid: Number(fields[1]),
      comm: stat.slice(stat.indexOf('(') + 1, close),
      cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS,
    };
  } catch {
    return null;
  }
}

/**
 * Samples, once a second, the CPU used by processes that are not this benchmark's (this process and its
 * descendants) nor Redis or Postgres: another test suite on the same 2 cores makes the numbers noisy.
 */
export class ForeignCpuMonitor {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor() {
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), 1000);
    this.timer.unref();
  }

  /** Foreign CPU milliseconds since the monitor started. */
  foreignMs(): number {
    this.sample(false);
    let ms = 0;
    for (const [pid, v] of this.last) ms += v - (this.first.get(pid) ?? 0);
    return ms;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(initial: boolean): void {
    let pids: number[];
    try {
      pids = readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .map(Number);
    } catch {
      return;
    }
    const stats = new Map(
      pids.flatMap((p) => {
        const s = readStat(p);
        return s ? [[p, s] as const] : [];
      }),
    );
    const ours = new Set([process.pid]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, s] of stats)
        if (!ours.has(pid) && ours.has(s.ppid)) {
          ours.add(pid);
          grew = true;
        }
    }
    for (const [pid, s] of stats) {
      if (ours.has(pid) || s.comm === 'redis-server' || s.comm === 'postgres' || pid === 1) continue;
      if (!this.first.has(pid)) this.first.set(pid, initial ? s.cpuMs : 0);
      this.last.set(pid, s.cpuMs);
    }
  }
}
