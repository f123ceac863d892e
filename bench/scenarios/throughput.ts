// Scenarios 4 and 5: end-to-end throughput, submit -> final notification, for 1-step and 10-subtask (fan-out/join) tasks.
import type { BenchHub } from '../lib/bench-hub.ts';
import { benchOrigin } from '../lib/bench-frontend.ts';
import { cpuWindow } from '../lib/env.ts';
import { nowMs, pool, round } from '../lib/stats.ts';

/** CPU ms per task of each group, and their sum as `total`. */
export function perTask(cpuMs: Record<string, number>, tasks: number): Record<string, number> {
  const split = Object.fromEntries(Object.entries(cpuMs).map(([k, v]) => [k, round(v / Math.max(1, tasks), 2)]));
  return { ...split, total: round(Object.values(cpuMs).reduce((a, b) => a + b, 0) / Math.max(1, tasks), 2) };
}

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
  await steadyState(h, opts);
  const ids: string[] = [];
  const endCpu = await cpuWindow(h.db.schema!, opts.workerPids);
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
  const split = await endCpu();
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
    cpuMsPerTask: perTask(split, completed),
  };
}

/**
 * Brings the hub to a steady state before it is measured: a tenth of the run's tasks (at most 200) end to end, then
 * the schema's statistics. A running system has them (autovacuum analyzes a table within a minute of a tenth of it
 * changing); a fresh schema has none, and the plans the hub's prepared statements cache on their first calls would
 * stay those made for empty tables (sequential and status-index scans that grow with the table) for the whole run.
 */
async function steadyState(
  h: BenchHub,
  opts: { label: string; tasks: number; text: (i: number) => string; timeoutMs?: number },
): Promise<void> {
  const ids: string[] = [];
  await pool(Math.min(200, Math.ceil(opts.tasks / 10)), 32, async (i) => {
    ids.push(
      (await h.hub.tasks.submit({ origin: benchOrigin(`${opts.label}warm${i}`, i), text: opts.text(i) })).task.id,
    );
  });
  if (!(await h.finals.waitFor(ids, opts.timeoutMs ?? 120_000))) throw new Error(`${opts.label}: warm-up timed out`);
  await h.db.pool.query('analyze');
}
