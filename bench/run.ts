// `npm run bench`: measures the hub against raw BullMQ on the same Redis, prints a table and writes
// bench/results/<YYYY-MM-DD>.json. A benchmark, not a test: it never fails on speed (exit 1 only on errors).
//   --quick            smaller samples (a smoke run of the benchmark itself)
//   --only=1,2,6       run only these scenarios
//   --scale-tasks=N    size of the scale scenario's batch (default 10000, scaled down to the time budget)
//   --no-write         print only
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startBenchHub, type BenchHub } from './lib/bench-hub.ts';
import { BenchEnv, DATABASE_URL } from './lib/env.ts';
import { TimingPlanner } from './lib/instrument.ts';
import { PoolClient } from './lib/pool-client.ts';
import { renderMarkdown, renderTable, renderTargets } from './lib/report.ts';
import { round } from './lib/stats.ts';
import { runBaseline, type BaselineResult } from './scenarios/baseline.ts';
import { runCost, type CostResult } from './scenarios/cost.ts';
import { runDurableFloor, type DurableFloorResult } from './scenarios/durable-floor.ts';
import { medianRound, type FloorRound } from './lib/floor-rounds.ts';
import { runProgressLatency, type ProgressLatencyResult } from './scenarios/progress-latency.ts';
import type { InFlightMemory, ScaleOptions, ScaleResult } from './scenarios/scale.ts';
import type { ScaleCommand, ScaleReply } from './scale-child.ts';
import { runSubmitLatency, type SubmitLatencyResult } from './scenarios/submit-latency.ts';
import { runThroughput, type ThroughputResult } from './scenarios/throughput.ts';
import { runLlmPlanner, type LlmPlannerResult } from './scenarios/llm-planner.ts';
import { buildRows } from './lib/rows.ts';
import { bundleScript } from './lib/bundle.ts';
import { ForeignCpuMonitor } from './lib/proc-cpu.ts';

const args = process.argv.slice(2);
const flag = (name: string) => args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`))?.split('=')[1];
const quick = args.includes('--quick');
const only = flag('only')?.split(',').map(Number);
const want = (n: number) => !only || only.includes(n);
const requestedScaleTasks = Number(flag('scale-tasks') ?? (quick ? 1000 : 10_000));

/**
 * Rounds of the floor and the end-to-end scenario, back to back. On the 2-core machines single rounds' ratios spread
 * by ±10 % (0.447–0.572 within one run of the same code); the median of five moves less than that of three.
 */
const FLOOR_ROUNDS = 5;

/** Everything one run produced. */
export interface BenchResults {
  baseline?: BaselineResult;
  floor?: DurableFloorResult;
  submit?: SubmitLatencyResult;
  progress?: ProgressLatencyResult;
  e2e?: ThroughputResult;
  /** Durable floor and end-to-end runs back to back (`floor` and `e2e` are the round with the median ratio). */
  rounds?: FloorRound[];
  dag?: ThroughputResult;
  scale?: ScaleResult;
  /** The scale run's hub memory with its whole batch in flight (kept when the run fails later). */
  scaleInFlight?: InFlightMemory;
  cost?: CostResult;
  llm?: LlmPlannerResult;
}

const log = (s: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const env = new BenchEnv();
let cleaning: Promise<void> | undefined;
const cleanup = () => (cleaning ??= env.cleanup());
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}
// A crash anywhere still stops the spawned workers and removes the run's keys and schemas.
for (const ev of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(ev, (err) => {
    log(`${ev}: ${String((err as Error)?.stack ?? err)}`);
    void cleanup().finally(() => process.exit(1));
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const foreign = new ForeignCpuMonitor();
  const r: BenchResults = {};
  const failed: string[] = [];
  const hubs: BenchHub[] = [];
  try {
    await env.vacuumCatalogsWithoutAutovacuum();
    if (want(1)) {
      log('1/7 baseline: raw BullMQ');
      r.baseline = await runBaseline(env, { quick });
      if (!want(4)) {
        log('1/7 durable floor: raw BullMQ + one INSERT at submit and one UPDATE at completion');
        r.floor = await runDurableFloor(env, { quick });
      }
    }
    if (want(7)) {
      log('7/7 cost per task (dedicated idle hub, 2 worker processes)');
      const h = await startBenchHub(env, 'cost', { config: { RECONCILE_INTERVAL_MS: '600000' } });
      hubs.push(h);
      const workers = [env.spawnWorkerCli(h.prefix, 'demo.*', 25), env.spawnWorkerCli(h.prefix, 'demo.*', 25)];
      await env.waitForWorkers(h.prefix, 2);
      r.cost = await runCost(h, { quick });
      await Promise.all(workers.map((w) => env.stopChild(w)));
      await h.close();
    }
    if (want(2) || want(4) || want(5)) {
      const planner = new TimingPlanner();
      const h = await startBenchHub(env, 'main', { planner });
      hubs.push(h);
      const workers = [env.spawnWorkerCli(h.prefix, 'demo.*', 25), env.spawnWorkerCli(h.prefix, 'demo.*', 25)];
      await env.waitForWorkers(h.prefix, 2);
      if (want(2)) {
        log('2/7 submit latency at 100 tasks/s (HTTP API, then the in-process chat path)');
        await env.checkpoint();
        r.submit = await runSubmitLatency(env, h, planner, { quick });
      }
      if (want(4)) {
        // The ratio to the floor is taken from rounds run back to back (floor, then hub), so that both sides of a
        // round see the same machine; the round with the median ratio is the one reported.
        const rounds = want(1) && !quick ? FLOOR_ROUNDS : 1;
        for (let i = 1; i <= rounds; i++) {
          let floor: DurableFloorResult | undefined;
          if (want(1)) {
            log(
              `4/7 round ${i}/${rounds}: durable floor (raw BullMQ + one INSERT at submit, one UPDATE at completion)`,
            );
            floor = await runDurableFloor(env, { quick, name: `floor${i}` });
          }
          log(`4/7 round ${i}/${rounds}: end-to-end throughput, 1-step tasks, 2 worker processes x 25`);
          const e2e = await runThroughput(h, {
            label: `e2e${i}`,
            tasks: quick ? 500 : 3000,
            subtasksPerTask: 1,
            workerPids: workers.map((w) => w.pid!),
            text: (n) => `bench e2e ${i} #${n}`,
          });
          (r.rounds ??= []).push({ floor, e2e });
        }
        const median = medianRound(r.rounds!);
        r.floor = median.floor;
        r.e2e = median.e2e;
      }
      if (want(5)) {
        log('5/7 DAG throughput, 10-subtask fan-out/join tasks');
        r.dag = await runThroughput(h, {
          label: 'dag',
          tasks: quick ? 50 : 300,
          subtasksPerTask: 10,
          workerPids: workers.map((w) => w.pid!),
          text: (i) => `bench dag #${i} in 9 steps`,
        });
      }
      await Promise.all(workers.map((w) => env.stopChild(w)));
      await h.close();
    }
    if (want(3)) {
      log('3/7 progress latency (PROGRESS_INTERVAL_MS=0, worker throttle 0)');
      const h = await startBenchHub(env, 'progress', { config: { PROGRESS_INTERVAL_MS: '0' } });
      hubs.push(h);
      const pool = new PoolClient(env, h.prefix);
      await pool.add([{ id: 'progress-worker', patterns: ['bench.progress'], concurrency: 64, progressIntervalMs: 0 }]);
      await env.waitForWorkers(h.prefix, 1);
      await env.checkpoint();
      r.progress = await runProgressLatency(h, pool, { quick });
      await pool.stop();
      await h.close();
    }
    if (want(8)) {
      log('8 LLM-planned tasks against the OpenAI fake');
      r.llm = await runLlmPlanner(env, { quick });
    }
    if (want(6)) {
      // Budget: about 90 s for the big batch, from the measured end-to-end rate when there is one.
      const rate = r.e2e?.tasksPerSec;
      const budgeted = rate ? Math.max(500, Math.floor((rate * 90) / 500) * 500) : requestedScaleTasks;
      const tasks = Math.min(requestedScaleTasks, budgeted);
      log(
        `6/7 scale: 500 workers in 4 processes, ${tasks} tasks${tasks < requestedScaleTasks ? ` (scaled down from ${requestedScaleTasks} to fit the time budget)` : ''}`,
      );
      // A scale run that fails (a timeout on a loaded machine) is reported; the other scenarios' results stay.
      r.scale = await runScaleChild(
        {
          tasks,
          requestedTasks: requestedScaleTasks,
          processes: 4,
          levels: quick ? [10, 100] : [10, 100, 500],
          quick,
        },
        r,
      ).catch((err) => {
        log(`scale scenario failed: ${String(err?.message ?? err)}`);
        failed.push(`6 scale: ${String(err?.message ?? err)}`);
        return undefined;
      });
    }
  } finally {
    for (const h of hubs) await h.close().catch((err) => log(`hub close failed: ${String(err)}`));
    await cleanup();
  }

  const rows = buildRows(r);
  for (const f of failed) rows.push({ scenario: f, metric: 'FAILED', value: '' });
  const seconds = Math.round((Date.now() - started) / 1000);
  // Other processes' CPU as a share of the machine (all cores) while the benchmark ran.
  const foreignPct = round((foreign.foreignMs() / (seconds * 1000 * os.cpus().length)) * 100, 1);
  foreign.stop();
  const shared =
    foreignPct >= 5
      ? ` — other processes used ${foreignPct}% of the machine meanwhile: numbers are noisy, run again on a quiet machine`
      : '';
  process.stdout.write(
    `\n${renderTable(rows)}\n\n${renderTargets(rows)}\n\nfinished in ${seconds} s${quick ? ' (--quick)' : ''}; other processes' CPU: ${foreignPct}% of the machine${shared}\n`,
  );
  if (!args.includes('--no-write')) {
    const machine = await describeMachine();
    const date = new Date().toISOString().slice(0, 10);
    const dir = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    const file = `${dir}${date}.json`;
    writeFileSync(
      file,
      `${JSON.stringify({ date, quick, only: only ?? null, seconds, foreignCpuPct: foreignPct, machine, table: rows, markdown: renderMarkdown(rows), results: r }, null, 2)}\n`,
    );
    process.stdout.write(`wrote ${file}\n`);
  }
}

/** The hub's V8 flags in deploy/k8s/base/hub-deployment.yaml (keep in step). */
const DEPLOYED_HUB_FLAGS = '--max-semi-space-size=16 --max-old-space-size=192';
/** The image's malloc setting (Dockerfile), which the deployment inherits. */
const DEPLOYED_HUB_ENV = { MALLOC_ARENA_MAX: '2' };

/** Runs scenario 6 in its own process (bench/scale-child.ts) and returns its result. */
async function runScaleChild(opts: ScaleOptions, r: BenchResults): Promise<ScaleResult> {
  // --expose-gc only to measure, after the run, what the hub's heap really retains (peak RSS includes garbage).
  // The hub runs with the V8 heap flags of its Kubernetes deployment (deploy/k8s/base/hub-deployment.yaml) and its
  // image's malloc setting; BENCH_HUB_NODE_FLAGS tries other flags ("" for Node's defaults).
  const flags = (process.env.BENCH_HUB_NODE_FLAGS ?? DEPLOYED_HUB_FLAGS).split(' ').filter(Boolean);
  const child = env.forkScript(await bundleScript('scale-child.ts'), DEPLOYED_HUB_ENV, ['--expose-gc', ...flags]);
  try {
    const reply = await new Promise<Exclude<ScaleReply, { t: 'in-flight' }>>((resolve, reject) => {
      child.on('message', (m: ScaleReply) => {
        if (m.t === 'in-flight') r.scaleInFlight = m.memory;
        else resolve(m);
      });
      child.once('exit', (code) => reject(new Error(`scale process exited with ${code} before reporting`)));
      setTimeout(() => reject(new Error('scale scenario did not finish in 420 s')), 420_000).unref();
      child.send({ t: 'run', opts } satisfies ScaleCommand);
    });
    if (reply.t === 'error') throw new Error(`scale scenario failed: ${reply.message}`);
    return { ...reply.result, nodeFlags: flags, hubEnv: DEPLOYED_HUB_ENV };
  } finally {
    await env.stopChild(child, 30_000);
  }
}

async function describeMachine() {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  const pgVersion = (await client.query<{ server_version: string }>('show server_version')).rows[0]?.server_version;
  await client.end();
  const { Redis } = await import('ioredis');
  const redis = new Redis(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
  const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1];
  redis.disconnect();
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model,
    memoryGb: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    redis: redisVersion,
    postgres: pgVersion,
    platform: `${os.platform()} ${os.release()}`,
  };
}

main().then(
  () => process.exit(0),
  async (err) => {
    log(`failed: ${String(err?.stack ?? err)}`);
    await cleanup().catch(() => {});
    process.exit(1);
  },
);
