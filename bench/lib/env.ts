// The benchmark's isolated resources: its own Redis key prefix and Postgres schemas, and the processes it spawns.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Kysely, PostgresDialect } from 'kysely';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/core/config.ts';
import { migrateToLatest, type DatabaseHandle } from '../../src/core/store/create-database.ts';
import type { Database } from '../../src/core/store/schema.ts';
import { prepareMarked } from '../../src/core/store/prepared.ts';
import { allowStatementGroups } from '../../src/core/store/statement-group.ts';
import { cpuSnapshot, cpuUsedBetween, pidsNamed, type PidGroups } from './proc-cpu.ts';
import { SqlCounter } from './sql-counter.ts';
import { sleep, waitUntil } from './stats.ts';

/** Redis the benchmark uses. */
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Postgres the benchmark uses. */
export const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Log level of the hub and workers under test (silent keeps the report readable). */
export const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'silent';
/** Bearer tokens of the benchmark's HTTP API users `web:bench0`…`web:bench99` (admission and rate limits are per user). */
export const API_TOKENS = Array.from({ length: 100 }, (_, i) => `bench-token-${String(i).padStart(4, '0')}`);

const root = fileURLToPath(new URL('../../', import.meta.url));

/** A database handle whose every statement is counted. */
export interface CountedDatabase extends DatabaseHandle {
  counter: SqlCounter;
  /** The pool itself (its waitingCount shows connection contention). */
  pool: pg.Pool;
}

/**
 * The processes whose CPU a window measures: this process (the hub or the floor), the given workers, Redis,
 * and of Postgres only the backends of the pool named `applicationName` plus the server's own background
 * processes (WAL writer, checkpointer…) — other clients of the same server (another test run) are left out.
 */
export async function processGroups(applicationName: string, workerPids: number[] = []): Promise<PidGroups> {
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ pid: number }>(
      `select pid from pg_stat_activity where application_name = $1 or backend_type <> 'client backend'`,
      [applicationName],
    );
    return {
      hub: [process.pid],
      workers: workerPids,
      redis: pidsNamed('redis-server'),
      postgres: rows.map((r) => r.pid),
    };
  } finally {
    await admin.end();
  }
}

/** Starts a CPU window over `processGroups(...)`; the function it returns ends it with the CPU ms per group. */
export async function cpuWindow(
  applicationName: string,
  workerPids: number[] = [],
): Promise<() => Promise<Record<string, number>>> {
  const before = cpuSnapshot(await processGroups(applicationName, workerPids));
  return async () => cpuUsedBetween(before, cpuSnapshot(await processGroups(applicationName, workerPids)));
}

/** Everything one run creates, so `cleanup()` can remove all of it. */
export class BenchEnv {
  /** Shared with child processes through BENCH_RUN_ID, so one cleanup covers everything a run created. */
  readonly runId = process.env.BENCH_RUN_ID ?? randomBytes(4).toString('hex');
  readonly redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  private readonly schemas = new Set<string>();
  private readonly children = new Set<ChildProcess>();

  /** `scope` limits `cleanup()` to the resources whose names start with it (a child process cleans up only its own). */
  constructor(private readonly scope = '') {}

  /** The Redis key prefix of one part of the run (every key of the run starts with `sbbench-<runId>-`). */
  prefix(name: string): string {
    return `sbbench-${this.runId}-${name}`;
  }

  /** Creates a schema, opens a counted pool on it and migrates it. */
  async openDatabase(name: string, poolSize = 10): Promise<CountedDatabase> {
    const schema = `bench_${this.runId}_${name}`;
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    this.schemas.add(schema);
    const counter = new SqlCounter();
    const pool = new pg.Pool({
      connectionString: DATABASE_URL,
      max: poolSize,
      options: `-c search_path=${schema}`,
      // Names the pool's backends, so their CPU can be told apart from other clients' (see processGroups).
      application_name: schema,
    });
    pool.on('error', () => {});
    // As the hub's own pool (createDatabase) does: named statements for the hot paths, then counting.
    pool.on('connect', (client) => {
      prepareMarked(client);
      counter.wrap(client);
    });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    allowStatementGroups(db);
    const handle: CountedDatabase = { db, kind: 'postgres', schema, counter, pool, close: () => db.destroy() };
    await migrateToLatest(handle);
    counter.reset();
    return handle;
  }

  /** Hub configuration on a prefix; `extra` overrides variables. */
  config(prefix: string, extra: Record<string, string> = {}): Config {
    return loadConfig({
      REDIS_URL,
      DATABASE_URL,
      QUEUE_PREFIX: prefix,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL,
      HUB_API_TOKENS: API_TOKENS.map((t, i) => `bench${i}=${t}`).join(','),
      DATA_DIR: `/tmp/${prefix}`,
      // The benchmark submits far more than a person would in an hour; admission (MAX_INFLIGHT_PER_USER) keeps its default.
      MAX_TASKS_PER_HOUR: '1000000',
      ...extra,
    });
  }

  /** Starts `node bin/switchboard.js worker` on a prefix. */
  spawnWorkerCli(
    prefix: string,
    capabilities: string,
    concurrency: number,
    extraEnv: Record<string, string> = {},
  ): ChildProcess {
    const child = spawn(
      process.execPath,
      ['bin/switchboard.js', 'worker', '--capabilities', capabilities, '--concurrency', String(concurrency)],
      {
        cwd: root,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          PATH: process.env.PATH ?? '',
          REDIS_URL,
          QUEUE_PREFIX: prefix,
          LOG_LEVEL,
          // e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the workers (see bench/profile-summary.ts)
          ...(process.env.BENCH_WORKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS } : {}),
          ...extraEnv,
        },
      },
    );
    // Forward the worker's stderr, minus its own "shutting down gracefully" notice when the bench stops it.
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = chunk.split('\n').filter((l) => l.trim() && !/shutting down gracefully/.test(l));
      if (lines.length) process.stderr.write(`[worker ${child.pid}] ${lines.join('\n')}\n`);
    });
    return this.track(child);
  }

  /** Forks `bench/worker-pool.ts` (many WorkerRuntime instances in one process), with an IPC channel. */
  forkPool(prefix: string): ChildProcess {
    return this.forkScript('worker-pool.ts', { REDIS_URL, QUEUE_PREFIX: prefix, LOG_LEVEL });
  }

  /** Forks a file of bench/ (TypeScript through tsx, a bundle as it is) with an IPC channel and this run's id. */
  forkScript(relative: string, env: Record<string, string> = {}, nodeFlags: string[] = []): ChildProcess {
    const child = fork(fileURLToPath(new URL(relative, new URL('../', import.meta.url))), [], {
      cwd: root,
      execArgv: [...(relative.endsWith('.ts') ? ['--import', 'tsx'] : []), ...nodeFlags],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, BENCH_RUN_ID: this.runId, ...env },
    });
    return this.track(child);
  }

  /** Resolves once `n` live workers are registered on the prefix. */
  async waitForWorkers(prefix: string, n: number, timeoutMs = 60_000): Promise<void> {
    await waitUntil(
      async () => (await this.redis.zcount(`${prefix}:hub:workers`, Date.now(), '+inf')) >= n,
      `${n} workers on ${prefix}`,
      timeoutMs,
      100,
    );
  }

  /** Stops one child: SIGTERM by pid, then SIGKILL if it has not exited in `graceMs`. */
  async stopChild(child: ChildProcess, graceMs = 12_000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) {
      this.children.delete(child);
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const timedOut = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await Promise.race([exited, sleep(2000)]);
    }
    this.children.delete(child);
  }

  /** Deletes every Redis key under a prefix (SCAN + UNLINK, so Redis is never blocked). */
  async deleteKeys(prefix: string): Promise<number> {
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 2000);
      cursor = next;
      if (keys.length) deleted += await this.redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  }

  /**
   * Vacuums the system catalogs when the server's autovacuum is off. Every schema a bench run or a test file creates
   * and drops leaves dead rows in pg_attribute, pg_class, pg_depend, ...: on a server without autovacuum they pile up
   * (here 107,000 dead rows of pg_attribute against 3,000 live ones after a day of runs), and a run's commits then
   * stalled for 30–170 ms at times. What autovacuum would have done; a line says so. Skipped where the role may not.
   */
  async vacuumCatalogsWithoutAutovacuum(): Promise<void> {
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ autovacuum: string }>('show autovacuum');
      if (rows[0]?.autovacuum !== 'off') return;
      const tables = [
        'attribute',
        'attrdef',
        'class',
        'constraint',
        'depend',
        'index',
        'namespace',
        'sequence',
        'type',
      ];
      await admin.query(`vacuum ${tables.map((t) => `pg_catalog.pg_${t}`).join(', ')}, pg_catalog.pg_statistic`);
      process.stderr.write('bench: autovacuum is off on this server; vacuumed its system catalogs first\n');
    } catch (err) {
      process.stderr.write(`bench: could not vacuum the system catalogs (${(err as Error).message})\n`);
    } finally {
      await admin.end();
    }
  }

  /**
   * Runs a CHECKPOINT before a latency scenario, so that Postgres's timed checkpoint (every 5 minutes by default),
   * whose final fsync of every file the run's schemas touched stalls commits for up to ~170 ms, does not fall inside
   * it by chance. Skipped, with a line, where the role may not (CHECKPOINT needs superuser or pg_checkpoint).
   */
  async checkpoint(): Promise<void> {
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    try {
      await admin.query('checkpoint');
    } catch (err) {
      process.stderr.write(`bench: no checkpoint before the scenario (${(err as Error).message})\n`);
    } finally {
      await admin.end();
    }
  }

  /** Drops one schema created by `openDatabase`. */
  async dropSchema(schema: string): Promise<void> {
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    try {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await admin.end();
    }
    this.schemas.delete(schema);
  }

  /** Stops every child, deletes every key of the run and drops every schema. Safe to call twice. */
  async cleanup(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.stopChild(c).catch(() => {})));
    await this.deleteKeys(`sbbench-${this.runId}-${this.scope}`).catch((err) =>
      process.stderr.write(`bench: could not delete Redis keys: ${String(err)}\n`),
    );
    // Every schema of the run, including those of a child process that died before dropping its own.
    const schemas = new Set(this.schemas);
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    try {
      await admin.connect();
      const found = await admin.query<{ nspname: string }>(`select nspname from pg_namespace where nspname like $1`, [
        `bench\\_${this.runId}\\_${this.scope}%`,
      ]);
      for (const r of found.rows) schemas.add(r.nspname);
    } catch {
      /* fall back to the schemas this process created */
    } finally {
      await admin.end().catch(() => {});
    }
    for (const s of schemas)
      await this.dropSchema(s).catch((err) =>
        process.stderr.write(`bench: could not drop schema ${s}: ${String(err)}\n`),
      );
    this.redis.disconnect();
  }

  private track(child: ChildProcess): ChildProcess {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.on('error', (err) => process.stderr.write(`bench: child process error: ${String(err)}\n`));
    return child;
  }
}
