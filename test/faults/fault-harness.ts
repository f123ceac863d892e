// One fault scenario: its own database on the private Postgres cluster, its own private Redis, the chat platform fake,
// the hub and workers as processes; and the numbers every fault test reports (lost, duplicates, time to final).
import { randomBytes } from 'node:crypto';
import { FaultChat, type ChatTally } from './fault-chat.ts';
import { FaultProcesses, type ChildProc } from './fault-processes.ts';
import { PrivateRedis, type PrivatePostgres } from './fault-servers.ts';

/** The numbers of one fault run (one line of the summary). */
export interface FaultReport extends ChatTally {
  fault: string;
  /** Tasks not final in Postgres, or without a final message, at the bound. */
  lost: number;
  /** Tasks or subtasks whose completion was recorded more than once. */
  duplicateCompletions: number;
  /** From the fault to every task final in Postgres, and to every final message received. */
  finalMs: number;
  deliveredMs: number;
  boundMs: number;
  /** Anything else the test measured (log lines during an outage, ...). */
  extra?: Record<string, number>;
  /** Tasks and subtasks by status at the end (for a failure message). */
  states: string;
}

/** The reports of this run, printed as one summary at the end. */
export const reports: FaultReport[] = [];

/** The summary table: one line of numbers per fault. */
export function summary(): string {
  const head =
    'fault                          tasks lost dupDone dupFinal inFlight dupAck lateAck  finalMs deliverMs  bound';
  const rows = reports.map((r) =>
    [
      r.fault.padEnd(30),
      String(r.tasks).padStart(5),
      String(r.lost).padStart(4),
      String(r.duplicateCompletions).padStart(7),
      String(r.duplicateFinals).padStart(8),
      String(r.inFlightDuplicates).padStart(8),
      String(r.duplicateAcks).padStart(6),
      String(r.lateAcks).padStart(7),
      String(r.finalMs).padStart(8),
      String(r.deliveredMs).padStart(9),
      String(r.boundMs).padStart(6),
      r.extra
        ? ` ${Object.entries(r.extra)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`
        : '',
    ].join(' '),
  );
  return ['', 'Fault suite (times in ms from the fault)', head, ...rows, ''].join('\n');
}

/** Settings that keep every recovery path short (the defaults are tuned for production, not a 3-minute suite). */
const FAST = {
  RECONCILE_INTERVAL_MS: '1000',
  NOTIFY_ATTEMPTS: '3',
  NOTIFY_BACKOFF_MS: '200',
  WORKER_LOCK_MS: '2000',
  WORKER_HEARTBEAT_MS: '500',
  DEFAULT_BACKOFF_MS: '100',
  PROGRESS_INTERVAL_MS: '1000',
};

/** A fault scenario's servers, platform and processes. */
export class FaultScenario {
  readonly procs: FaultProcesses;

  private constructor(
    readonly pg: PrivatePostgres,
    readonly database: string,
    readonly redis: PrivateRedis,
    readonly chat: FaultChat,
    readonly env: Record<string, string>,
  ) {
    this.procs = new FaultProcesses(env);
  }

  /** A fresh database, Redis and platform; `env` overrides settings. */
  static async start(pg: PrivatePostgres, env: Record<string, string> = {}): Promise<FaultScenario> {
    const database = `fault_${randomBytes(4).toString('hex')}`;
    await pg.query(`CREATE DATABASE ${database}`);
    const redis = await PrivateRedis.start();
    const chat = await FaultChat.start();
    const vars = {
      DATABASE_URL: pg.url(database),
      REDIS_URL: redis.url,
      QUEUE_PREFIX: 'sbf',
      HOST: '127.0.0.1',
      PORT: '0',
      HUB_API_TOKENS: 'admin=fault-admin-token-1',
      HUB_ADMINS: 'web:admin',
      LOG_LEVEL: 'warn',
      PLANNER: 'rules',
      ...chat.env,
      ...FAST,
      ...env,
    };
    return new FaultScenario(pg, database, redis, chat, vars);
  }

  /** Starts a hub process. */
  hub(extra: Record<string, string> = {}): Promise<ChildProc> {
    return this.procs.hub(extra);
  }

  /** Starts a worker process. */
  worker(concurrency = 16): Promise<ChildProc> {
    return this.procs.worker({}, concurrency);
  }

  /** Runs a query on this scenario's database. */
  async rows<T>(sql: string): Promise<T[]> {
    return (await this.pg.query(sql, [], this.database)).rows as T[];
  }

  /** Task counts in Postgres: all, final (terminal), completed. */
  async taskCounts(): Promise<{ total: number; final: number; completed: number }> {
    const [r] = await this.rows<{ total: string; final: string; completed: string }>(
      `SELECT count(*) AS total,
              count(*) FILTER (WHERE status IN ('COMPLETED','FAILED','CANCELLED','REJECTED')) AS final,
              count(*) FILTER (WHERE status = 'COMPLETED') AS completed
       FROM tasks`,
    );
    return { total: Number(r!.total), final: Number(r!.final), completed: Number(r!.completed) };
  }

  /** Tasks with more than one final event plus subtasks with more than one success event. */
  async duplicateCompletions(): Promise<number> {
    const [r] = await this.rows<{ n: string }>(
      `SELECT (SELECT count(*) FROM (SELECT task_id FROM task_events WHERE type IN ('completed','failed','cancelled','rejected')
                GROUP BY task_id HAVING count(*) > 1) a)
            + (SELECT count(*) FROM (SELECT subtask_id FROM task_events WHERE type = 'subtask.succeeded'
                GROUP BY subtask_id HAVING count(*) > 1) b) AS n`,
    );
    return Number(r!.n);
  }

  /** Tasks and subtasks by status, e.g. "tasks COMPLETED=58 IN_PROGRESS=2; subtasks SUCCEEDED=60 RUNNING=2" (for failures). */
  async states(): Promise<string> {
    const by = async (table: string) =>
      (await this.rows<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM ${table} GROUP BY status`))
        .map((r) => `${r.status}=${r.n}`)
        .join(' ');
    return `tasks ${await by('tasks')}; subtasks ${await by('subtasks')}`;
  }

  /**
   * Submits `n` requests from the chat and waits until each was acknowledged and, with `running`, until that many
   * steps run (the moment most faults strike). Returns the chats.
   */
  async submitAndRun(n: number, text: (i: number) => string, running = 0): Promise<number[]> {
    const chats = this.chat.submit(n, text);
    await this.chat.untilAcked(chats, chats.length);
    if (running)
      await this.until(
        async () => (await this.rows(`SELECT 1 FROM subtasks WHERE status = 'RUNNING'`)).length >= running || undefined,
        20_000,
        `${running} running subtasks`,
      );
    return chats;
  }

  /** Resolves with `probe()`'s first truthy value, asked every 100 ms (the database has no change feed here). */
  async until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe().catch(() => undefined);
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Waits (up to `boundMs` after `faultAt`) until `n` tasks are final in Postgres and every chat has its final
   * message, then counts lost tasks and duplicates; the report is kept for the summary and returned.
   */
  async settle(
    fault: string,
    chats: number[],
    o: { faultAt: number; boundMs: number; inFlight?: { from: number; to: number }; extra?: Record<string, number> },
  ): Promise<FaultReport> {
    const left = () => Math.max(1, o.faultAt + o.boundMs - Date.now());
    let finalMs = -1;
    let deliveredMs = -1;
    await Promise.all([
      this.until(async () => (await this.taskCounts()).final >= chats.length || undefined, left(), 'all tasks final')
        .then(() => {
          finalMs = Date.now() - o.faultAt;
        })
        .catch(() => {}),
      this.chat
        .untilDelivered(chats, left())
        .then(() => {
          deliveredMs = Date.now() - o.faultAt;
        })
        .catch(() => {}),
    ]);
    // A moment for a late duplicate to show (the reconciler's next pass, a stalled job run again).
    await new Promise((r) => setTimeout(r, 2 * Number(this.env.RECONCILE_INTERVAL_MS)));
    const counts = await this.taskCounts();
    const tally = this.chat.tally(chats, o.inFlight);
    const report: FaultReport = {
      fault,
      ...tally,
      lost: Math.max(chats.length - counts.completed, tally.undelivered),
      duplicateCompletions: await this.duplicateCompletions(),
      finalMs,
      deliveredMs,
      boundMs: o.boundMs,
      states: await this.states(),
      ...(o.extra ? { extra: o.extra } : {}),
    };
    reports.push(report);
    return report;
  }

  /** Stops every process and server of the scenario and drops its database. */
  async close(label?: string): Promise<void> {
    await this.procs.stopAll(label);
    await this.chat.stop();
    await this.redis.close();
    await this.pg.query(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`).catch(() => {});
  }
}
