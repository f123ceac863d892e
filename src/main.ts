// Composition: which parts run in this process (everything, the hub, or a worker).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { AdminService } from './core/tasks/admin-service.ts';
import { Conductor } from './core/tasks/conductor.ts';
import { loadConfig, type Config } from './core/config.ts';
import { HubContext } from './core/hub-context.ts';
import { ConfigError } from './core/errors.ts';
import { createLogger, type Logger } from './core/logger.ts';
import { createRedis } from './core/queues.ts';
import type { Planner } from './core/planning/plan.ts';
import { Reconciler } from './core/tasks/reconciler.ts';
import { RetentionJanitor } from './core/tasks/retention.ts';
import { MonitorPlanner } from './core/monitors/monitor-planner.ts';
import { MonitorService } from './core/monitors/monitor-service.ts';
import { ScheduleRunner } from './core/schedules/schedule-runner.ts';
import { ScheduleService } from './core/schedules/schedule-service.ts';
import { createPlanner } from './core/planning/create-planner.ts';
import { stagedFilesCleanup } from './core/artifacts/artifact-transport.ts';
import { createDatabase, migrateToLatest, type DatabaseHandle } from './core/store/create-database.ts';
import { TaskService } from './core/tasks/task-service.ts';
import { startEmbeddedRedis, type EmbeddedRedis } from './embedded-redis.ts';
import { CommandService } from './core/commands/command-service.ts';
import { chatFrontendFactories } from './frontends/chat-frontends.ts';
import type { FrontendDeps, FrontendFactory, IFrontend } from './frontends/frontend.ts';
import { FrontendRegistry } from './frontends/registry.ts';
import { createWebFrontend, type WebFrontend } from './frontends/web/index.ts';
import { Notifier } from './notifications/notifier.ts';
import { createHubOps, type HubOps } from './ops/hub-ops.ts';
import { serveWorkerMetrics, startWorkerTracing, WorkerMetrics } from './ops/worker-ops.ts';
import type { CapabilityHandlers } from './workers/capability.ts';
import { WorkerRuntime } from './workers/worker-runtime.ts';
import { lockDataDir, type DataDirLock } from './data-dir-lock.ts';
import { assertPostgresReachable, assertRedisReachable, ConnectionWatch } from './startup-checks.ts';
import { VERSION } from './version.ts';
import { startWorker as startSdkWorker, type WorkerHandle } from './worker-sdk.ts';

/** The package version, advertised by workers. */
export { VERSION };

/** A running hub and how to stop it. */
export interface Hub {
  config: Config;
  /** The Redis URL workers must use (the embedded server's when REDIS_URL is unset). */
  redisUrl: string;
  ctx: HubContext;
  tasks: TaskService;
  commands: CommandService;
  schedules: ScheduleService;
  scheduleRunner: ScheduleRunner;
  monitors: MonitorService;
  admin: AdminService;
  conductor: Conductor;
  reconciler: Reconciler;
  janitor: RetentionJanitor;
  notifier: Notifier;
  frontends: FrontendRegistry;
  web: WebFrontend;
  workers: WorkerRuntime[];
  /** Metrics and tracing of this hub. */
  ops: HubOps;
  stop(): Promise<void>;
}

/** Options for assembling a hub in this process. */
export interface HubOptions {
  config?: Config;
  /** Run an embedded worker for WORKER_CAPABILITIES (what `start` does). */
  embeddedWorkers?: boolean;
  handlers?: CapabilityHandlers;
  database?: DatabaseHandle;
  log?: Logger;
  /** The planner; by default chosen by PLANNER (the LLM planner when an LLM is configured, else the rule planner). */
  planner?: Planner;
  /** Extra frontends to run beside the HTTP API (tests use a recording one). */
  frontends?: IFrontend[];
  /** Chat frontends built from the hub's services (default: those whose credentials are configured). */
  frontendFactories?: FrontendFactory[];
}

/** Opens the database (embedded PGlite when DATABASE_URL is unset) and migrates it. */
async function openDatabase(config: Config, log: Logger): Promise<DatabaseHandle> {
  if (config.DATABASE_URL) await assertPostgresReachable(config.DATABASE_URL);
  const database = await createDatabase({ url: config.DATABASE_URL, dataDir: config.DATA_DIR });
  const applied = await migrateToLatest(database);
  if (applied.length) log.info({ applied }, 'migrations applied');
  log.info({ kind: database.kind }, 'database ready');
  return database;
}

/** The built-in capabilities, imported only by a process that runs workers (their libraries weigh ~50 MB). */
async function loadBuiltinCapabilities(config: Config): Promise<CapabilityHandlers> {
  return (await import('./workers/capabilities/index.ts')).builtinCapabilities(config);
}

/** Resolves REDIS_URL, or starts an embedded redis-server. */
async function openRedis(config: Config, log: Logger): Promise<{ url: string; embedded?: EmbeddedRedis }> {
  if (config.REDIS_URL) {
    await assertRedisReachable(config.REDIS_URL);
    return { url: config.REDIS_URL };
  }
  const embedded = await startEmbeddedRedis(config.DATA_DIR);
  log.info({ url: embedded.url }, 'REDIS_URL not set: started an embedded redis-server (AOF on); workers use this URL');
  return { url: embedded.url, embedded };
}

/** With no HUB_API_TOKENS, a local admin token is created under the data dir (the CLI reads it there). */
function withLocalToken(config: Config, log: Logger): Config {
  if (config.HUB_API_TOKENS.size > 0) return config;
  const file = path.resolve(config.DATA_DIR, 'api-token');
  mkdirSync(path.dirname(file), { recursive: true });
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  const token = readFileSync(file, 'utf8').trim();
  log.info({ file }, 'HUB_API_TOKENS not set: the local admin "local" uses the token stored in this file');
  return { ...config, HUB_API_TOKENS: new Map([[token, 'local']]), HUB_ADMINS: [...config.HUB_ADMINS, 'web:local'] };
}

/** Assembles and starts the hub: API, conductor, reconciler, notifier, and optionally embedded workers. */
export async function startHub(opts: HubOptions = {}): Promise<Hub> {
  let config = opts.config ?? loadConfig();
  const log = opts.log ?? createLogger(config.LOG_LEVEL, 'switchboard', config.LOG_FORMAT);
  // The embedded database and Redis live under DATA_DIR: one hub per folder.
  const lock: DataDirLock | undefined =
    !config.REDIS_URL || (!config.DATABASE_URL && !opts.database) ? lockDataDir(config.DATA_DIR) : undefined;
  let redisInfo: Awaited<ReturnType<typeof openRedis>> | undefined;
  let database: DatabaseHandle;
  try {
    config = withLocalToken(config, log);
    redisInfo = await openRedis(config, log);
    database = opts.database ?? (await openDatabase(config, log));
  } catch (err) {
    await redisInfo?.embedded?.stop();
    lock?.release();
    throw err;
  }
  const redis: Redis = new ConnectionWatch(log, 'Redis').watch(createRedis(redisInfo.url));
  const ctx = new HubContext(config, database.db, redis, log);
  const planner = opts.planner ?? createPlanner(ctx);
  const ops = await createHubOps(config, ctx, { planner, version: VERSION });
  const tasks = new TaskService(
    ctx,
    new MonitorPlanner(ops.planner(planner), { db: database.db, redis, keys: ctx.keys }),
  );
  const admin = new AdminService(ctx);
  const conductor = new Conductor(ctx);
  const frontends = new FrontendRegistry();
  const notifier = new Notifier(ctx, frontends, { onDelivery: ops.metrics.observeDelivery });
  ctx.onEvents(notifier.sink);
  ctx.onEvents(stagedFilesCleanup(ctx));
  const reconciler = new Reconciler(ctx, conductor);
  const janitor = new RetentionJanitor(ctx);
  const schedules = new ScheduleService(ctx);
  const scheduleRunner = new ScheduleRunner(ctx, tasks, schedules);
  ctx.onEvents(scheduleRunner.sink);
  const monitors = new MonitorService(ctx, tasks, schedules, scheduleRunner, {
    publicUrl: () => config.PUBLIC_URL ?? web.url(),
  });
  ctx.onEvents(monitors.runs.sink);
  const commands = new CommandService(ctx, tasks, admin, schedules, monitors);
  const web = createWebFrontend({
    ctx,
    tasks,
    admin,
    schedules,
    monitors,
    host: config.HOST,
    port: config.PORT,
    tokens: config.HUB_API_TOKENS,
    version: VERSION,
  });
  frontends.register(web);
  await ops.attach({ server: web.server, tasks, tokens: config.HUB_API_TOKENS });
  for (const f of opts.frontends ?? []) frontends.register(f);
  const deps: FrontendDeps = { config, ctx, commands, tasks, log, http: web.server };
  for (const factory of opts.frontendFactories ?? (await chatFrontendFactories(config)))
    frontends.register(factory(deps));

  const workers: WorkerRuntime[] = [];
  if (opts.embeddedWorkers) {
    workers.push(
      new WorkerRuntime({
        redis: createRedis(redisInfo.url),
        prefix: config.QUEUE_PREFIX,
        patterns: config.WORKER_CAPABILITIES,
        // Capabilities that keep state in Redis (llm.* budgets, checkpoints) need the resolved (maybe embedded) URL.
        handlers: opts.handlers ?? (await loadBuiltinCapabilities({ ...config, REDIS_URL: redisInfo.url })),
        concurrency: config.WORKER_CONCURRENCY,
        log,
        heartbeatMs: config.WORKER_HEARTBEAT_MS,
        lockMs: config.WORKER_LOCK_MS,
        version: VERSION,
      }),
    );
  }
  const stopAll = async () => {
    await frontends.stopAll();
    await scheduleRunner.stop();
    monitors.runs.stop();
    janitor.stop();
    await reconciler.stop();
    for (const w of workers) await w.stop().catch(() => {});
    await notifier.stop();
    await conductor.stop();
    await ctx.flushEnded();
    await ctx.queues.close();
    await ops.stop();
    redis.disconnect();
    if (!opts.database) await database.close();
    await redisInfo.embedded?.stop();
    lock?.release();
  };
  try {
    await conductor.start();
    await notifier.start();
    for (const w of workers) await w.start();
    await reconciler.start();
    await scheduleRunner.start();
    monitors.runs.start();
    janitor.start();
    await frontends.startAll();
  } catch (err) {
    await stopAll().catch(() => {});
    throw err;
  }
  lock?.setPort(Number(new URL(web.url()).port));
  log.info({ url: web.url() }, 'hub ready');

  let stopping: Promise<void> | undefined;
  return {
    config,
    redisUrl: redisInfo.url,
    ctx,
    tasks,
    commands,
    schedules,
    scheduleRunner,
    monitors,
    admin,
    conductor,
    reconciler,
    janitor,
    notifier,
    frontends,
    web,
    workers,
    ops,
    stop() {
      stopping ??= stopAll();
      return stopping;
    },
  };
}

/** Starts a standalone worker that needs only Redis, from the configuration (WORKER_CAPABILITIES etc.). */
export async function startWorker(
  opts: {
    config?: Config;
    capabilities?: string;
    concurrency?: number;
    handlers?: CapabilityHandlers;
    /** Serve GET /metrics on this port (default WORKER_METRICS_PORT; off when neither is set). */
    metricsPort?: number;
  } = {},
): Promise<WorkerHandle & { metricsUrl?: string | undefined }> {
  const config =
    opts.config ??
    loadConfig({ ...process.env, ...(opts.capabilities ? { WORKER_CAPABILITIES: opts.capabilities } : {}) });
  if (!config.REDIS_URL)
    throw new ConfigError(
      'REDIS_URL must be set for a standalone worker (it is how workers reach the hub; the hub prints it at start), e.g. REDIS_URL=redis://127.0.0.1:6379.',
    );
  const tracing = await startWorkerTracing(config, VERSION);
  const concurrency = opts.concurrency ?? config.WORKER_CONCURRENCY;
  let running = () => 0;
  const metrics = new WorkerMetrics(() => ({ running: running(), concurrency }));
  const worker = await startSdkWorker({
    capabilities: metrics.wrap(opts.handlers ?? (await loadBuiltinCapabilities(config))),
    patterns: config.WORKER_CAPABILITIES,
    redisUrl: config.REDIS_URL,
    concurrency,
    prefix: config.QUEUE_PREFIX,
    log: createLogger(config.LOG_LEVEL, 'switchboard', config.LOG_FORMAT),
    heartbeatMs: config.WORKER_HEARTBEAT_MS,
    lockMs: config.WORKER_LOCK_MS,
  });
  running = () => worker.running;
  const metricsPort = opts.metricsPort ?? config.WORKER_METRICS_PORT;
  const served =
    metricsPort !== undefined
      ? await serveWorkerMetrics(metrics, { port: metricsPort, token: config.METRICS_TOKEN })
      : undefined;
  return {
    id: worker.id,
    specs: worker.specs,
    capabilities: worker.capabilities,
    get running() {
      return worker.running;
    },
    metricsUrl: served?.url,
    async stop() {
      await worker.stop();
      await served?.close();
      await tracing?.shutdown();
    },
  };
}

/** Stops `stop` on SIGINT/SIGTERM, once; a second signal exits at once. */
function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (sig: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(`\n${sig}: shutting down gracefully (again to force)...\n`);
    stop().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`shutdown error: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** `switchboard start`: everything in one process, with embedded workers for WORKER_CAPABILITIES. */
export async function runStart(): Promise<void> {
  const config = loadConfig();
  const hub = await startHub({ config, embeddedWorkers: config.EMBEDDED_WORKERS });
  printReady(hub);
  if (config.HUB_API_TOKENS.size === 0)
    process.stdout.write(
      `Dashboard (sign-in link, works once for 10 minutes): ${await hub.web.signInLink('web:local')}\n`,
    );
  onSignals(() => hub.stop());
}

/** Tells the person at the terminal where the hub is, how to try it, and how more workers join it. */
function printReady(hub: Hub): void {
  const c = hub.config;
  const prefix = c.QUEUE_PREFIX === 'sb' ? '' : `QUEUE_PREFIX=${c.QUEUE_PREFIX} `;
  process.stdout.write(
    [
      `Switchboard is running at ${hub.web.url()} (database: ${c.DATABASE_URL ? 'postgres' : 'embedded PGlite'}, redis: ${c.REDIS_URL ? 'external' : 'embedded'}).`,
      `  Try it:         npx switchboard submit "hello" --follow`,
      `  Add a worker:   REDIS_URL=${hub.redisUrl} ${prefix}npx switchboard worker --capabilities 'demo.*'`,
      '',
    ].join('\n'),
  );
}

/** `switchboard hub`: API, conductor, reconciler and notifier; workers run elsewhere. */
export async function runHub(): Promise<void> {
  const hub = await startHub({ embeddedWorkers: false });
  printReady(hub);
  onSignals(() => hub.stop());
}

/** `switchboard worker`: a stateless worker process. */
export async function runWorker(
  opts: { capabilities?: string; concurrency?: number; metricsPort?: number } = {},
): Promise<void> {
  const w = await startWorker(opts);
  onSignals(() => w.stop());
}

/** `switchboard migrate`: applies pending migrations and exits. */
export async function runMigrate(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL, 'switchboard', config.LOG_FORMAT);
  const database = await openDatabase(config, log);
  await database.close();
}
