// The task service: submit, read, list, cancel and retry, with per-user visibility.
import { sql, type Insertable, type Transaction } from 'kysely';
import { DateTime } from 'luxon';
import { assertCapabilitiesAllowed } from '../acl/capability-acl.ts';
import {
  assertArtifactSize,
  cleanFileName,
  insertArtifacts,
  listArtifacts,
  type NewArtifact,
} from '../artifacts/artifact-store.ts';
import { policyFor, type Config } from '../config.ts';
import { admitWaiting } from './admission.ts';
import { ConflictError, InvalidInputError, NotFoundError, UnavailableError } from '../errors.ts';
import { taskEvent, type NewTaskEvent } from '../events.ts';
import type { HubContext } from '../hub-context.ts';
import { newId, shortId } from '../ids.ts';
import { isTerminalTask } from './lifecycle.ts';
import { validatePlan, type Plan, type Planner } from '../planning/plan.ts';
import { deriveProgress } from './progress.ts';
import { insertQuestionTask, plannedEventData } from '../planning/question-task.ts';
import { replayTask } from './replay.ts';
import { withNextRuns, type TaskWithNextRun } from '../schedules/next-runs.ts';
import { validateRequest } from './request-input.ts';
import type { Database, SubtaskRow, TaskEventRow, TaskRow, TasksTable } from '../store/schema.ts';
import { settle } from './settle.ts';
import { reserveSubmission } from './rate-limit.ts';
import { retryTransient, SubmitBatcher } from './submit-batcher.ts';
import { finishOrReview, releaseDependents } from './task-flow.ts';
import {
  accept,
  cancel,
  canMove,
  plan as planMove,
  reject,
  resume,
  revise,
  STEP,
  stopSteps,
  type Moved,
} from './transitions.ts';
import { recordLlm, usageSummary } from '../traces/llm-accounting.ts';
import {
  findVisibleTask,
  insertEvents,
  json,
  loadSubtasks,
  lockTask,
  newTaskValues,
  now,
} from '../store/task-store.ts';
import {
  TASK_STATUSES,
  type ConversationRef,
  type DerivedProgress,
  type NotifyPolicy,
  type Priority,
  type TaskStatus,
} from '../types.ts';

/** A request to do something, from any frontend. */
export interface SubmitRequest {
  origin: ConversationRef;
  text: string;
  priority?: Priority | undefined;
  notifyPolicy?: NotifyPolicy | undefined;
  parentTaskId?: string | undefined;
  /** Stop in REVIEW with the result, until the owner or an admin approves. */
  requiresReview?: boolean | undefined;
  /** Files that came with the request; stored as the task's artifacts in the same transaction. */
  attachments?: NewArtifact[] | undefined;
  /** The client's Idempotency-Key: a repeat with the same key (same user) answers with the first task. */
  idempotencyKey?: string | undefined;
}

/** The outcome of a submission; `replayed` when an earlier submission with the same Idempotency-Key answered it. */
export interface Submitted {
  task: TaskRow;
  subtasks: SubtaskRow[];
  warnings: string[];
  replayed?: boolean;
}

/** How long a submission waits for Redis before answering 503 (ioredis would otherwise queue the call for ever). */
export const REDIS_WAIT_MS = 3_000;

/** Who is asking: their `platform:id` and whether they are an admin. */
export interface Caller {
  userId: string;
  isAdmin?: boolean;
}

/** A task with everything a status view needs. */
export interface TaskDetail {
  task: TaskWithNextRun;
  subtasks: SubtaskRow[];
  progress: DerivedProgress;
  events: TaskEventRow[];
  /** LLM usage of the task and of its owner today. */
  usage?: Awaited<ReturnType<typeof usageSummary>>;
}

/** Submits, reads and controls tasks. Frontends and the admin service go through it. */
export class TaskService {
  /** Persists submissions in batches (group commit). */
  readonly batcher: SubmitBatcher;

  constructor(
    private readonly ctx: HubContext,
    private readonly planner: Planner,
  ) {
    this.batcher = new SubmitBatcher(ctx);
  }

  /** Largest file a request may carry (MAX_ARTIFACT_BYTES). */
  get maxFileBytes(): number {
    return this.ctx.config.MAX_ARTIFACT_BYTES;
  }

  /**
   * Validates, plans and persists a request, then queues its ready subtasks. Refusals write nothing and use up no
   * rate-limit budget; with Redis down it answers UnavailableError within REDIS_WAIT_MS, saying whether the task was
   * stored. A repeated Idempotency-Key answers with the earlier task.
   */
  async submit(req: SubmitRequest): Promise<Submitted> {
    const { config } = this.ctx;
    const { text, priority, notifyPolicy } = validateRequest(
      config,
      req,
      'The request is empty: say what you want done, e.g. "summarise https://example.org".',
    );
    const key = req.idempotencyKey;
    if (key !== undefined) {
      const earlier = await this.byIdempotencyKey(req.origin.userId, key, text);
      if (earlier) return earlier;
    }

    const files = req.attachments ?? [];
    for (const f of files) assertArtifactSize(config, f.name, f.bytes.byteLength);
    const admin = this.ctx.isAdmin(req.origin.userId);
    const notStored = 'Nothing was stored: submit it again once the service is back.';
    if (this.ctx.redis.status !== 'ready')
      throw new UnavailableError(`The task queue (Redis) is not reachable right now. ${notStored}`);
    let release: (() => Promise<void>) | undefined;
    if (!req.parentTaskId && !admin) {
      const reserving = reserveSubmission(
        this.ctx.redis,
        this.ctx.keys.rate(req.origin.userId),
        this.ctx.config.MAX_TASKS_PER_HOUR,
      );
      release = await this.redisBound(reserving, `The task queue (Redis) did not answer. ${notStored}`).catch((err) => {
        // Answered 503 while the reservation waits in ioredis's queue: give the place back once Redis runs it.
        if (err instanceof UnavailableError) void reserving.then((r) => r()).catch(() => {});
        throw err;
      });
    }
    let stored: TaskRow | undefined;
    try {
      const out = await this.planAndStore(req, text, priority, notifyPolicy, files, admin, (t) => {
        stored = t;
      });
      return out;
    } catch (err) {
      // Only accepted tasks count against the hourly budget.
      if (!stored && release) void release().catch(() => {});
      if (!stored && key !== undefined && isUniqueViolation(err)) {
        const earlier = await this.byIdempotencyKey(req.origin.userId, key, text);
        if (earlier) return earlier;
      }
      throw err;
    }
  }

  /** The task an earlier submission with this Idempotency-Key created, or undefined; a different text is a conflict. */
  private async byIdempotencyKey(userId: string, key: string, text: string): Promise<Submitted | undefined> {
    const task = await retryTransient(() =>
      this.ctx.db
        .selectFrom('tasks')
        .selectAll()
        .where('user_id', '=', userId)
        .where('idempotency_key', '=', key)
        .executeTakeFirst(),
    );
    if (!task) return undefined;
    if (task.text !== text)
      throw new ConflictError(
        `This Idempotency-Key was already used for a different request (task ${shortId(task.id)}); use a new key for a new request.`,
      );
    return { task, subtasks: await loadSubtasks(this.ctx.db, task.id), warnings: [], replayed: true };
  }

  /** `work`, or UnavailableError(`message`) when Redis has not answered within REDIS_WAIT_MS (the work goes on). */
  private async redisBound<T>(work: Promise<T>, message: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let answered = false;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        answered = true;
        reject(new UnavailableError(message));
      }, REDIS_WAIT_MS);
    });
    work.catch((err) => {
      if (answered) this.ctx.log.warn({ err }, 'a submission step failed after the caller was answered');
    });
    try {
      return await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Plans and persists the task (calling `onStored` once it is committed), then queues it under the Redis bound. */
  private async planAndStore(
    req: SubmitRequest,
    text: string,
    priority: Priority,
    notifyPolicy: NotifyPolicy,
    files: NewArtifact[],
    admin: boolean,
    onStored: (task: TaskRow) => void,
  ): Promise<Submitted> {
    const { config } = this.ctx;
    const attachments = files.map((f) => ({
      name: cleanFileName(f.name),
      mediaType: f.mediaType,
      size: f.bytes.byteLength,
    }));
    const taskId = newId();
    const plan = await this.planner.plan({
      text,
      userId: req.origin.userId,
      taskId,
      admin,
      ...(files.length ? { attachments } : {}),
    });
    const values = newTaskValues({
      id: taskId,
      user_id: req.origin.userId,
      origin: json(req.origin)!,
      text,
      // Set by `accept`: ASSIGNED with a plan, REVIEW with a question.
      status: 'ASSIGNED',
      priority,
      notify_policy: notifyPolicy,
      parent_task_id: req.parentTaskId ?? null,
      requires_review: req.requiresReview ?? false,
      plan_steps: plan.steps.length,
      planned_by: plan.plannedBy ?? null,
      // Always set (a batch's tasks must all set the same columns: task-writes.ts).
      has_uploads: files.length > 0,
      idempotency_key: req.idempotencyKey ?? null,
    });
    if (plan.question) {
      const question = { ...plan, question: plan.question };
      const asked = await retryTransient(() =>
        insertQuestionTask(this.ctx.db, values, question, (trx) =>
          insertArtifacts(trx, config, taskId, files, 'upload'),
        ),
      );
      onStored(asked.task);
      await this.redisBound(this.ctx.emit(asked.events, asked.task), storedButQueueDown(asked.task));
      return { task: asked.task, subtasks: [], warnings: [] };
    }
    validatePlan(plan);
    const userId = req.origin.userId;
    assertCapabilitiesAllowed(
      config,
      userId,
      this.ctx.isAdmin(userId),
      plan.steps.map((s) => s.capability),
    );

    const ids = new Map(plan.steps.map((s) => [s.key, newId()]));
    const accepted = accept(values, 'ASSIGNED', { priority });
    const planned = taskEvent('planned', taskId, 'planner', {
      status: 'ASSIGNED',
      summary: plan.summary,
      ...plannedEventData(plan),
    });
    const llm = plan.llm;
    const { task, subtasks, settled } = await this.batcher.persist({
      graph: {
        task: accepted.values,
        subtasks: subtaskRows(config, taskId, userId, plan, ids),
        events: [accepted.event, planned],
      },
      also:
        llm || files.length
          ? async (trx) => {
              if (llm) await recordLlm(trx, { taskId, subtaskId: null, userId }, llm);
              await insertArtifacts(trx, config, taskId, files, 'upload');
            }
          : undefined,
    });
    onStored(task);
    const warnings = await this.redisBound(this.queueStored(task, subtasks, settled), storedButQueueDown(task));
    this.ctx.log.info({ taskId, steps: subtasks.length, user: userId }, 'task submitted');
    return { task, subtasks, warnings };
  }

  /** Waits for the batch's events and admitted work, then warns about (and records) capabilities nobody serves. */
  private async queueStored(task: TaskRow, subtasks: SubtaskRow[], settled: Promise<void>): Promise<string[]> {
    await settled;
    const warnings: string[] = [];
    const unserved = await this.ctx.workers.unserved(subtasks.map((s) => s.capability));
    if (unserved.length) {
      warnings.push(
        `No worker is online for ${unserved.join(', ')}; the task waits until one connects (or cancel it).`,
      );
      const noWorker = taskEvent('no_worker', task.id, 'hub', { capabilities: unserved });
      await settle(this.ctx, { task, events: await insertEvents(this.ctx.db, [noWorker]) });
    }
    return warnings;
  }

  /** A task the caller may see (their own, or any for admins), else NotFound (never Forbidden). */
  async get(taskId: string, caller: Caller, eventLimit = 50): Promise<TaskDetail> {
    const task = await this.findVisible(taskId, caller);
    const subtasks = await loadSubtasks(this.ctx.db, task.id);
    const events = await this.ctx.db
      .selectFrom('task_events')
      .selectAll()
      .where('task_id', '=', task.id)
      .orderBy('id', 'desc')
      .limit(eventLimit)
      .execute();
    const [shown = task] = await withNextRuns(this.ctx.db, [task]);
    const usage = await usageSummary(this.ctx.db, task.id, task.user_id);
    return { task: shown, subtasks, progress: progressOf(task, subtasks), events: events.reverse(), usage };
  }

  /** Resolves a full id or a unique id prefix (>= 4 characters) to the caller's task. */
  async findVisible(idOrPrefix: string, caller: Caller): Promise<TaskRow> {
    return findVisibleTask(this.ctx.db, idOrPrefix, caller);
  }

  /** The caller's tasks, newest first, optionally by status; `cursor` is the last seen created_at|id. */
  async list(
    caller: Caller & { all?: boolean },
    opts: { status?: string | undefined; limit?: number; cursor?: string | undefined } = {},
  ) {
    const limit = Math.min(Math.max(opts.limit ?? 20, 1), 100);
    let q = this.ctx.db.selectFrom('tasks').selectAll();
    if (!(caller.isAdmin && caller.all)) q = q.where('user_id', '=', caller.userId);
    if (opts.status) {
      const status = opts.status.toUpperCase() as TaskStatus;
      if (!TASK_STATUSES.includes(status))
        throw new InvalidInputError(`Unknown status "${opts.status}"; use one of ${TASK_STATUSES.join(', ')}.`);
      q = q.where('status', '=', status);
    }
    if (opts.cursor) {
      const [at, id] = Buffer.from(opts.cursor, 'base64url').toString().split('|');
      if (!id || !at || !/^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(at) || !DateTime.fromISO(at).isValid)
        throw new InvalidInputError('The cursor is not valid; start again without it.');
      q = q.where(sql<boolean>`(created_at, id) < (${at}::timestamptz, ${id})`);
    }
    // The cursor keeps Postgres's full microsecond precision (a JS Date would cut it to milliseconds and skip rows).
    const rows = await q
      .select(sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('cursor_at'))
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit).map(({ cursor_at: _, ...task }) => task);
    const last = rows[limit - 1];
    const nextCursor =
      rows.length > limit && last ? Buffer.from(`${last.cursor_at}|${last.id}`).toString('base64url') : null;
    return { tasks: await withNextRuns(this.ctx.db, page), nextCursor };
  }

  /** Cancels an active task: queued subtasks are withdrawn, running ones aborted on their workers. */
  async cancel(taskId: string, caller: Caller): Promise<{ task: TaskRow; alreadyFinished: boolean }> {
    const visible = await this.findVisible(taskId, caller);
    if (isTerminalTask(visible.status)) return { task: visible, alreadyFinished: true };
    const result = await this.ctx.db.transaction().execute(async (trx) => {
      const task = await lockTask(trx, visible.id);
      const moved = await cancel(trx, task.id, caller.userId, `Cancelled by ${caller.userId}.`);
      if (!moved) return null;
      const withdraw = await stopSteps(trx, task.id, 'CANCELLED');
      const events = await insertEvents(trx, [moved.event]);
      const admitted = await admitWaiting(trx, task.user_id, this.ctx.config.MAX_INFLIGHT_PER_USER);
      return { task: moved.task, withdraw, events, admitted };
    });
    if (!result) return { task: await this.findVisible(visible.id, caller), alreadyFinished: true };
    await settle(this.ctx, result);
    return { task: result.task, alreadyFinished: false };
  }

  /** Replays a failed task from the point of failure. */
  async retry(taskId: string, caller: Caller): Promise<TaskRow> {
    const task = await this.findVisible(taskId, caller);
    if (!canMove('replay', task.status))
      throw new ConflictError(`Task ${shortId(task.id)} is ${task.status}; only a FAILED task can be retried.`);
    // The allowance may have changed since the plan was accepted: a replay is checked again.
    const caps = (await loadSubtasks(this.ctx.db, task.id)).map((s) => s.capability);
    assertCapabilitiesAllowed(this.ctx.config, task.user_id, this.ctx.isAdmin(task.user_id), caps);
    return (await replayTask(this.ctx, { taskId: task.id, actor: caller.userId, eventType: 'retried' })).task;
  }

  /** Submits the same request again as a new task, answered in the same conversation. */
  async duplicate(taskId: string, caller: Caller, origin?: ConversationRef) {
    const task = await this.findVisible(taskId, caller);
    const uploads = await this.ctx.db
      .selectFrom('artifacts')
      .select(['name', 'media_type', 'bytes'])
      .where('task_id', '=', task.id)
      .where('producer', '=', 'upload')
      .execute();
    return this.submit({
      attachments: uploads.map((u) => ({ name: u.name, mediaType: u.media_type, bytes: u.bytes })),
      origin: origin ?? (task.origin as ConversationRef),
      text: task.text,
      priority: task.priority,
      notifyPolicy: task.notify_policy,
    });
  }

  /** Approves a task awaiting review (its owner or an admin): remaining work resumes, or the task completes. */
  async approve(taskId: string, caller: Caller): Promise<TaskRow> {
    return this.decide(taskId, caller, async (trx, task, events) => {
      if (task.question)
        throw new ConflictError(
          `Task ${shortId(task.id)} is waiting for an answer, not an approval: revise ${shortId(task.id)} <your answer>.`,
        );
      events.push(taskEvent('approved', task.id, caller.userId, {}));
      const siblings = await loadSubtasks(trx, task.id);
      if (siblings.every((s) => s.status === 'SUCCEEDED'))
        return finishOrReview(trx, { ...task, requires_review: false }, siblings, events);
      await releaseDependents(trx, siblings);
      return recorded(await resume(trx, task.id, caller.userId), events);
    });
  }

  /** Rejects a task awaiting review (its owner or an admin), with an optional reason; what was left is skipped. */
  async reject(taskId: string, caller: Caller, reason?: string): Promise<TaskRow> {
    return this.decide(taskId, caller, async (trx, task, events) => {
      await trx
        .updateTable('subtasks')
        .set({ status: 'SKIPPED', finished_at: now, updated_at: now })
        .where('task_id', '=', task.id)
        .where('status', 'in', STEP.skip)
        .execute();
      return recorded(await reject(trx, task.id, caller.userId, reason), events);
    });
  }

  /** Sends a task awaiting review back to planning with feedback; the new plan replaces the old one. */
  async revise(taskId: string, caller: Caller, feedback: string): Promise<TaskRow> {
    const text = (feedback ?? '').trim();
    if (!text) throw new InvalidInputError('Say what to change: revise <task id> <feedback>.');
    if (text.length > this.ctx.config.MAX_REQUEST_CHARS)
      throw new InvalidInputError(`The feedback is over ${this.ctx.config.MAX_REQUEST_CHARS} characters.`);
    const visible = await this.findVisible(taskId, caller);
    const question = visible.question ?? undefined;
    const attachments = (await listArtifacts(this.ctx.db, visible.id)).map((a) => ({
      name: a.name,
      mediaType: a.media_type,
      size: a.size,
    }));
    const plan = await this.planner.plan({
      text: visible.text,
      userId: visible.user_id,
      feedback: text,
      question,
      taskId: visible.id,
      admin: this.ctx.isAdmin(visible.user_id),
      attachments,
    });
    validatePlan(plan);
    const owner = visible.user_id;
    assertCapabilitiesAllowed(
      this.ctx.config,
      owner,
      this.ctx.isAdmin(owner),
      plan.steps.map((s) => s.capability),
    );
    return this.decide(taskId, caller, async (trx, task, events) => {
      recorded(await revise(trx, task.id, caller.userId, text, question), events);
      if (plan.llm) await recordLlm(trx, { taskId: task.id, subtaskId: null, userId: task.user_id }, plan.llm);
      await trx.deleteFrom('subtasks').where('task_id', '=', task.id).execute();
      const ids = new Map(plan.steps.map((s) => [s.key, newId()]));
      await trx
        .insertInto('subtasks')
        .values(subtaskRows(this.ctx.config, task.id, task.user_id, plan, ids))
        .execute();
      const planned = await planMove(
        trx,
        task.id,
        { summary: plan.summary, feedback: text, ...plannedEventData(plan) },
        { plan_steps: plan.steps.length, planned_by: plan.plannedBy ?? null },
      );
      return recorded(planned, events);
    });
  }

  /** The user's newest task in this conversation (and thread) waiting for an answer to the planner's question. */
  async pendingQuestion(origin: ConversationRef): Promise<TaskRow | undefined> {
    // Chat messages ask this before submitting: it rides out a database restart as the submission does.
    return retryTransient(() =>
      this.ctx.db
        .selectFrom('tasks')
        .selectAll()
        .where('user_id', '=', origin.userId)
        .where('status', '=', 'REVIEW')
        .where('question', 'is not', null)
        .where(sql<string>`origin->>'conversationId'`, '=', origin.conversationId)
        .where(sql<string>`coalesce(origin->>'threadId', '')`, '=', origin.threadId ?? '')
        .orderBy('created_at', 'desc')
        .limit(1)
        .executeTakeFirst(),
    );
  }

  /** Runs a review decision on a task in REVIEW under its row lock; admits what became ready, then emits. */
  private async decide(
    taskId: string,
    caller: Caller,
    apply: (trx: Transaction<Database>, task: TaskRow, events: NewTaskEvent[]) => Promise<TaskRow>,
  ): Promise<TaskRow> {
    const visible = await this.findVisible(taskId, caller);
    const out = await this.ctx.db.transaction().execute(async (trx) => {
      const task = await lockTask(trx, visible.id);
      if (task.status !== 'REVIEW')
        throw new ConflictError(`Task ${shortId(task.id)} is ${task.status}, not awaiting review.`);
      const pending: NewTaskEvent[] = [];
      const updated = await apply(trx, task, pending);
      const admitted = await admitWaiting(trx, task.user_id, this.ctx.config.MAX_INFLIGHT_PER_USER);
      return { task: updated, admitted, events: await insertEvents(trx, pending) };
    });
    await settle(this.ctx, out);
    return out.task;
  }

  /** Events of a task after a given event id (for SSE resumption). */
  async eventsAfter(taskId: string, afterId: string | null, limit = 500): Promise<TaskEventRow[]> {
    let q = this.ctx.db.selectFrom('task_events').selectAll().where('task_id', '=', taskId);
    if (afterId && /^\d+$/.test(afterId)) q = q.where('id', '>', afterId);
    return q.orderBy(sql`id`).limit(limit).execute();
  }
}

/** Live progress of a task; a finished task reports its final state. */
export function progressOf(task: TaskRow, subtasks: SubtaskRow[]): DerivedProgress {
  // A finished task's clock stops at its end.
  const p = deriveProgress(subtasks, task.started_at, task.finished_at?.getTime() ?? Date.now());
  return task.status === 'COMPLETED' ? { ...p, percent: 100 } : p;
}

/** A move made under the row lock, whose guard was checked: records its event and returns the moved row. */
function recorded(moved: Moved | undefined, events: NewTaskEvent[]): TaskRow {
  if (!moved) throw new ConflictError('The task changed meanwhile; look at it again.');
  events.push(moved.event);
  return moved.task;
}

/** The subtask rows of a plan: roots READY, the rest PENDING, each with its capability's retry policy. */
function subtaskRows(config: Config, taskId: string, userId: string, plan: Plan, ids: Map<string, string>) {
  return plan.steps.map((s) => {
    const p = policyFor(config, s.capability);
    return {
      id: ids.get(s.key)!,
      task_id: taskId,
      user_id: userId,
      key: s.key,
      capability: s.capability,
      input: json(s.input),
      requires_review: s.review ?? false,
      depends_on: s.dependsOn,
      status: s.dependsOn.length === 0 ? ('READY' as const) : ('PENDING' as const),
      max_attempts: p.attempts,
      backoff_ms: p.backoffMs,
      jitter: p.jitter,
      timeout_ms: p.timeoutMs,
      output: null,
      error: null,
      progress: null,
      worker_id: null,
      queued_at: null,
      started_at: null,
      finished_at: null,
    };
  });
}

/** The 503 text of a task that was stored while Redis did not answer: it starts by itself, no need to resubmit. */
function storedButQueueDown(task: TaskRow): string {
  return `Task ${shortId(task.id)} was stored, but the task queue (Redis) is not answering; it starts by itself once the queue is back. Do not submit it again.`;
}

/** Whether a database error is a unique-constraint violation (a concurrent submission with the same key won). */
function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === '23505';
}
