// Scenario 7: Postgres statements and Redis commands per single-step task, submit -> final notification (and the
// delayed progress job that follows it), net of the idle background (heartbeats, discovery, blocking waits).
import type { BenchHub } from '../lib/bench-hub.ts';
import { benchOrigin } from '../lib/bench-frontend.ts';
import { REDIS_URL } from '../lib/env.ts';
import { RedisCounter, type RedisCounts } from '../lib/redis-counter.ts';
import type { SqlCounts } from '../lib/sql-counter.ts';
import { openLoop, round, sleep } from '../lib/stats.ts';

/** Per-task cost in one mode. */
export interface TaskCost {
  tasks: number;
  sqlStatements: number;
  sqlTransactionControl: number;
  sqlRoundTrips: number;
  sqlByKind: Record<string, number>;
  redisClientCommands: number;
  redisLuaCommands: number;
  redisByCommand: Record<string, number>;
  redisByLuaCommand: Record<string, number>;
}

/** Costs one at a time (nothing to batch with) and under a steady 100 tasks/s. */
export interface CostResult {
  isolated: TaskCost;
  loaded: TaskCost;
  idleRedisPerSec: number;
  topStatements: Array<[string, number]>;
}

/** Runs on a dedicated, otherwise idle hub with its workers already up. */
export async function runCost(h: BenchHub, opts: { quick: boolean }): Promise<CostResult> {
  const redis = await RedisCounter.start(REDIS_URL, `${h.prefix}:`);
  const sql = h.db.counter;
  try {
    // Idle background, to subtract.
    await sleep(3000); // whatever the previous step left behind (delayed progress jobs) runs out
    const idleMs = 3000;
    sql.reset();
    redis.reset();
    await sleep(idleMs);
    const idleSql = sql.snapshot();
    const idleRedis = redis.snapshot();
    const window = async (tasks: number, run: () => Promise<string[]>): Promise<TaskCost> => {
      sql.reset();
      redis.reset();
      const t0 = Date.now();
      const ids = await run();
      await h.finals.waitFor(ids, 60_000);
      await sleep(h.config.PROGRESS_INTERVAL_MS + 500); // the throttled progress job of the last task runs, then settles
      const ms = Date.now() - t0;
      return perTask(tasks, sql.snapshot(), redis.snapshot(), idleSql, idleRedis, ms / idleMs);
    };
    sql.recordTexts = true;
    const isolatedN = opts.quick ? 10 : 30;
    const isolated = await window(isolatedN, async () => {
      const ids: string[] = [];
      for (let i = 0; i < isolatedN; i++) {
        const { task } = await h.hub.tasks.submit({ origin: benchOrigin(`c${i}`, i), text: `bench cost #${i}` });
        await h.finals.waitFor([task.id], 10_000);
        ids.push(task.id);
      }
      return ids;
    });
    const topStatements = sql.topTexts(25).map(([t, n]): [string, number] => [t, round(n / isolatedN, 2)]);
    sql.recordTexts = false;
    const loadedN = opts.quick ? 100 : 300;
    const loaded = await window(loadedN, async () => {
      const ids: string[] = [];
      await openLoop(loadedN, 100, async (i) => {
        ids.push(
          (await h.hub.tasks.submit({ origin: benchOrigin(`l${i}`, i), text: `bench cost loaded #${i}` })).task.id,
        );
      });
      return ids;
    });
    return { isolated, loaded, idleRedisPerSec: round(idleRedis.client / (idleMs / 1000), 0), topStatements };
  } finally {
    redis.stop();
  }
}

function perTask(
  tasks: number,
  s: SqlCounts,
  r: RedisCounts,
  idleS: SqlCounts,
  idleR: RedisCounts,
  idleScale: number,
): TaskCost {
  const net = (x: number, idle: number) => round(Math.max(0, x - idle * idleScale) / tasks, 2);
  const netCounts = (counts: Record<string, number>, idle: Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(counts)) {
      const n = net(v, idle[k] ?? 0);
      if (n >= 0.05) out[k] = n;
    }
    return out;
  };
  const byKind: Record<string, number> = {};
  for (const [k, v] of Object.entries(s.byKind)) byKind[k] = net(v, idleS.byKind[k] ?? 0);
  return {
    tasks,
    sqlStatements: net(s.statements, idleS.statements),
    sqlTransactionControl: net(s.transactionControl, idleS.transactionControl),
    sqlRoundTrips: net(s.total, idleS.total),
    sqlByKind: byKind,
    redisClientCommands: net(r.client, idleR.client),
    redisLuaCommands: net(r.lua, idleR.lua),
    redisByCommand: netCounts(r.byCommand, idleR.byCommand),
    redisByLuaCommand: netCounts(r.byLuaCommand, idleR.byLuaCommand),
  };
}
