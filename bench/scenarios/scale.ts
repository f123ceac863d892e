// Scenario 6: hundreds of workers (many WorkerRuntime per process, mixed patterns) and thousands of queued tasks:
// routing stays correct, nothing is lost, hub memory stays bounded, per-task registry/dispatch cost stays flat.
import { matchesAny } from '../../src/core/capability-pattern.ts';
import type { BenchHub } from '../lib/bench-hub.ts';
import { benchOrigin } from '../lib/bench-frontend.ts';
import type { BenchEnv } from '../lib/env.ts';
import { PoolClient } from '../lib/pool-client.ts';
import { REDIS_URL } from '../lib/env.ts';
import { RedisCounter } from '../lib/redis-counter.ts';
import { debug, nowMs, pool, round, sleep, summarize } from '../lib/stats.ts';
import { SCALE_CAPABILITIES, type RuntimeSpec } from '../worker-pool.ts';

/** Per-task hub cost of submitting (plan, persist, registry check, enqueue) at one worker count. */
export interface CostAtWorkers {
  workers: number;
  submitMsP50: number;
  submitMsMean: number;
  /** Hub process CPU per task while submitting one at a time (includes applying results and notifying). */
  hubCpuMsPerTask: number;
  /** Redis commands the hub sent on its main connection per task (submit, registry check, enqueue, notify, publish). */
  hubRedisPerTask: number;
  /** Bytes the hub read from Redis on its main connection per task: grows if any per-task read scales with the workers. */
  hubRedisKbReadPerTask: number;
  /** SQL statements per task (all of the task's, submit to final notification). */
  sqlPerTask: number;
}

/** What the scale scenario measured. */
export interface ScaleResult {
  /** The hub process's V8 flags (set by bench/run.ts). */
  nodeFlags?: string[];
  /** Environment the hub process ran with beyond the bench's own (the deployment's malloc setting). */
  hubEnv?: Record<string, string>;
  processes: number;
  workers: number;
  patternGroups: string[][];
  requestedTasks: number;
  tasks: number;
  scaledDown: boolean;
  seconds: number;
  tasksPerSec: number;
  completed: number;
  lost: number;
  checkedSubtasks: number;
  misrouted: number;
  /** Up to 5 offending rows, for diagnosis. */
  misroutedSamples: unknown[];
  /** Subtasks whose result the reconciler applied (their worker_id reads "reconciler"). */
  appliedByReconciler: number;
  hubRssMaxMb: number;
  /** Most tasks of the big batch submitted and not yet finished at once (the batch is submitted with its queues paused). */
  maxInFlight: number;
  /** Hub RSS (max) while all of the big batch was in flight, before its queues were resumed. */
  hubRssAtMaxInFlightMb: number;
  /** Hub heap after a full GC with all of the big batch in flight. */
  hubHeapInFlightAfterGcMb: number;
  /** RSS when the hub had started, before any worker or task. */
  hubRssStartMb: number;
  /** Largest V8 heap in use seen. */
  hubHeapMaxMb: number;
  /** Heap in use after the run and a forced full GC: what the hub actually retains. */
  hubHeapAfterGcMb: number;
  redisClients: number;
  redisMaxClients: number;
  costByWorkers: CostAtWorkers[];
}

const GROUPS = [['scale.alpha'], ['scale.{beta,delta}'], ['scale.gamma.*'], ['scale.*']];

/** How to run the scale scenario; `tasks` is the size of the big batch. */
export interface ScaleOptions {
  tasks: number;
  requestedTasks: number;
  processes: number;
  levels: number[];
  quick: boolean;
}

/** The hub's memory with the whole big batch in flight: reported as soon as known, so a run that times out later keeps it. */
export interface InFlightMemory {
  maxInFlight: number;
  hubRssMb: number;
  hubHeapMb: number;
  /** Heap in use after a full GC with the whole batch in flight: what the in-flight tasks really hold. */
  hubHeapAfterGcMb: number;
}

/** Runs the scale scenario on a hub in this process (see bench/scale-child.ts). */
export async function runScale(
  env: BenchEnv,
  h: BenchHub,
  opts: ScaleOptions,
  onInFlight: (m: InFlightMemory) => void = () => {},
): Promise<ScaleResult> {
  const pools = Array.from({ length: opts.processes }, () => new PoolClient(env, h.prefix));
  let rssMax = 0;
  let heapMax = 0;
  let maxInFlight = 0;
  const ids: string[] = [];
  let finished = 0;
  const rssStart = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    rssMax = Math.max(rssMax, m.rss);
    heapMax = Math.max(heapMax, m.heapUsed);
    maxInFlight = Math.max(maxInFlight, ids.length - finished);
  }, 200);
  const specs: RuntimeSpec[] = [];
  const patternsOf = new Map<string, string[]>();
  try {
    const costByWorkers: CostAtWorkers[] = [];
    for (const level of opts.levels) {
      const batch: RuntimeSpec[][] = pools.map(() => []);
      for (let i = specs.length; i < level; i++) {
        const spec: RuntimeSpec = {
          id: `sw-${i}`,
          patterns: GROUPS[Math.floor(i / opts.processes) % GROUPS.length]!,
          concurrency: 2,
        };
        specs.push(spec);
        patternsOf.set(spec.id, spec.patterns);
        batch[i % opts.processes]!.push(spec);
      }
      debug(`starting workers up to ${level}`);
      await Promise.all(pools.map((p, k) => (batch[k]!.length ? p.add(batch[k]!) : Promise.resolve())));
      await env.waitForWorkers(h.prefix, level);
      debug(`${level} workers registered`);
      costByWorkers.push(await submitCost(h, level, opts.quick ? 100 : 200));
    }
    const info = await env.redis.info('clients');
    const redisClients = Number(/connected_clients:(\d+)/.exec(info)?.[1] ?? 0);
    const redisMaxClients = Number(/maxclients:(\d+)/.exec(info)?.[1] ?? 0);

    // The big batch, submitted with its queues paused, so that all of it is in flight at once (the hub's memory
    // with that many tasks open), then resumed and run to the end.
    debug(`big batch of ${opts.tasks}`);
    const queues = SCALE_CAPABILITIES.map((c) => h.hub.ctx.queues.forCapability(c));
    await Promise.all(queues.map((q) => q.pause()));
    const batch = new Set<string>();
    const stopCounting = h.frontend.listen((d) => {
      if (d.op === 'send' && (d.message.kind === 'result' || d.message.kind === 'failure'))
        if (batch.delete(d.message.taskId)) finished++;
    });
    await pool(opts.tasks, 32, async (i) => {
      const cap = SCALE_CAPABILITIES[i % SCALE_CAPABILITIES.length]!;
      const id = (await h.hub.tasks.submit({ origin: benchOrigin(`s${i}`, i), text: `use ${cap}: item ${i}` })).task.id;
      ids.push(id);
      batch.add(id);
    });
    await sleep(1000); // the acknowledgements go out and the sampler sees the whole batch in flight
    const rssAtMaxInFlight = rssMax;
    // What the hub retains with all of it in flight (the peak above includes garbage not yet collected).
    (globalThis as { gc?: () => void }).gc?.();
    const heapInFlightAfterGc = process.memoryUsage().heapUsed;
    onInFlight({
      maxInFlight,
      hubRssMb: round(rssMax / 2 ** 20, 0),
      hubHeapMb: round(heapMax / 2 ** 20, 0),
      hubHeapAfterGcMb: round(heapInFlightAfterGc / 2 ** 20, 0),
    });
    const t0 = nowMs();
    await Promise.all(queues.map((q) => q.resume()));
    await h.finals.waitFor(ids, 300_000);
    stopCounting();
    const seconds = (Math.max(...ids.map((id) => h.finals.finals.get(id) ?? nowMs())) - t0) / 1000;

    // Verification from Postgres (the source of truth): every subtask ran on a worker whose patterns match.
    const rows = await h.db.db
      .selectFrom('subtasks')
      .select(['id', 'capability', 'worker_id', 'output', 'status', 'attempts'])
      .execute();
    let misrouted = 0;
    let appliedByReconciler = 0;
    const misroutedSamples: unknown[] = [];
    for (const r of rows) {
      const reported = (r.output as { worker?: string } | null)?.worker;
      // A result the reconciler applied from Redis (the results queue was behind) records worker_id "reconciler";
      // the worker that ran it is then the one its output names.
      const ranOn = r.worker_id === 'reconciler' ? reported : r.worker_id;
      if (r.worker_id === 'reconciler') appliedByReconciler++;
      const patterns = patternsOf.get(ranOn ?? '');
      if (!patterns || !matchesAny(patterns, r.capability) || reported !== ranOn) {
        misrouted++;
        if (misroutedSamples.length < 5)
          misroutedSamples.push({ ...r, patterns, reportedPatterns: patternsOf.get(reported ?? '') });
      }
    }
    const completed = ids.filter((id) => h.finals.finals.has(id)).length;
    // Lost: any task of this hub (the big batch and the cost probes) not COMPLETED with its final message delivered.
    const tasks = await h.db.db
      .selectFrom('tasks')
      .select((eb) => [
        eb.fn.countAll<string>().as('all'),
        eb.fn
          .countAll<string>()
          .filterWhere((w) => w.and([w('status', '=', 'COMPLETED'), w('final_notified', '=', true)]))
          .as('done'),
      ])
      .executeTakeFirstOrThrow();
    const lost = Number(tasks.all) - Number(tasks.done);
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const heapAfterGc = process.memoryUsage().heapUsed;
    return {
      processes: opts.processes,
      workers: specs.length,
      patternGroups: GROUPS,
      requestedTasks: opts.requestedTasks,
      tasks: opts.tasks,
      scaledDown: opts.tasks < opts.requestedTasks,
      seconds: round(seconds, 1),
      tasksPerSec: round(completed / seconds, 1),
      completed,
      lost,
      checkedSubtasks: rows.length,
      misrouted,
      misroutedSamples,
      appliedByReconciler,
      hubRssMaxMb: round(rssMax / 2 ** 20, 0),
      maxInFlight,
      hubRssAtMaxInFlightMb: round(rssAtMaxInFlight / 2 ** 20, 0),
      hubHeapInFlightAfterGcMb: round(heapInFlightAfterGc / 2 ** 20, 0),
      hubRssStartMb: round(rssStart / 2 ** 20, 0),
      hubHeapMaxMb: round(heapMax / 2 ** 20, 0),
      hubHeapAfterGcMb: round(heapAfterGc / 2 ** 20, 0),
      redisClients,
      redisMaxClients,
      costByWorkers,
    };
  } finally {
    clearInterval(sampler);
    await Promise.all(pools.map((p) => p.stop()));
  }
}

/** Submits `n` one-step tasks one after another and reports the hub's time and CPU per submit. */
async function submitCost(h: BenchHub, workers: number, n: number): Promise<CostAtWorkers> {
  const lat: number[] = [];
  const warm: string[] = [];
  const ids: string[] = [];
  // Warm-up: the new workers' one-time registration read (the hub's worker directory re-reads every
  // WORKER_HEARTBEAT_MS) happens here, so the window below shows the steady per-task cost.
  const warmUntil = Date.now() + h.config.WORKER_HEARTBEAT_MS + 1000;
  for (let i = 0; i < 20; i++)
    warm.push(
      (await h.hub.tasks.submit({ origin: benchOrigin('w', i), text: `use scale.alpha: warm ${workers}.${i}` })).task
        .id,
    );
  await h.finals.waitFor(warm, 30_000);
  await sleep(Math.max(0, warmUntil - Date.now()));
  warm.push(
    (await h.hub.tasks.submit({ origin: benchOrigin('w', 0), text: `use scale.alpha: warm ${workers}.last` })).task.id,
  );
  await h.finals.waitFor(warm, 30_000);
  const hubSource = `${h.hub.ctx.redis.stream.localAddress}:${h.hub.ctx.redis.stream.localPort}`;
  const redis = await RedisCounter.start(REDIS_URL, `${h.prefix}:`);
  await sleep(200);
  redis.reset();
  h.db.counter.reset();
  const stream = h.hub.ctx.redis.stream;
  const read0 = stream.bytesRead;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const cap = SCALE_CAPABILITIES[i % SCALE_CAPABILITIES.length]!;
    const t = performance.now();
    ids.push(
      (await h.hub.tasks.submit({ origin: benchOrigin('w', i), text: `use ${cap}: cost ${workers}.${i}` })).task.id,
    );
    lat.push(performance.now() - t);
  }
  await h.finals.waitFor(ids, 60_000);
  const cpu = process.cpuUsage(cpu0);
  const hubRedis = redis.fromSource(hubSource);
  const hubRead = stream.bytesRead - read0;
  const sql = h.db.counter.snapshot().statements;
  redis.stop();
  const s = summarize(lat);
  return {
    workers,
    submitMsP50: s.p50,
    submitMsMean: s.mean,
    hubCpuMsPerTask: round((cpu.user + cpu.system) / 1000 / n, 3),
    hubRedisPerTask: round(hubRedis / n, 2),
    hubRedisKbReadPerTask: round(hubRead / 1024 / n, 2),
    sqlPerTask: round(sql / n, 2),
  };
}
