// Web monitors: each is a recurring schedule (BullMQ job scheduler, runs as silent child tasks) whose runs check a
// page. This service creates, lists and controls them; MonitorRuns stores what the runs find and tells the owner.
import { errorText, InvalidInputError, NotFoundError } from '../errors.ts';
import type { HubContext } from '../hub-context.ts';
import { newId, shortId } from '../ids.ts';
import type { ScheduleRunner } from '../schedules/schedule-runner.ts';
import type { Schedule } from '../store/schedule-rows.ts';
import type { ScheduleService } from '../schedules/schedule-service.ts';
import { parseWhen } from '../schedules/time-spec.ts';
import type { Caller, TaskService } from '../tasks/task-service.ts';
import type { ConversationRef } from '../types.ts';
import { checkText } from './monitor-planner.ts';
import type { MonitorRow } from '../store/monitor-rows.ts';
import { MonitorRuns, type MonitorRunsOptions } from './monitor-runs.ts';

/** A monitor request: the page, when to check it, and what to compare. */
export interface CreateMonitorRequest {
  origin: ConversationRef;
  url: string;
  when: string;
  selector?: string | undefined;
  ignore?: string[] | undefined;
}

/** A monitor with its schedule (status, when, next run). */
export interface MonitorView {
  monitor: MonitorRow;
  schedule: Schedule;
  /** The check started at creation (the baseline). */
  firstRunTaskId?: string | undefined;
}

/** Checks a URL is something a monitor can watch (the worker's SSRF guard decides the rest). */
function validUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(String(raw ?? '').trim());
  } catch {
    throw new InvalidInputError(`"${String(raw).slice(0, 100)}" is not a URL; give a full http(s) address.`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new InvalidInputError('Only http(s) pages can be monitored.');
  return u.href;
}

/** Creates, lists and controls monitors. */
export class MonitorService {
  /** The run handling: register `runs.sink` with `ctx.onEvents`, and `runs.start()` the reconcile. */
  readonly runs: MonitorRuns;

  constructor(
    private readonly ctx: HubContext,
    tasks: TaskService,
    private readonly schedules: ScheduleService,
    private readonly runner: ScheduleRunner,
    opts: MonitorRunsOptions,
  ) {
    this.runs = new MonitorRuns(ctx, tasks, schedules, opts);
  }

  private get db() {
    return this.ctx.db;
  }

  /** Creates a monitor: validates, creates its recurring schedule (silent runs), stores it. Refusals write nothing. */
  async create(req: CreateMonitorRequest): Promise<MonitorView> {
    const url = validUrl(req.url);
    const selector = req.selector?.trim() || null;
    if (selector && selector.length > 500) throw new InvalidInputError('The selector is longer than 500 characters.');
    const ignore = (req.ignore ?? []).map((p) => String(p));
    if (ignore.length > 20) throw new InvalidInputError('At most 20 ignore patterns.');
    for (const p of ignore) {
      if (p.length > 200) throw new InvalidInputError('An ignore pattern is longer than 200 characters.');
      try {
        new RegExp(p, 'giu');
      } catch (err) {
        throw new InvalidInputError(`The ignore pattern /${p}/ is not a valid regular expression: ${errorText(err)}`);
      }
    }
    if (parseWhen(String(req.when ?? ''), { now: new Date(), zone: 'UTC' }).kind !== 'every') {
      throw new InvalidInputError(
        `A monitor runs repeatedly: say how often, e.g. "every day at 9:00", not "${req.when}".`,
      );
    }
    const id = newId();
    const { schedule } = await this.schedules.create({
      origin: req.origin,
      when: req.when,
      text: checkText(id),
      notifyPolicy: 'silent',
    });
    try {
      await this.db
        .insertInto('monitors')
        .values({
          id,
          user_id: req.origin.userId,
          schedule_id: schedule.id,
          url,
          selector,
          ignore: JSON.stringify(ignore),
        })
        .execute();
    } catch (err) {
      await this.schedules.delete(schedule.id, { userId: req.origin.userId, isAdmin: true }).catch(() => {});
      throw err;
    }
    this.ctx.log.info({ monitorId: id, scheduleId: schedule.id, url }, 'monitor created');
    // The baseline is taken now, so a page that cannot be read is known at once (MonitorRuns tells the owner).
    const first = await this.runner.fire(schedule.id, Date.now()).catch((err) => {
      this.ctx.log.warn(
        { err: errorText(err), monitorId: id },
        'first monitor check not started; the schedule runs it',
      );
      return undefined;
    });
    return { ...(await this.view(id)), firstRunTaskId: first?.taskId };
  }

  /** Creates a monitor from chat text: "<url> every day at 9:00" (the URL first, then the schedule phrase). */
  async createFromText(origin: ConversationRef, text: string): Promise<MonitorView> {
    const m = /^(\S+)\s+(.+)$/.exec(text.trim());
    if (!m) throw new InvalidInputError('Say what and when: monitor https://example.org/page every day at 9:00');
    // "… for changes and summarise daily" reads as "daily".
    const when = m[2]!
      .replace(
        /^(?:for changes\s*)?(?:and\s+(?:summari[sz]e|report|tell me|notify me)(?:\s+(?:it|them|the changes|changes))?\s*)?/i,
        '',
      )
      .trim();
    // "daily" alone has no time: monitors check at 9:00 then (the reply shows it).
    const timed = /^(daily|every day)$/i.test(when) ? `${when} at 9:00` : when;
    return this.create({ origin, url: m[1]!, when: timed || m[2]!.trim() });
  }

  private async view(id: string): Promise<MonitorView> {
    const monitor = await this.db.selectFrom('monitors').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const schedule = await this.schedules.load(monitor.schedule_id);
    return { monitor, schedule: schedule! };
  }

  /** The caller's monitors (admins: `all` for everyone's), newest first; deleted ones are not listed. */
  async list(caller: Caller & { all?: boolean | undefined }): Promise<MonitorView[]> {
    let q = this.db
      .selectFrom('monitors as m')
      .innerJoin('schedules as s', 's.id', 'm.schedule_id')
      .selectAll('m')
      .where('s.status', 'in', ['active', 'paused']);
    if (!(caller.isAdmin && caller.all)) q = q.where('m.user_id', '=', caller.userId);
    const rows = await q.orderBy('m.created_at', 'desc').limit(500).execute();
    const out: MonitorView[] = [];
    for (const monitor of rows) out.push({ monitor, schedule: (await this.schedules.load(monitor.schedule_id))! });
    return out;
  }

  /** A monitor the caller may see, by id or id prefix (4+ characters); else NotFound. */
  async find(idOrPrefix: string, caller: Caller): Promise<MonitorView> {
    const id = String(idOrPrefix ?? '')
      .trim()
      .toLowerCase();
    if (!/^[0-9a-f-]{4,36}$/.test(id)) throw new NotFoundError(`No monitor ${idOrPrefix}.`);
    let q = this.db
      .selectFrom('monitors as m')
      .innerJoin('schedules as s', 's.id', 'm.schedule_id')
      .select('m.id')
      .where('s.status', '!=', 'deleted')
      .where('m.id', id.length === 36 ? '=' : 'like', id.length === 36 ? id : `${id}%`);
    if (!caller.isAdmin) q = q.where('m.user_id', '=', caller.userId);
    const rows = await q.limit(2).execute();
    if (rows.length === 0) throw new NotFoundError(`No monitor ${idOrPrefix}.`);
    if (rows.length > 1)
      throw new InvalidInputError(`${idOrPrefix} matches more than one monitor; give more characters.`);
    return this.view(rows[0]!.id);
  }

  /** Pauses, resumes or deletes a monitor through its schedule. */
  async control(action: 'pause' | 'resume' | 'delete', idOrPrefix: string, caller: Caller): Promise<MonitorView> {
    const { monitor } = await this.find(idOrPrefix, caller);
    await this.schedules[action](monitor.schedule_id, caller);
    return this.view(monitor.id);
  }

  /** Runs a check now (as a run of its schedule); the monitor must be active. */
  async runNow(idOrPrefix: string, caller: Caller): Promise<{ taskId: string }> {
    const { monitor, schedule } = await this.find(idOrPrefix, caller);
    if (schedule.status !== 'active') {
      throw new InvalidInputError(`Monitor ${shortId(monitor.id)} is ${schedule.status}; resume it first.`);
    }
    const fired = await this.runner.fire(schedule.id, Date.now());
    if (!fired.taskId) throw new InvalidInputError(`The check did not start: ${fired.reason ?? fired.status}.`);
    return { taskId: fired.taskId };
  }

  /** The diff of one change, by its (unguessable) snapshot id. */
  async diffOf(snapshotId: string): Promise<{ url: string; diff: string; checkedAt: Date }> {
    const row = /^[A-Za-z0-9_-]{16,64}$/.test(snapshotId)
      ? await this.db
          .selectFrom('monitor_snapshots as s')
          .innerJoin('monitors as m', 'm.id', 's.monitor_id')
          .select(['m.url', 's.diff', 's.checked_at'])
          .where('s.id', '=', snapshotId)
          .executeTakeFirst()
      : undefined;
    if (!row?.diff) throw new NotFoundError('No such change.');
    return { url: row.url, diff: row.diff, checkedAt: row.checked_at };
  }
}
