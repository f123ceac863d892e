// Scenarios 4 and 5: end-to-end throughput, submit -> final notification, for 1-step and 10-subtask (fan-out/join) tasks.
import type { BenchHub } from '../lib/bench-hub.ts';
import { benchOrigin } from '../lib/bench-frontend.ts';
import { cpuSnapshot, pidsNamed } from '../lib/proc-cpu.ts';
import { nowMs, pool, round } from '../lib/stats.ts';

/** What one throughput run measured. */
export interface ThroughputResult {
  tasks: number;
  subtasksPerTask: number;
  seconds: number;
  tasksPerSec: number;
  subtasksPerSec: number;
  /** Submissions per second while submitting (the hub also processes meanwhile). */
  submitPerSec: number;
  completed: number;
  hubCpuPct: number;
  /** CPU milliseconds per task by process group (Linux /proc): where the machine's 2 cores went. */
  cpuMsPerTask: Record<string, number>;
}

/** Submits `tasks` tasks (at most `inFlight` submit calls at once) and waits for every final message. */
export async function runThroughput(
  h: BenchHub,
  opts: {
    label: string;
    tasks: number;
    text: (i: number) => string;
    subtasksPerTask: number;
    workerPids?: number[];
    inFlight?: number;
    timeoutMs?: number;
  },
): Promise<ThroughputResult> {
  const ids: string[] = [];
  const groups = {
    hub: [process.pid],
    workers: opts.workerPids ?? [],
    redis: pidsNamed('redis-server'),
    postgres: pidsNamed('postgres'),
  };
  const split0 = cpuSnapshot(groups);
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  await pool(opts.tasks, opts.inFlight ?? 32, async (i) => {
    ids.push((await h.hub.tasks.submit({ origin: benchOrigin(`${opts.label}${i}`, i), text: opts.text(i) })).task.id);
  });
  const submitted = nowMs();
  const ok = await h.finals.waitFor(ids, opts.timeoutMs ?? 120_000);
  const last = Math.max(...ids.map((id) => h.finals.finals.get(id) ?? 0));
  const end = ok ? last : nowMs();
  const cpu = process.cpuUsage(cpu0);
  const split1 = cpuSnapshot(groups);
  const seconds = (end - t0) / 1000;
  const completed = ids.filter((id) => h.finals.finals.has(id)).length;
  return {
    tasks: opts.tasks,
    subtasksPerTask: opts.subtasksPerTask,
    seconds: round(seconds, 2),
    tasksPerSec: round(completed / seconds, 1),
    subtasksPerSec: round((completed * opts.subtasksPerTask) / seconds, 1),
    submitPerSec: round(opts.tasks / ((submitted - t0) / 1000), 1),
    completed,
    hubCpuPct: round(((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100, 0),
    cpuMsPerTask: Object.fromEntries(
      Object.keys(split0).map((k) => [k, round((split1[k]! - split0[k]!) / Math.max(1, completed), 2)]),
    ),
  };
}
