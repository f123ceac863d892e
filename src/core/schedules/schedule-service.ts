// Schedules ("do this at X", "do this every X"): Postgres is the record, a BullMQ job scheduler (or one delayed job) the timer.
import type { JobSchedulerTemplateOptions, Queue } from 'bullmq';
import type { Transaction } from 'kysely';
import { validateRequest } from '../tasks/request-input.ts';
import { ConflictError, errorText, InvalidInputError, NotFoundError } from '../errors.ts';
import { taskEvent } from '../events.ts';
import type { HubContext } from '../hub-context.ts';
import { newId, shortId } from '../ids.ts';
import type { Database, TaskRow } from '../store/schema.ts';
import { settle } from '../tasks/settle.ts';
import { accept, cancel, complete } from '../tasks/transitions.ts';
import type { Caller } from '../tasks/task-service.ts';
import { insertEvents, json, newTaskValues, now as sqlNow } from '../store/task-store.ts';
import type { ConversationRef, NotifyPolicy, Priority } from '../types.ts';
import { toSchedule, type Schedule, type ScheduleStatus } from '../store/schedule-rows.ts';
import {
  ACCEPTED_FORMS,
  canonicalZone,
  nextRunOf,
  parseWhen,
  splitScheduleRequest,
  type WhenSpec,
} from './time-spec.ts';

/** The BullMQ queue whose jobs fire schedule runs. */
export const SCHEDULES_QUEUE = 'schedules';

/** What a fire job carries: only the schedule id (everything else is read from Postgres when it fires). */
export interface FireJobData {
  scheduleId: string;
}

/** Job scheduler id of a recurring schedule. */
export const schedulerIdOf = (scheduleId: string): string => `sched-${scheduleId}`;
/** Deterministic job id of a one-shot schedule's delayed job (so two hubs can never add it twice). */
export const atJobIdOf = (scheduleId: string): string => `at-${scheduleId}`;

const FIRE_JOB_OPTS: JobSchedulerTemplateOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 1000 },
};

/** Default time zone of users who have not set one. */
export const DEFAULT_TIMEZONE = 'UTC';

/** A schedule request: where it came from, when, and what to do each time. */
export interface CreateScheduleRequest {
  origin: ConversationRef;
  when: string;
  text: string;
  priority?: Priority | undefined;
  notifyPolicy?: NotifyPolicy | undefined;
}

/** Options of the schedule service. */
export interface ScheduleServiceOptions {
  /** The clock (tests). */
  now?: () => Date;
  /** Active and paused schedules one user may have (default 100). */
  maxPerUser?: number;
  /** Shortest interval of an "every" schedule for non-admins (default: config SCHEDULE_MIN_INTERVAL_MS, else 1 s). */
  minIntervalMs?: number;
}

/** What a pause, resume or delete did. */
export interface ScheduleChange {
  schedule: Schedule;
  changed: boolean;
}

/** Creates, lists and controls users' schedules, and keeps BullMQ in line with them. */
export class ScheduleService {
  constructor(
    private readonly ctx: HubContext,
    private readonly opts: ScheduleServiceOptions = {},
  ) {}

  /** The database, typed with the schedule tables. */
  get db() {
    return this.ctx.db;
  }

  /** The queue whose jobs fire runs. */
  get queue(): Queue<FireJobData> {
    return this.ctx.queues.get(SCHEDULES_QUEUE) as Queue<FireJobData>;
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  /** Creates a schedule from one request text that starts with its "when" ("every day at 9:00 summarise the news"). */
  async createFromText(
    req: Omit<CreateScheduleRequest, 'when'>,
  ): Promise<{ schedule: Schedule; nextRunAt: Date | null }> {
    const split = splitScheduleRequest(typeof req.text === 'string' ? req.text : '');
    if (!split) {
      throw new InvalidInputError(
        `Start the request with when it should run, e.g. "every day at 9:00 summarise the news" or "in 2 hours check the build". Say it ${ACCEPTED_FORMS.join('; or ')}.`,
      );
    }
    return this.create({ ...req, when: split.when, text: split.what });
  }

  /** Validates and stores a schedule with its parent task, then registers it in BullMQ. Refusals write nothing. */
  async create(req: CreateScheduleRequest): Promise<{ schedule: Schedule; nextRunAt: Date | null }> {
    const { config } = this.ctx;
    const userId = req.origin?.userId;
    if (!userId) throw new InvalidInputError('A schedule needs the user it runs for.');
    const whenText = typeof req.when === 'string' ? req.when.trim().replace(/\s+/g, ' ') : '';
    const { text, priority, notifyPolicy } = validateRequest(
      config,
      req,
      'Say what to do as well as when, e.g. "every day at 9:00 summarise the news".',
    );
    const zone = await this.getTimezone(userId);
    const now = this.now();
    const spec = parseWhen(whenText, { now, zone });
    const minInterval = this.opts.minIntervalMs ?? config.SCHEDULE_MIN_INTERVAL_MS;
    if (
      spec.kind === 'every' &&
      spec.everyMs !== undefined &&
      spec.everyMs < minInterval &&
      !this.ctx.isAdmin(userId)
    ) {
      throw new InvalidInputError(
        `Runs can be at most every ${minInterval / 1000} seconds here; "${whenText}" is more often.`,
      );
    }
    const max = this.opts.maxPerUser ?? 100;
    const open = await this.db
      .selectFrom('schedules')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('user_id', '=', userId)
      .where('status', 'in', ['active', 'paused'])
      .executeTakeFirstOrThrow();
    if (Number(open.n) >= max) throw new ConflictError(`You have ${max} schedules, the limit; delete one first.`);

    const nextRunAt = nextRunOf(spec, { now, zone });
    const id = newId();
    const parentId = newId();
    const { schedule, parent, events } = await this.db.transaction().execute(async (trx) => {
      // A schedule's task waits in SCHEDULED; the schedule's own reply acknowledges it (no `accepted` event).
      const { values } = accept(
        newTaskValues({
          id: parentId,
          user_id: userId,
          origin: json(req.origin)!,
          text: `${whenText} ${text}`,
          status: 'SCHEDULED',
          priority,
          notify_policy: notifyPolicy,
        }),
        'SCHEDULED',
      );
      const parent = await trx.insertInto('tasks').values(values).returningAll().executeTakeFirstOrThrow();
      const row = await trx
        .insertInto('schedules')
        .values({
          id,
          user_id: userId,
          origin: json(req.origin)!,
          text,
          when_text: whenText,
          description: spec.description,
          kind: spec.kind,
          cron: spec.kind === 'every' ? (spec.pattern ?? null) : null,
          every_ms: spec.kind === 'every' ? (spec.everyMs ?? null) : null,
          run_at: spec.kind === 'at' ? spec.runAt : null,
          timezone: zone,
          parent_task_id: parentId,
          status: 'active',
          paused_reason: null,
          last_run_at: null,
          next_run_at: nextRunAt,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      const events = await insertEvents(trx, [
        taskEvent('schedule.created', parentId, userId, {
          status: 'SCHEDULED',
          scheduleId: id,
          kind: spec.kind,
          description: spec.description,
          timezone: zone,
          nextRunAt: nextRunAt.toISOString(),
        }),
      ]);
      return { schedule: toSchedule(row), parent, events };
    });
    await this.registerOrLog(schedule);
    this.ctx.log.info({ scheduleId: id, taskId: parentId, user: userId, when: spec.description }, 'schedule created');
    await settle(this.ctx, { task: parent, events });
    return { schedule, nextRunAt };
  }

  /** The caller's schedules, newest first (`all`: everyone's, admins only); one-shots that ran stay listed as done, deleted ones only with `includeEnded`. */
  async list(
    caller: Caller & { all?: boolean | undefined },
    opts: { includeEnded?: boolean | undefined; limit?: number | undefined } = {},
  ): Promise<Schedule[]> {
    let q = this.db.selectFrom('schedules').selectAll();
    if (!(caller.isAdmin && caller.all)) q = q.where('user_id', '=', caller.userId);
    q = q.where(
      'status',
      'in',
      opts.includeEnded ? ['active', 'paused', 'done', 'deleted'] : ['active', 'paused', 'done'],
    );
    const rows = await q
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(Math.min(Math.max(opts.limit ?? 100, 1), 500))
      .execute();
    return rows.map(toSchedule);
  }

  /** A schedule the caller may see, by id, id prefix (4+ characters) or its parent task's id; else NotFound (never Forbidden). */
  async find(idOrPrefix: string, caller: Caller): Promise<Schedule> {
    const id = String(idOrPrefix ?? '')
      .trim()
      .toLowerCase();
    if (!/^[0-9a-f-]{4,36}$/.test(id)) throw new NotFoundError(`No schedule ${idOrPrefix}.`);
    let q = this.db.selectFrom('schedules').selectAll().where('status', '!=', 'deleted');
    q =
      id.length === 36
        ? q.where((eb) => eb.or([eb('id', '=', id), eb('parent_task_id', '=', id)]))
        : q.where((eb) => eb.or([eb('id', 'like', `${id}%`), eb('parent_task_id', 'like', `${id}%`)]));
    if (!caller.isAdmin) q = q.where('user_id', '=', caller.userId);
    const rows = await q.limit(2).execute();
    if (rows.length === 0) throw new NotFoundError(`No schedule ${idOrPrefix}.`);
    if (rows.length > 1)
      throw new InvalidInputError(`${idOrPrefix} matches more than one schedule; give more characters.`);
    return toSchedule(rows[0]!);
  }

  /** A schedule by id, whatever its state (the runner's view). */
  async load(scheduleId: string): Promise<Schedule | undefined> {
    const row = await this.db.selectFrom('schedules').selectAll().where('id', '=', scheduleId).executeTakeFirst();
    return row ? toSchedule(row) : undefined;
  }

  /** Stops an active schedule from firing until it is resumed; pausing a paused one changes nothing. */
  async pause(idOrPrefix: string, caller: Caller): Promise<ScheduleChange> {
    const s = await this.find(idOrPrefix, caller);
    if (s.status === 'paused') return { schedule: s, changed: false };
    if (s.status !== 'active')
      throw new ConflictError(`Schedule ${shortId(s.id)} is ${s.status}; only an active schedule can be paused.`);
    const out = await this.transition(
      s,
      ['active'],
      { status: 'paused', paused_reason: `Paused by ${caller.userId}.`, next_run_at: null },
      { type: 'schedule.paused_by_user', actor: caller.userId, data: {} },
    );
    return out ?? { schedule: await this.find(s.id, caller), changed: false };
  }

  /** Starts a paused schedule again with its failure count reset; a one-shot whose time passed runs at once. */
  async resume(idOrPrefix: string, caller: Caller): Promise<ScheduleChange> {
    const s = await this.find(idOrPrefix, caller);
    if (s.status === 'active') return { schedule: s, changed: false };
    if (s.status !== 'paused')
      throw new ConflictError(`Schedule ${shortId(s.id)} is ${s.status}; only a paused schedule can be resumed.`);
    const now = this.now();
    const next = nextRunOf(specOf(s), { now, zone: s.timezone });
    const nextRunAt = next.getTime() < now.getTime() ? now : next;
    const out = await this.transition(
      s,
      ['paused'],
      { status: 'active', paused_reason: null, consecutive_failures: 0, next_run_at: nextRunAt },
      { type: 'schedule.resumed', actor: caller.userId, data: { nextRunAt: nextRunAt.toISOString() } },
    );
    return out ?? { schedule: await this.find(s.id, caller), changed: false };
  }

  /** Deletes a schedule: it never fires again and its parent task is cancelled (runs already started finish). */
  async delete(idOrPrefix: string, caller: Caller): Promise<ScheduleChange> {
    const s = await this.find(idOrPrefix, caller);
    const out = await this.transition(
      s,
      ['active', 'paused', 'done'],
      { status: 'deleted', next_run_at: null },
      { type: 'schedule.deleted', actor: caller.userId, data: { status: 'CANCELLED' } },
      `Schedule deleted by ${caller.userId}.`,
    );
    if (!out) throw new NotFoundError(`No schedule ${idOrPrefix}.`);
    return out;
  }

  /** Someone cancelled a schedule's parent task (e.g. `cancel <task>`): the schedule is deleted with it. */
  async onParentCancelled(task: TaskRow, actor: string): Promise<void> {
    const row = await this.db
      .selectFrom('schedules')
      .selectAll()
      .where('parent_task_id', '=', task.id)
      .where('status', 'in', ['active', 'paused'])
      .executeTakeFirst();
    if (!row) return;
    await this.transition(
      toSchedule(row),
      ['active', 'paused'],
      { status: 'deleted', next_run_at: null },
      { type: 'schedule.deleted', actor, data: { reason: 'parent task cancelled' } },
    );
  }

  /** Pauses a schedule on the hub's own account (too many failures, a refused request); the event tells the user. */
  async pauseAutomatically(s: Schedule, reason: string, data: Record<string, unknown>): Promise<Schedule | null> {
    const out = await this.transition(
      s,
      ['active'],
      { status: 'paused', paused_reason: reason, next_run_at: null },
      {
        type: 'schedule.paused',
        actor: 'scheduler',
        data: {
          ...data,
          reason,
          message: `Your schedule ${shortId(s.id)} (${s.description}: "${clip(s.text)}") is paused. ${reason} Resume it with "schedules resume ${shortId(s.id)}" once the cause is fixed.`,
        },
      },
    );
    return out?.schedule ?? null;
  }

  /** Sets the user's time zone (an IANA name) for schedules created from now on; returns its canonical name. */
  async setTimezone(userId: string, zone: string): Promise<string> {
    const canonical = canonicalZone(zone);
    if (!canonical)
      throw new InvalidInputError(
        `"${String(zone ?? '').slice(0, 60)}" is not a time zone I know; use an IANA name such as Europe/Berlin, America/New_York or UTC.`,
      );
    await this.db
      .insertInto('user_settings')
      .values({ user_id: userId, timezone: canonical })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ timezone: canonical, updated_at: sqlNow }))
      .execute();
    return canonical;
  }

  /** The user's time zone, UTC until they set one. */
  async getTimezone(userId: string): Promise<string> {
    const row = await this.db
      .selectFrom('user_settings')
      .select('timezone')
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.timezone ?? DEFAULT_TIMEZONE;
  }

  /** Puts an active schedule's timer into BullMQ (idempotent: schedulers upsert, the one-shot job id is fixed). */
  async register(s: Schedule): Promise<void> {
    const q = this.queue;
    if (s.kind === 'at') {
      const jobId = atJobIdOf(s.id);
      const existing = await q.getJob(jobId);
      if (existing) {
        const state = await existing.getState();
        if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return;
        // A job that ran while the schedule was paused (and skipped) must not block the new one.
        await existing.remove().catch(() => {});
      }
      await q.add(
        'fire',
        { scheduleId: s.id },
        { ...FIRE_JOB_OPTS, jobId, delay: Math.max(0, s.run_at!.getTime() - Date.now()) },
      );
      return;
    }
    const repeat = s.cron
      ? { pattern: s.cron, tz: s.timezone }
      : { every: s.every_ms!, startDate: Math.max(Date.now(), s.next_run_at?.getTime() ?? 0) };
    await q.upsertJobScheduler(schedulerIdOf(s.id), repeat, {
      name: 'fire',
      data: { scheduleId: s.id },
      opts: FIRE_JOB_OPTS,
    });
  }

  /** Takes a schedule's timer out of BullMQ (a run already handed to a consumer still sees the new status and skips). */
  async unregister(s: Schedule): Promise<void> {
    if (s.kind === 'at') await this.queue.remove(atJobIdOf(s.id));
    else await this.queue.removeJobScheduler(schedulerIdOf(s.id));
  }

  private async registerOrLog(s: Schedule): Promise<void> {
    try {
      await this.register(s);
    } catch (err) {
      // Postgres has it; the runner's reconcile registers it once Redis answers again.
      this.ctx.log.error(
        { err: errorText(err), scheduleId: s.id },
        'could not register the schedule in Redis; reconcile will retry',
      );
    }
  }

  /** A guarded status change with an event on the parent task; the parent ends when the schedule is deleted. */
  private async transition(
    s: Schedule,
    from: ScheduleStatus[],
    set: Partial<{
      status: ScheduleStatus;
      paused_reason: string | null;
      consecutive_failures: number;
      next_run_at: Date | null;
    }>,
    event: {
      type: 'schedule.paused' | 'schedule.paused_by_user' | 'schedule.resumed' | 'schedule.deleted';
      actor: string;
      data: Record<string, unknown>;
    },
    cancelReason?: string,
  ): Promise<ScheduleChange | null> {
    const out = await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('schedules')
        .set({ ...set, updated_at: sqlNow })
        .where('id', '=', s.id)
        .where('status', 'in', from)
        .returningAll()
        .executeTakeFirst();
      if (!row) return null;
      const parent =
        set.status === 'deleted'
          ? await endParent(trx, row.parent_task_id, 'CANCELLED', cancelReason ?? 'Schedule deleted.')
          : null;
      const data = { scheduleId: row.id, from: s.status, to: row.status, ...event.data };
      const events = await insertEvents(trx, [taskEvent(event.type, row.parent_task_id, event.actor, data)]);
      const task =
        parent ??
        (await trx.selectFrom('tasks').selectAll().where('id', '=', row.parent_task_id).executeTakeFirstOrThrow());
      return { schedule: toSchedule(row), events, task };
    });
    if (!out) return null;
    if (out.schedule.status === 'active') await this.registerOrLog(out.schedule);
    else
      await this.unregister(out.schedule).catch((err) =>
        this.ctx.log.warn(
          { err: errorText(err), scheduleId: s.id },
          'could not remove the schedule from Redis; reconcile will retry',
        ),
      );
    this.ctx.log.info(
      { scheduleId: s.id, from: s.status, to: out.schedule.status, actor: event.actor },
      'schedule changed',
    );
    await settle(this.ctx, { task: out.task, events: out.events });
    return { schedule: out.schedule, changed: true };
  }
}

/**
 * Ends a schedule's parent task. The move's own event is not recorded: the schedule's event (`schedule.done`,
 * `schedule.deleted`) says it, and the parent gets no final message (final_notified).
 */
export async function endParent(
  trx: Transaction<Database>,
  parentId: string,
  status: 'COMPLETED' | 'CANCELLED',
  note: string | null,
  result?: unknown,
): Promise<TaskRow | null> {
  const quiet = { final_notified: true };
  const moved =
    status === 'COMPLETED'
      ? await complete(trx, parentId, result ?? null, { ...quiet, error: null })
      : await cancel(trx, parentId, 'scheduler', note ?? 'Schedule ended.', { ...quiet, result: null });
  return moved?.task ?? null;
}

/** The parsed spec a stored schedule stands for. */
export function specOf(s: Schedule): WhenSpec {
  if (s.kind === 'at') return { kind: 'at', runAt: s.run_at!, description: s.description };
  return s.cron
    ? { kind: 'every', pattern: s.cron, description: s.description }
    : { kind: 'every', everyMs: s.every_ms!, description: s.description };
}

function clip(text: string, max = 80): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`;
}
