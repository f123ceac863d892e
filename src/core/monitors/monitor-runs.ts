// What monitor runs leave behind: the snapshot each run took, the summary of a change, and the one message per
// change (or baseline) to the owner; a periodic reconcile repairs what a dying hub left undone.
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { errorText } from '../errors.ts';
import { taskEvent, type HubEvent } from '../events.ts';
import type { HubContext } from '../hub-context.ts';
import { settle } from '../tasks/settle.ts';
import { shortId } from '../ids.ts';
import { NOTIFY_QUEUE } from '../queues.ts';
import type { ScheduleService } from '../schedules/schedule-service.ts';
import type { TaskRow } from '../store/schema.ts';
import type { TaskService } from '../tasks/task-service.ts';
import { insertEvents, loadSubtasks } from '../store/task-store.ts';
import type { ConversationRef } from '../types.ts';
import { listLiveWorkers } from '../worker-registry.ts';
import { monitorIdOf, summarySnapshotOf, summaryText } from './monitor-planner.ts';
import type { MonitorRow, MonitorSnapshotRow, SnapshotKind } from '../store/monitor-rows.ts';

/** What a web.monitor step returns (the fields the hub reads). */
interface CheckOutput {
  baseline: boolean;
  changed: boolean;
  checkedAt: string;
  title?: string | null;
  snapshot: { hash: string; text: string; etag: string | null; lastModified: string | null };
  diff?: string;
  added?: number;
  removed?: number;
}

/** Options of the run handling. */
export interface MonitorRunsOptions {
  /** Base URL for the diff links: PUBLIC_URL, else the web frontend's own address. */
  publicUrl: () => string;
}

const NOTIFY_OPTS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000, jitter: 0.3 },
  removeOnComplete: { age: 3600, count: 2000 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;

/** Path of the public diff page of one change (the id is random and unguessable). */
export const diffPath = (snapshotId: string): string => `/monitor-diffs/${snapshotId}`;

/** Turns monitor runs' results into snapshots and messages (an event sink), and reconciles them. */
export class MonitorRuns {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly ctx: HubContext,
    private readonly tasks: TaskService,
    private readonly schedules: ScheduleService,
    private readonly opts: MonitorRunsOptions,
  ) {}

  private get db() {
    return this.ctx.db;
  }

  /** Register with `ctx.onEvents`: stores run results, summarises changes, and tells the owner. */
  readonly sink = async (events: HubEvent[], task: TaskRow): Promise<void> => {
    const ended = events.some((e) => e.type === 'completed' || e.type === 'failed');
    if (ended && task.status === 'COMPLETED' && monitorIdOf(task.text)) await this.onRun(task);
    else if (ended && summarySnapshotOf(task.text)) await this.onSummary(task);
    else if (ended && task.status === 'FAILED' && monitorIdOf(task.text)) await this.onFirstFailure(task);
    const paused = events.find((e) => e.type === 'schedule.paused');
    // Monitor runs are silent, so the notifier would not pass this on: say it here.
    if (paused && task.notify_policy === 'silent' && (await this.isMonitorParent(task.id))) {
      await this.notify(
        task.id,
        `pause-${paused.id ?? paused.at}`,
        String(paused.data?.message ?? 'A monitor was paused.'),
      );
    }
  };

  /** A monitor's very first check failed (no baseline yet): say why at once; later failures count towards a pause. */
  private async onFirstFailure(task: TaskRow): Promise<void> {
    const monitorId = monitorIdOf(task.text)!;
    const monitor = await this.db.selectFrom('monitors').selectAll().where('id', '=', monitorId).executeTakeFirst();
    if (!monitor || !task.parent_task_id) return;
    const runs = await this.db
      .selectFrom('tasks')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('parent_task_id', '=', task.parent_task_id)
      .executeTakeFirstOrThrow();
    if (Number(runs.n) !== 1) return;
    await this.notify(
      task.id,
      `first-failure-${monitor.id}`,
      `Monitor ${shortId(monitor.id)} could not read ${monitor.url}: ${(task.error ?? 'the check failed').replace(/\.+$/, '')}. It stays scheduled and is paused after ${this.ctx.config.SCHEDULE_MAX_FAILURES} failed checks in a row; delete it with "monitors delete ${shortId(monitor.id)}".`,
    );
  }

  /** Whether a task is the parent task of a monitor's schedule. */
  private async isMonitorParent(taskId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('schedules as s')
      .innerJoin('monitors as m', 'm.schedule_id', 's.id')
      .select('m.id')
      .where('s.parent_task_id', '=', taskId)
      .executeTakeFirst();
    return row !== undefined;
  }

  private async onRun(task: TaskRow): Promise<void> {
    const monitorId = monitorIdOf(task.text)!;
    const monitor = await this.db.selectFrom('monitors').selectAll().where('id', '=', monitorId).executeTakeFirst();
    const out = (await loadSubtasks(this.db, task.id)).find((s) => s.capability === 'web.monitor')?.output as
      | CheckOutput
      | undefined;
    if (!monitor || !out?.snapshot) return;
    const kind: SnapshotKind = out.baseline ? 'baseline' : out.changed ? 'changed' : 'unchanged';
    const snapshotId = randomBytes(18).toString('base64url');
    const stored = await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('monitor_snapshots')
        .values({
          id: snapshotId,
          monitor_id: monitor.id,
          task_id: task.id,
          kind,
          hash: out.snapshot.hash,
          text: kind === 'unchanged' ? null : out.snapshot.text,
          diff: out.diff ?? null,
          added: out.added ?? null,
          removed: out.removed ?? null,
          summary: null,
          etag: out.snapshot.etag,
          last_modified: out.snapshot.lastModified,
          checked_at: new Date(out.checkedAt),
          notified_at: null,
        })
        .onConflict((oc) => oc.column('task_id').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (row) {
        await trx
          .updateTable('monitors')
          .set({
            checks: sql`checks + 1`,
            last_checked_at: row.checked_at,
            ...(kind === 'changed' ? { changes: sql`changes + 1`, last_changed_at: row.checked_at } : {}),
          })
          .where('id', '=', monitor.id)
          .execute();
      }
      return row;
    });
    if (!stored) return; // a redelivered completion: stored (and told) the first time
    this.ctx.log.info({ monitorId: monitor.id, taskId: task.id, kind }, 'monitor run stored');
    const data = { monitorId: monitor.id, snapshotId: stored.id, added: stored.added, removed: stored.removed };
    await settle(this.ctx, {
      task,
      events: await insertEvents(this.db, [taskEvent(`monitor.${kind}`, task.id, 'hub', data)]),
    });
    if (kind === 'unchanged') return;
    if (kind === 'baseline') {
      await this.tellBaseline(monitor, stored, out.title ?? null);
      return;
    }
    if (await this.llmAvailable()) {
      try {
        await this.tasks.submit({
          origin: this.originOf(task),
          text: summaryText(stored.id),
          parentTaskId: task.id,
          notifyPolicy: 'silent',
        });
        return;
      } catch (err) {
        this.ctx.log.warn(
          { err: errorText(err), monitorId: monitor.id },
          'change summary not started; telling without it',
        );
      }
    }
    await this.tellChange(monitor, stored, task.id, null);
  }

  private async onSummary(task: TaskRow): Promise<void> {
    const snapshotId = summarySnapshotOf(task.text)!;
    const snap = await this.db
      .selectFrom('monitor_snapshots')
      .selectAll()
      .where('id', '=', snapshotId)
      .executeTakeFirst();
    if (!snap || snap.notified_at) return;
    const monitor = await this.db
      .selectFrom('monitors')
      .selectAll()
      .where('id', '=', snap.monitor_id)
      .executeTakeFirst();
    if (!monitor) return;
    let summary: string | null = null;
    if (task.status === 'COMPLETED') {
      const output = (await loadSubtasks(this.db, task.id)).find((s) => s.key === 'summary')?.output;
      summary = textOfOutput(output);
      if (summary) await this.db.updateTable('monitor_snapshots').set({ summary }).where('id', '=', snap.id).execute();
    }
    await this.tellChange(monitor, snap, task.parent_task_id ?? task.id, summary);
  }

  /** The first run's message, said once. */
  private async tellBaseline(monitor: MonitorRow, snap: MonitorSnapshotRow, title: string | null): Promise<void> {
    const schedule = await this.schedules.load(monitor.schedule_id);
    await this.notify(
      snap.task_id,
      snap.id,
      `Monitoring ${monitor.url}${title ? ` ("${title}")` : ''}: I took a baseline of the page and will tell you when it changes (checked ${schedule?.description ?? 'on schedule'}). Monitor id: ${shortId(monitor.id)}.`,
    );
  }

  /**
   * Repairs what a hub that died mid-way left undone: runs that completed without their snapshot stored, and
   * baselines or changes nobody was told about (their summary ended, or was never started).
   */
  async reconcile(graceMs = 60_000): Promise<number> {
    let repaired = 0;
    const since = new Date(Date.now() - 24 * 3600_000);
    const missed = await this.db
      .selectFrom('tasks as t')
      .innerJoin('schedules as sc', 'sc.parent_task_id', 't.parent_task_id')
      .innerJoin('monitors as m', 'm.schedule_id', 'sc.id')
      .selectAll('t')
      .where('t.status', '=', 'COMPLETED')
      .where('t.finished_at', '>', since)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('monitor_snapshots as s').select('s.id').whereRef('s.task_id', '=', 't.id'))),
      )
      .orderBy('t.finished_at')
      .limit(100)
      .execute();
    for (const t of missed) {
      await this.onRun(t);
      repaired++;
    }
    const untold = await this.db
      .selectFrom('monitor_snapshots')
      .selectAll()
      .where('kind', 'in', ['baseline', 'changed'])
      .where('notified_at', 'is', null)
      .where('created_at', '>', since)
      .where('created_at', '<', new Date(Date.now() - graceMs))
      .limit(100)
      .execute();
    for (const snap of untold) {
      const monitor = await this.db
        .selectFrom('monitors')
        .selectAll()
        .where('id', '=', snap.monitor_id)
        .executeTakeFirst();
      if (!monitor) continue;
      const summary = await this.db
        .selectFrom('tasks')
        .selectAll()
        .where('text', '=', summaryText(snap.id))
        .executeTakeFirst();
      if (summary && !['COMPLETED', 'FAILED', 'CANCELLED', 'REJECTED'].includes(summary.status)) continue;
      if (summary) await this.onSummary(summary);
      else if (snap.kind === 'baseline') await this.tellBaseline(monitor, snap, null);
      else await this.tellChange(monitor, snap, snap.task_id, null);
      repaired++;
    }
    if (repaired) this.ctx.log.warn({ repaired }, 'monitor runs reconciled');
    return repaired;
  }

  /** Starts the periodic reconcile (every minute). */
  start(intervalMs = 60_000): void {
    this.timer = setInterval(() => {
      void this.reconcile().catch((err) => this.ctx.log.error({ err }, 'monitor reconcile failed'));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the periodic reconcile. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The one message of a change: the summary (or the first changed lines) and the link to the full diff. */
  private async tellChange(monitor: MonitorRow, snap: MonitorSnapshotRow, runTaskId: string, summary: string | null) {
    const link = `${this.opts.publicUrl().replace(/\/+$/, '')}${diffPath(snap.id)}`;
    const gist =
      summary ??
      (snap.diff ?? '')
        .split('\n')
        .filter((l) => /^[+-](?![+-])/.test(l))
        .slice(0, 6)
        .join('\n');
    await this.notify(
      runTaskId,
      snap.id,
      `${monitor.url} changed (+${snap.added ?? 0} / -${snap.removed ?? 0} lines).\n${gist}\nFull diff: ${link}`,
    );
  }

  /** Queues one message to the task's conversation through the notifier's outbox queue (once per key). */
  private async notify(taskId: string, key: string, text: string): Promise<void> {
    await this.ctx.queues
      .get(NOTIFY_QUEUE)
      .add('info', { kind: 'info', taskId, text }, { ...NOTIFY_OPTS, jobId: `monitor-${key}` });
    if (/^[A-Za-z0-9_-]{16,64}$/.test(key)) {
      await this.db.updateTable('monitor_snapshots').set({ notified_at: new Date() }).where('id', '=', key).execute();
    }
  }

  /** Whether a live worker advertises llm.summarize (an LLM is configured somewhere). */
  private async llmAvailable(): Promise<boolean> {
    const workers = await listLiveWorkers(this.ctx.redis, this.ctx.keys);
    return workers.some((w) => w.state !== 'SHUTDOWN' && w.specs?.some((s) => s.name === 'llm.summarize'));
  }

  private originOf(task: TaskRow): ConversationRef {
    const o = task.origin as ConversationRef;
    return {
      platform: o.platform,
      conversationId: o.conversationId,
      userId: o.userId,
      ...(o.threadId !== undefined ? { threadId: o.threadId } : {}),
    };
  }
}

/** The text of an LLM step's output, whatever shape it has ({summary}, {text}, {content} or a string). */
function textOfOutput(output: unknown): string | null {
  if (typeof output === 'string') return output.trim() || null;
  if (output && typeof output === 'object') {
    const o = output as Record<string, unknown>;
    for (const k of ['summary', 'text', 'content', 'answer'])
      if (typeof o[k] === 'string' && o[k]) return (o[k] as string).trim();
  }
  return null;
}
