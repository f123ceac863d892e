// Group commit of submissions: while transactions persist batches, new submissions wait in the next batch,
// which then commits as one (the users' admission locks, one insert statement for all graphs that also admits their
// new work, and one admission statement for users with work waiting already, sent together in one round trip on
// Postgres).
// Two batches can be in flight (lanes), so a submission waits for a free lane instead of for its own turn at the
// pool and its own WAL flush.
// Transient connection failures (a Postgres restart) are retried for a bounded time before the caller is told.
import type { Kysely, Transaction } from 'kysely';
import { UnavailableError } from '../errors.ts';
import { toHubEvent } from '../events.ts';
import type { HubContext } from '../hub-context.ts';
import { isConnectionError } from '../outage-log.ts';
import type { Database, SubtaskRow } from '../store/schema.ts';
import { loadSubtasks } from '../store/task-store.ts';
import { runStatementGroup, statementGroupsAllowed } from '../store/statement-group.ts';
import {
  insertTaskGraphs,
  ownersLock,
  storedGraphs,
  taskGraphsInsert,
  type StoredGraph,
  type TaskGraph,
} from '../store/task-writes.ts';
import { admissionStatement, admitUsers, enqueueAdmitted } from './admission.ts';

/** How long a submission keeps retrying while the database is unreachable before it answers UnavailableError. */
export const DB_RETRY_MS = 10_000;

/** The answer when the database stayed unreachable: nothing was stored. */
export const DB_DOWN_TEXT = 'The database is not reachable; nothing was stored: send it again.';

/** Most graphs one transaction persists (keeps the statement well under Postgres's parameter limit). */
const MAX_BATCH = 100;

/** How long a lane keeps its connection after its last batch. */
const LINGER_MS = 100;

/** Batches in flight at once, each on its own connection. */
const LANES = 2;

// Postgres codes of a connection going away: admin shutdown, crash shutdown, starting up, connection exceptions.
const TRANSIENT_CODES = /^(57P01|57P02|57P03|08\d\d\d)$/;

/** Whether a database error means the connection or server is gone for now, rather than a fault of the request. */
export function isTransientDbError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_CODES.test(code)) return true;
  // pg's answer on a connection that broke while the pool (or the batcher) held it.
  return isConnectionError(err) || /is not queryable/.test((err as Error | null)?.message ?? '');
}

/**
 * Runs `work` (one transaction), again after transient connection failures, for up to `budgetMs`; then throws
 * UnavailableError(DB_DOWN_TEXT). Other errors pass through. `work` must be safe to repeat: a transaction that
 * failed this way either committed nothing or committed (the caller tells by the rows' ids).
 */
export async function retryTransient<T>(work: () => Promise<T>, budgetMs = DB_RETRY_MS): Promise<T> {
  const until = Date.now() + budgetMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 1_000)) {
    try {
      return await work();
    } catch (err) {
      if (!isTransientDbError(err)) throw err;
      if (Date.now() + wait > until) throw new UnavailableError(DB_DOWN_TEXT, err);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** A submission's graph and its other writes in the same transaction (uploaded files, planning usage). */
export interface PendingGraph {
  graph: TaskGraph;
  also?: ((trx: Transaction<Database>) => Promise<unknown>) | undefined;
}

/** A committed graph; `settled` resolves once the batch's events are announced and its admitted work queued. */
export interface Persisted extends StoredGraph {
  settled: Promise<void>;
}

interface Waiting extends PendingGraph {
  resolve: (p: Persisted) => void;
  reject: (err: unknown) => void;
}

/** One connection the batcher writes on while submissions keep coming, and whether a batch is in flight on it. */
class Lane {
  busy = false;
  private pinned: { db: Kysely<Database>; release: () => void } | undefined;
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly db: Kysely<Database>) {}

  /** The lane's connection (taken from the pool once per busy period). */
  connection(): Promise<Kysely<Database>> {
    clearTimeout(this.idle);
    if (this.pinned) return Promise.resolve(this.pinned.db);
    return new Promise((resolve, reject) => {
      let got = false;
      this.db
        .connection()
        .execute(async (db) => {
          got = true;
          const held = new Promise<void>((release) => {
            this.pinned = { db, release };
          });
          resolve(db);
          await held;
        })
        .catch((err) => {
          if (!got) reject(err);
        });
    });
  }

  /** Keeps the connection for LINGER_MS more (a steady stream of submissions keeps it), then gives it back. */
  linger(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      if (!this.busy) this.unpin();
    }, LINGER_MS);
  }

  /** Gives the connection back to the pool (after a lull, or when it broke). */
  unpin(): void {
    const p = this.pinned;
    this.pinned = undefined;
    p?.release();
  }
}

/**
 * Persists submissions in batches on LANES connections of their own while submissions keep coming: a submission
 * never queues for the pool behind result transactions, and waits for a free lane, not for every batch in flight
 * (one slow commit does not hold up the next submissions).
 */
export class SubmitBatcher {
  private queue: Waiting[] = [];
  private readonly lanes: Lane[];
  /** Transactions run so far (for tests and metrics). */
  transactions = 0;

  constructor(
    private readonly ctx: HubContext,
    private readonly budgetMs = DB_RETRY_MS,
  ) {
    this.lanes = Array.from({ length: LANES }, () => new Lane(ctx.db));
  }

  /** Persists one graph with whatever else is pending; resolves when its transaction committed. */
  persist(pending: PendingGraph): Promise<Persisted> {
    return new Promise<Persisted>((resolve, reject) => {
      this.queue.push({ ...pending, resolve, reject });
      const free = this.lanes.find((l) => !l.busy);
      if (free) void this.drain(free);
    });
  }

  private async drain(lane: Lane): Promise<void> {
    lane.busy = true;
    try {
      while (this.queue.length) await this.flush(lane, this.queue.splice(0, MAX_BATCH));
    } finally {
      lane.busy = false;
      lane.linger();
    }
  }

  /** One transaction for the batch; when it fails for a reason of its own (a duplicate key), each member alone. */
  private async flush(lane: Lane, batch: Waiting[]): Promise<void> {
    let stored: { graphs: StoredGraph[]; admitted: SubtaskRow[] };
    try {
      stored = await retryTransient(() => this.write(lane, batch), this.budgetMs);
    } catch (err) {
      if (batch.length === 1 || err instanceof UnavailableError) {
        for (const w of batch) w.reject(err);
        return;
      }
      for (const w of batch) await this.flush(lane, [w]);
      return;
    }
    const settled = this.settle(stored.graphs, stored.admitted);
    settled.catch(() => {}); // each member awaits it (and reports) itself
    batch.forEach((w, i) => w.resolve({ ...stored.graphs[i]!, settled }));
  }

  /** The batch's transaction: graphs and locks, the members' other writes, then admission of their users. */
  private async write(lane: Lane, batch: Waiting[]): Promise<{ graphs: StoredGraph[]; admitted: SubtaskRow[] }> {
    this.transactions++;
    try {
      const db = await lane.connection();
      const pending = batch.map((w) => w.graph);
      const cap = this.ctx.config.MAX_INFLIGHT_PER_USER;
      const users = [...new Set(pending.map((g) => g.task.user_id))];
      if (statementGroupsAllowed(this.ctx.db) && !batch.some((w) => w.also)) {
        // One round trip instead of five (BEGIN, locks, insert, admission, COMMIT): the same statements as a group.
        const [, inserted, admitted] = await runStatementGroup(db, [
          ownersLock(db, pending),
          taskGraphsInsert(db, pending, cap),
          admissionStatement(db, users, cap),
        ]);
        const graphs = storedGraphs(pending, inserted![0] as Parameters<typeof storedGraphs>[1]);
        return { graphs, admitted: [...admittedOf(graphs), ...(admitted as SubtaskRow[])] };
      }
      return await db.transaction().execute(async (trx) => {
        const graphs = await insertTaskGraphs(trx, pending, cap);
        for (const w of batch) await w.also?.(trx);
        return { graphs, admitted: [...admittedOf(graphs), ...(await admitUsers(trx, users, cap))] };
      });
    } catch (err) {
      if (isTransientDbError(err)) lane.unpin();
      // After a lost connection the commit may have gone through: the task's id is then taken by itself.
      if (batch.length === 1 && isTaskIdTaken(err)) return loadCommitted(this.ctx.db, batch[0]!.graph);
      throw err;
    }
  }

  /** After commit, for the whole batch: every task's events, then what admission let in (so `accepted` goes first). */
  private async settle(graphs: StoredGraph[], admitted: SubtaskRow[]): Promise<void> {
    await Promise.all(graphs.map((g) => this.ctx.emit(g.events, g.task, g.subtasks)));
    if (admitted.length)
      await enqueueAdmitted(
        this.ctx,
        admitted,
        graphs.map((g) => ({ task: g.task, siblings: g.subtasks })),
      );
  }
}

/** The admitted subtasks of stored graphs: READY and queued (the insert admits them, see `taskGraphsInsert`). */
function admittedOf(graphs: { subtasks: SubtaskRow[] }[]): SubtaskRow[] {
  return graphs.flatMap((g) => g.subtasks.filter((s) => s.status === 'READY' && s.queued_at !== null));
}

/** Whether the insert failed because a task with this id exists (an earlier attempt of the same batch committed). */
function isTaskIdTaken(err: unknown): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return e?.code === '23505' && e.constraint === 'tasks_pkey';
}

/** A graph an earlier attempt committed, read back; its admitted subtasks (queued_at set) are queued again. */
async function loadCommitted(
  db: Kysely<Database>,
  graph: TaskGraph,
): Promise<{ graphs: StoredGraph[]; admitted: SubtaskRow[] }> {
  const id = graph.task.id as string;
  const task = await db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const subtasks = await loadSubtasks(db, id);
  const events = await db.selectFrom('task_events').selectAll().where('task_id', '=', id).orderBy('id').execute();
  return {
    graphs: [{ task, subtasks, events: events.map(toHubEvent) }],
    admitted: admittedOf([{ subtasks }]),
  };
}
