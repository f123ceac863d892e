// A stateless worker: consumes every capability queue its patterns match, needs only Redis.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { matchesAny, matchesPattern } from '../core/capability-pattern.ts';
import { artifactReader } from '../core/artifacts/artifact-transport.ts';
import { errorText } from '../core/errors.ts';
import { lazyChild } from '../core/logger.ts';
import { outageLogFor, type OutageLog } from '../core/outage-log.ts';
import { capabilityQueueName, duplicateRedis, jobIdFor, telemetryOption } from '../core/queues.ts';
import { appendResult } from '../core/tasks/result-stream.ts';
import { redisKeys } from '../core/redis-keys.ts';
import { parseControl, type ControlMessage } from '../core/control-messages.ts';
import type { CapabilitySpec, JobData, JobResult, WorkerInfo, WorkerSignal } from '../core/types.ts';
import { removeHeartbeat, writeHeartbeat } from '../core/worker-registry.ts';
import type { CapabilityHandler, CapabilityHandlers } from './capability.ts';
import { InvalidCapabilityInput, parseInput, specOf } from './define-capability.ts';
import { ProgressTracker } from './progress-tracker.ts';
import { Semaphore } from './semaphore.ts';
import { SessionStore } from './session-store.ts';

/** How to run a worker. */
export interface WorkerRuntimeOptions {
  redis: Redis;
  prefix: string;
  patterns: string[];
  handlers: CapabilityHandlers;
  concurrency: number;
  log: Logger;
  heartbeatMs?: number;
  lockMs?: number;
  /** Fallback poll for new capability queues (announcements on the control channel are picked up at once). */
  discoverMs?: number;
  progressIntervalMs?: number;
  /** How long a job runs before its start is signalled; a job done sooner reports its start with its result. */
  startSignalDelayMs?: number;
  shutdownGraceMs?: number;
  version?: string;
  id?: string;
}

/** Raised into a handler's signal when its subtask exceeds its timeout. */
export class TimeoutError extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** One worker process (or several per process): discovery, heartbeat, job execution, graceful stop. */
export class WorkerRuntime {
  readonly id: string;
  /** What this worker advertises in its heartbeat for planners (computed once). */
  readonly specs: CapabilitySpec[];
  private readonly keys;
  private readonly workers = new Map<string, Worker>();
  private readonly active = new Map<string, { taskId: string; worker: Worker }>();
  private readonly cancelled = new Set<string>();
  private readonly sessions = new SessionStore();
  private readonly slots: Semaphore;
  private subscriber?: Redis;
  private timers: NodeJS.Timeout[] = [];
  private state: WorkerInfo['state'] = 'IDLE';
  private lastError = 0;
  /** Redis errors: an outage reads as one line (and one when it is back), a lost lock per job as one line per kind. */
  private readonly outage: OutageLog;
  /** The patterns that match at least one handler: the only ones advertised. */
  private readonly patterns: string[];
  private readonly startedAt = Date.now();

  constructor(private readonly o: WorkerRuntimeOptions) {
    this.id = o.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.keys = redisKeys(o.prefix);
    this.slots = new Semaphore(o.concurrency);
    this.patterns = o.patterns.filter((p) => this.patternServes(p));
    this.specs = this.advertisedSpecs();
    this.outage = outageLogFor(o.redis, o.log);
  }

  /** Handler keys (names or patterns) this worker advertises: those its patterns allow. */
  get capabilities(): string[] {
    return Object.keys(this.o.handlers).filter((k) => matchesAny(this.o.patterns, k));
  }

  /** The configured patterns that match no handler here (a typo, or a family this build does not have). */
  get unmatchedPatterns(): string[] {
    return this.o.patterns.filter((p) => !this.patterns.includes(p));
  }

  /** Whether a pattern selects at least one handler (a handler keyed by a pattern counts when it equals it). */
  private patternServes(pattern: string): boolean {
    return Object.keys(this.o.handlers).some((k) => k === pattern || matchesPattern(pattern, k));
  }

  /** The handler for a capability: an exact key first, else the first key that matches as a pattern. */
  private handlerFor(capability: string): CapabilityHandler | undefined {
    if (!matchesAny(this.patterns, capability)) return undefined;
    const key =
      capability in this.o.handlers
        ? capability
        : Object.keys(this.o.handlers).find((k) =>
            k.includes('*') || k.includes('{') ? matchesPattern(k, capability) : false,
          );
    const entry = key === undefined ? undefined : this.o.handlers[key];
    if (typeof entry !== 'object') return entry;
    // The context's input is replaced in place: a copy ({ ...ctx }) would read its lazy `log` getter, making a child
    // logger (and running the redaction over its bindings) for every job.
    return (ctx) => {
      ctx.input = parseInput(entry, ctx.input);
      return entry.handler(ctx);
    };
  }

  /** Specs of the declared capabilities this worker runs: what the hub may plan over. */
  private advertisedSpecs(): CapabilitySpec[] {
    return Object.entries(this.o.handlers).flatMap(([key, entry]) => {
      if (typeof entry !== 'object' || !matchesAny(this.patterns, key)) return [];
      const spec = specOf(entry);
      return spec ? [spec] : [];
    });
  }

  /** Registers, starts consuming matching queues, and keeps watching for new ones. */
  async start(): Promise<void> {
    if (this.unmatchedPatterns.length > 0)
      this.o.log.warn(
        { unmatched: this.unmatchedPatterns, available: Object.keys(this.o.handlers) },
        `no capability on this worker matches ${this.unmatchedPatterns.join(', ')}: not advertised (check WORKER_CAPABILITIES / --capabilities)`,
      );
    this.subscriber = duplicateRedis(this.o.redis, () => {
      this.lastError = Date.now();
    });
    await this.subscriber.subscribe(this.keys.control);
    this.subscriber.on('message', (_c, raw) => {
      const msg = parseControl(raw);
      if (msg) this.onControl(msg);
    });
    await this.discover();
    await this.heartbeat();
    // New queues are announced on the control channel; the poll only covers announcements missed while disconnected.
    this.timers.push(
      setInterval(() => void this.discover().catch((err) => this.fault(err)), this.o.discoverMs ?? 15_000),
    );
    this.timers.push(
      setInterval(() => void this.heartbeat().catch((err) => this.fault(err)), this.o.heartbeatMs ?? 5000),
    );
    for (const t of this.timers) t.unref();
    this.o.log.info({ workerId: this.id, patterns: this.patterns, concurrency: this.o.concurrency }, 'worker started');
  }

  /** Stops taking jobs, lets running ones finish within the grace period, then hands the rest back. */
  async stop(): Promise<void> {
    this.state = 'SHUTDOWN';
    for (const t of this.timers) clearInterval(t);
    await this.heartbeat().catch(() => {});
    const graceful = Promise.all([...this.workers.values()].map((w) => w.close()));
    const grace = new Promise<'timeout'>((r) =>
      setTimeout(() => r('timeout'), this.o.shutdownGraceMs ?? 10_000).unref(),
    );
    if ((await Promise.race([graceful, grace])) === 'timeout') {
      // Abort what is still running; unfinished jobs stall and BullMQ hands them to another worker.
      for (const w of this.workers.values()) w.cancelAllJobs('worker shutting down');
      await Promise.all([...this.workers.values()].map((w) => w.close(true)));
    }
    await this.sessions.close();
    await removeHeartbeat(this.o.redis, this.keys, this.id).catch(() => {});
    this.subscriber?.disconnect();
    this.o.log.info({ workerId: this.id }, 'worker stopped');
  }

  /** Number of jobs running now. */
  get running(): number {
    return this.active.size;
  }

  private async discover(): Promise<void> {
    if (this.state === 'SHUTDOWN') return;
    const known = await this.o.redis.smembers(this.keys.capabilities);
    const exact = this.capabilities.filter((k) => !k.includes('*') && !k.includes('{'));
    for (const cap of new Set([...known, ...exact])) {
      if (this.workers.has(cap) || !this.handlerFor(cap)) continue;
      const worker = new Worker<JobData>(capabilityQueueName(cap), (job, _token, signal) => this.run(job, signal), {
        // Commands share the runtime's connection; BullMQ opens one blocking connection per queue itself.
        connection: this.o.redis,
        prefix: this.o.prefix,
        concurrency: this.o.concurrency,
        lockDuration: this.o.lockMs ?? 30_000,
        stalledInterval: this.o.lockMs ?? 30_000,
        maxStalledCount: 2,
        // An idle queue is re-polled every 10 s (BullMQ's cap for blocking waits) instead of 5: new jobs wake it at once anyway.
        drainDelay: 10,
        ...telemetryOption(),
      });
      worker.on('error', (err) => this.fault(err));
      this.workers.set(cap, worker);
      this.o.log.debug({ capability: cap }, 'consuming queue');
    }
    if (this.state === 'IDLE' && this.workers.size > 0) this.state = 'WAITING';
  }

  private async heartbeat(): Promise<void> {
    const state =
      this.state === 'SHUTDOWN'
        ? 'SHUTDOWN'
        : Date.now() - this.lastError < (this.o.heartbeatMs ?? 5000)
          ? 'ERROR'
          : this.active.size > 0
            ? 'BUSY'
            : this.workers.size > 0
              ? 'WAITING'
              : 'IDLE';
    const ms = this.o.heartbeatMs ?? 5000;
    await writeHeartbeat(
      this.o.redis,
      this.keys,
      {
        id: this.id,
        host: hostname(),
        pid: process.pid,
        patterns: this.patterns,
        state,
        running: this.active.size,
        concurrency: this.o.concurrency,
        capabilities: this.capabilities,
        specs: this.specs,
        version: this.o.version ?? '0.0.0',
        startedAt: this.startedAt,
        seenAt: Date.now(),
      },
      ms * 3,
    );
  }

  private onControl(msg: ControlMessage): void {
    if (msg.t === 'capability') {
      void this.discover().catch((err) => this.fault(err));
      return;
    }
    if (msg.t === 'tasks-ended') {
      for (const taskId of msg.taskIds) void this.sessions.disposeTask(taskId);
      return;
    }
    if (msg.t === 'cancel') {
      this.cancelled.add(msg.taskId);
      setTimeout(() => this.cancelled.delete(msg.taskId), 10 * 60_000).unref();
      for (const [jobId, a] of this.active) if (a.taskId === msg.taskId) a.worker.cancelJob(jobId, 'task cancelled');
      void this.sessions.disposeTask(msg.taskId);
    }
  }

  private async run(job: Job<JobData>, bullSignal?: AbortSignal): Promise<unknown> {
    const d = job.data;
    const jobId = job.id ?? jobIdFor(d.subtaskId, d.generation);
    const attempt = job.attemptsMade + 1;
    const log = lazyChild(this.o.log, {
      taskId: d.taskId,
      subtaskId: d.subtaskId,
      jobId,
      capability: d.capability,
      attempt,
    });
    const startedAt = Date.now();
    const base = { taskId: d.taskId, subtaskId: d.subtaskId, generation: d.generation, attempt, workerId: this.id };
    if (this.cancelled.has(d.taskId)) throw new UnrecoverableError('task cancelled');
    const handler = this.handlerFor(d.capability);
    if (!handler) throw new UnrecoverableError(`no handler for ${d.capability} on worker ${this.id}`);
    await this.slots.acquire();
    const worker = this.workers.get(d.capability)!;
    this.active.set(jobId, { taskId: d.taskId, worker });
    const ac = new AbortController();
    const onBullAbort = () => ac.abort(new UnrecoverableError(String(bullSignal?.reason ?? 'cancelled')));
    bullSignal?.addEventListener('abort', onBullAbort, { once: true });
    const timer = setTimeout(() => ac.abort(new TimeoutError(d.timeoutMs)), d.timeoutMs);
    // The start is signalled after startSignalDelayMs, or before the first progress report, whichever comes
    // first. A job that succeeds sooner carries its start in its result instead (startSignalled: false), and the
    // conductor records both in one transaction: one transaction, publish and notification fewer per short job.
    let startSignalled = false;
    // Started more often than attempted: BullMQ runs the job again after a worker stopped mid-run (stalled).
    const redelivered = job.attemptsStarted > attempt;
    const signalStart = () => {
      if (startSignalled) return;
      startSignalled = true;
      clearTimeout(startTimer);
      this.signal({ t: 'started', ...base, at: startedAt, ...(redelivered ? { redelivered } : {}) });
    };
    const startTimer = setTimeout(signalStart, this.o.startSignalDelayMs ?? 100);
    // A redelivered job's start is signalled at once, so the hub records it even when the job finishes quickly.
    if (redelivered) signalStart();
    const progress = new ProgressTracker((p) => {
      signalStart();
      this.signal({
        t: 'progress',
        taskId: d.taskId,
        subtaskId: d.subtaskId,
        generation: d.generation,
        progress: p,
        at: Date.now(),
      });
    }, this.o.progressIntervalMs ?? 100);
    try {
      const aborted = new Promise<never>((_, reject) => {
        if (ac.signal.aborted) reject(ac.signal.reason);
        ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true });
      });
      aborted.catch(() => {});
      const output = await Promise.race([
        handler({
          input: d.input,
          deps: d.deps,
          signal: ac.signal,
          get log() {
            return log();
          },
          progress,
          session: this.sessions.scope(d.taskId),
          artifacts: artifactReader(this.o.redis, d.artifacts),
          attempt,
          job: {
            taskId: d.taskId,
            subtaskId: d.subtaskId,
            key: d.key,
            capability: d.capability,
            userId: d.scope.userId,
            generation: d.generation,
          },
        }),
        aborted,
      ]);
      clearTimeout(startTimer);
      progress.close();
      await this.report({ kind: 'succeeded', ...base, startedAt, startSignalled, output: output ?? null });
      if (this.o.log.isLevelEnabled('debug')) log().debug('job succeeded');
      return output ?? null;
    } catch (err) {
      signalStart(); // failures keep the order they always had: start, then the failure
      progress.close();
      const permanent =
        err instanceof UnrecoverableError || err instanceof InvalidCapabilityInput || this.cancelled.has(d.taskId);
      const maxAttempts = job.opts.attempts ?? 1;
      const final = permanent || attempt >= maxAttempts;
      const backoff =
        typeof job.opts.backoff === 'object' ? (job.opts.backoff.delay ?? 0) : Number(job.opts.backoff ?? 0);
      await this.report({
        kind: 'failed',
        ...base,
        error: errorText(err),
        final,
        retryInMs: final ? undefined : backoff * 2 ** (attempt - 1),
      });
      log().warn({ err: errorText(err), final }, 'job failed');
      throw permanent && !(err instanceof UnrecoverableError) ? new UnrecoverableError(errorText(err)) : err;
    } finally {
      clearTimeout(timer);
      clearTimeout(startTimer);
      bullSignal?.removeEventListener('abort', onBullAbort);
      this.active.delete(jobId);
      this.slots.release();
    }
  }

  /** Appends a result to the durable results stream (a resend is applied once: the hub's guards). */
  private async report(result: JobResult): Promise<void> {
    await appendResult(this.o.redis, this.keys.results, result);
  }

  private signal(s: WorkerSignal): void {
    this.o.redis.publish(this.keys.signals, JSON.stringify(s)).catch((err) => this.fault(err));
  }

  /** Records an error for the heartbeat's ERROR state and logs it through the outage log. */
  private fault(err: unknown): void {
    this.lastError = Date.now();
    this.outage.report(err, 'worker error', { workerId: this.id });
  }
}
