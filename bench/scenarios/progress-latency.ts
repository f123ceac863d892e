// Scenario 3: from a worker's progress report (timestamped at progress.items()) to the frontend's edit of the progress message.
import type { BenchHub } from '../lib/bench-hub.ts';
import { benchOrigin } from '../lib/bench-frontend.ts';
import type { PoolClient } from '../lib/pool-client.ts';
import { nowMs, openLoop, summarize, type LatencySummary } from '../lib/stats.ts';

/** What the progress scenario measured. */
export interface ProgressLatencyResult {
  tasks: number;
  reportsPerTask: number;
  everyMs: number;
  reportsPerSec: number;
  latency: LatencySummary;
  edits: number;
  /** Reports whose state was never shown by a progress edit (superseded by the final message). */
  unseen: number;
}

/** Runs `tasks` bench.progress tasks, started at 20/s, each reporting `reports` times every `everyMs`. */
export async function runProgressLatency(
  h: BenchHub,
  pool: PoolClient,
  opts: { quick: boolean },
): Promise<ProgressLatencyResult> {
  const tasks = opts.quick ? 15 : 40;
  const reportsPerTask = opts.quick ? 30 : 60;
  const everyMs = 100;
  // Edits per task: [done, at] in delivery order, parsed from "… 12/60 items …".
  const edits = new Map<string, Array<[number, number]>>();
  const reports = new Map<string, Array<[number, number]>>();
  let editCount = 0;
  const stop = h.frontend.listen((d) => {
    if (d.op !== 'edit' || d.message.kind !== 'progress') return;
    const m = /(\d+)\/(\d+) items/.exec(d.message.text);
    if (!m) return;
    editCount++;
    const list = edits.get(d.message.taskId) ?? [];
    list.push([Number(m[1]), nowMs()]);
    edits.set(d.message.taskId, list);
  });
  pool.onReports((m) => reports.set(m.taskId, m.reports));
  const ids: string[] = [];
  const t0 = nowMs();
  await openLoop(tasks, 20, async (i) => {
    ids.push(
      (
        await h.hub.tasks.submit({
          origin: benchOrigin(`p${i}`, i),
          text: `use bench.progress: ${reportsPerTask}x${everyMs}`,
        })
      ).task.id,
    );
  });
  const ok = await h.finals.waitFor(ids, 60_000);
  const seconds = (nowMs() - t0) / 1000;
  stop();
  if (!ok) process.stderr.write('bench: some progress tasks did not finish in 60 s\n');
  const lat: number[] = [];
  let unseen = 0;
  const allAt = [...reports.values()].flatMap((r) => r.map(([, at]) => at));
  const span = allAt.length > 1 ? (Math.max(...allAt) - Math.min(...allAt)) / 1000 : seconds;
  for (const id of ids) {
    const seen = edits.get(id) ?? [];
    for (const [done, at] of reports.get(id) ?? []) {
      const edit = seen.find(([d, e]) => d >= done && e >= at);
      if (edit) lat.push(edit[1] - at);
      else unseen++;
    }
  }
  return {
    tasks,
    reportsPerTask,
    everyMs,
    reportsPerSec: Math.round(allAt.length / span),
    latency: summarize(lat),
    edits: editCount,
    unseen,
  };
}
