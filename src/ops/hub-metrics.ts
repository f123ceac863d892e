// The hub's metrics: counters and histograms fed by the committed event stream (a few map lookups per event),
// and gauges (queues, workers, admission, success rates) computed when /metrics is scraped.
import { sql } from 'kysely';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventSink, HubContext, HubEvent } from '../core/hub-context.ts';
import { NOTIFY_QUEUE, RESULTS_QUEUE } from '../core/queues.ts';
import type { TaskRow } from '../core/store/schema.ts';
import type { ConversationRef } from '../core/types.ts';
import { listLiveWorkers } from '../core/worker-registry.ts';
import type { DeliveryReport } from '../notifications/notifier.ts';
import { SuccessWindow, type SuccessRates } from './success-window.ts';

const FINAL = new Map([
  ['completed', 'COMPLETED'],
  ['failed', 'FAILED'],
  ['cancelled', 'CANCELLED'],
  ['rejected', 'REJECTED'],
]);
const WORKER_STATES = ['IDLE', 'WAITING', 'BUSY', 'ERROR', 'SHUTDOWN'] as const;
/** Entries kept per lookup map before the oldest are dropped (tasks that never end in this process). */
const MAX_TRACKED = 50_000;

const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600];

/** Metrics of one hub process. */
export class HubMetrics {
  readonly registry = new Registry();
  readonly window: SuccessWindow;
  private readonly capsByTask = new RecentMap<Map<string, string>>();
  private readonly platformByTask = new RecentMap<string>();
  private readonly startedAt = new RecentMap<number>();

  private readonly submitted: Counter<'platform' | 'planner'>;
  private readonly finished: Counter<'status' | 'platform' | 'planner'>;
  private readonly taskDuration: Histogram<'status' | 'platform'>;
  private readonly subtaskDuration: Histogram<'capability' | 'outcome'>;
  private readonly attempts: Counter<'capability'>;
  private readonly retries: Counter<'capability'>;
  private readonly deadLetters: Counter<'capability'>;
  private readonly subtasksFinished: Counter<'capability' | 'outcome'>;
  private readonly notifications: Counter<'platform' | 'outcome'>;
  private readonly notifyLatency: Histogram<'platform'>;
  /** Submissions refused by MAX_TASKS_PER_HOUR. */
  readonly rateLimited: Counter<'platform'>;
  /** HTTP requests by method, route and status. */
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  /** HTTP request durations by method and route. */
  readonly httpDuration: Histogram<'method' | 'route'>;
  private readonly queueDepth: Gauge<'capability'>;
  private readonly resultsBacklog: Gauge<never>;
  private readonly queueActive: Gauge<'capability'>;
  private readonly oldestWaiting: Gauge<'capability'>;
  private readonly admissionWaiting: Gauge<'capability'>;
  private readonly workers: Gauge<'state' | 'pattern'>;
  private readonly capRate: Gauge<'capability'>;
  private readonly workerRate: Gauge<'worker'>;

  constructor(
    private readonly ctx: HubContext,
    private readonly opts: { planner: string; windowMinutes?: number },
  ) {
    this.window = new SuccessWindow(ctx.redis, ctx.config.QUEUE_PREFIX, opts.windowMinutes ?? 15);
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter<L>({ name: `switchboard_${name}`, help, labelNames, registers });
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Gauge<L>({ name: `switchboard_${name}`, help, labelNames, registers });
    const histogram = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Histogram<L>({ name: `switchboard_${name}`, help, labelNames, buckets: DURATION_BUCKETS, registers });
    this.submitted = counter('tasks_submitted_total', 'Tasks accepted, by platform and planner.', [
      'platform',
      'planner',
    ]);
    this.finished = counter('tasks_finished_total', 'Tasks that reached a final state.', [
      'status',
      'platform',
      'planner',
    ]);
    this.taskDuration = histogram('task_duration_seconds', 'From submission to the final state.', [
      'status',
      'platform',
    ]);
    this.subtaskDuration = histogram('subtask_duration_seconds', 'One attempt of a subtask, start to result.', [
      'capability',
      'outcome',
    ]);
    this.attempts = counter('subtask_attempts_total', 'Attempts finished (one per result), by capability.', [
      'capability',
    ]);
    this.retries = counter('subtask_retries_total', 'Failed attempts that will be retried.', ['capability']);
    this.deadLetters = counter('dead_letters_total', 'Subtasks dead-lettered after their last attempt.', [
      'capability',
    ]);
    this.subtasksFinished = counter('subtask_results_total', 'Attempt results: succeeded, retried or dead.', [
      'capability',
      'outcome',
    ]);
    this.notifications = counter('notifications_total', 'Notification jobs: delivered, retried or failed.', [
      'platform',
      'outcome',
    ]);
    this.notifyLatency = histogram('notification_latency_seconds', 'From queueing to delivery.', ['platform']);
    this.rateLimited = counter('rate_limit_refusals_total', 'Submissions refused by MAX_TASKS_PER_HOUR.', ['platform']);
    this.httpRequests = counter('http_requests_total', 'HTTP requests answered.', ['method', 'route', 'status']);
    this.httpDuration = new Histogram({
      name: 'switchboard_http_request_duration_seconds',
      help: 'HTTP request durations.',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    this.queueDepth = gauge(
      'queue_depth',
      'Jobs waiting on a capability queue: waiting + prioritized + delayed (what autoscaling reads).',
      ['capability'],
    );
    this.queueActive = gauge('queue_active', 'Jobs being processed, by capability.', ['capability']);
    this.resultsBacklog = gauge(
      'results_backlog',
      'Worker results on the results stream not yet applied and acknowledged by a hub.',
      [],
    );
    this.oldestWaiting = gauge(
      'queue_oldest_waiting_seconds',
      'Age of the oldest queued subtask not yet started (from Postgres).',
      ['capability'],
    );
    this.admissionWaiting = gauge(
      'admission_waiting',
      'Ready subtasks waiting for a per-user slot (MAX_INFLIGHT_PER_USER).',
      ['capability'],
    );
    this.workers = gauge('workers', 'Live workers by state and advertised pattern.', ['state', 'pattern']);
    this.capRate = gauge('capability_success_ratio', 'Successful attempts / finished attempts, sliding window.', [
      'capability',
    ]);
    this.workerRate = gauge('worker_success_ratio', 'Successful attempts / finished attempts, sliding window.', [
      'worker',
    ]);
  }

  /** The event sink to register with `ctx.onEvents`: synchronous counter bumps only. */
  readonly sink: EventSink = (events, task) => {
    for (const e of events) this.onEvent(e, task);
  };

  private onEvent(e: HubEvent, task: TaskRow): void {
    const platform = (task.origin as ConversationRef).platform;
    const final = FINAL.get(e.type);
    if (final) {
      this.finished.inc({ status: final, platform, planner: this.opts.planner });
      this.taskDuration.observe(
        { status: final, platform },
        (Date.parse(e.at) - new Date(task.created_at).getTime()) / 1000,
      );
      this.capsByTask.delete(task.id);
      return;
    }
    switch (e.type) {
      case 'accepted':
        this.submitted.inc({ platform, planner: this.opts.planner });
        this.platformByTask.set(task.id, platform);
        return;
      case 'planned': {
        const steps = (e.data?.steps ?? []) as Array<{ key: string; capability: string }>;
        this.capsByTask.set(task.id, new Map(steps.map((s) => [s.key, s.capability])));
        return;
      }
      case 'subtask.started':
      case 'subtask.succeeded':
      case 'subtask.retrying':
      case 'subtask.dead': {
        const cap = this.capsByTask.get(task.id)?.get(String(e.data?.key));
        if (cap) this.onSubtask(e, cap);
        else if (e.subtaskId) void this.lookupCapability(e.subtaskId).then((c) => c && this.onSubtask(e, c));
        return;
      }
    }
  }

  private async lookupCapability(subtaskId: string): Promise<string | undefined> {
    const row = await this.ctx.db
      .selectFrom('subtasks')
      .select('capability')
      .where('id', '=', subtaskId)
      .executeTakeFirst()
      .catch(() => undefined);
    return row?.capability;
  }

  private onSubtask(e: HubEvent, capability: string): void {
    const id = e.subtaskId ?? '';
    const at = Date.parse(e.at);
    if (e.type === 'subtask.started') {
      this.startedAt.set(id, at);
      return;
    }
    // Counted per result: a quick attempt may finish before its start is signalled (no `subtask.started` then).
    this.attempts.inc({ capability });
    const outcome = e.type === 'subtask.succeeded' ? 'succeeded' : e.type === 'subtask.retrying' ? 'retried' : 'dead';
    this.subtasksFinished.inc({ capability, outcome });
    if (outcome === 'retried') this.retries.inc({ capability });
    if (outcome === 'dead') this.deadLetters.inc({ capability });
    const started = this.startedAt.get(id);
    if (started !== undefined) {
      this.subtaskDuration.observe({ capability, outcome }, Math.max(0, at - started) / 1000);
      this.startedAt.delete(id);
    }
    this.window.record(capability, e.actor === 'hub' ? null : e.actor, outcome === 'succeeded');
  }

  /** Counts a notification job's outcome (the notifier's `onDelivery`). */
  readonly observeDelivery = (d: DeliveryReport): void => {
    const platform = d.platform ?? this.platformByTask.get(d.taskId) ?? 'unknown';
    this.notifications.inc({ platform, outcome: d.outcome });
    if (d.outcome === 'delivered') this.notifyLatency.observe({ platform }, Math.max(0, d.latencyMs) / 1000);
  };

  /** Success rates of the sliding window (also served to `switchboard workers`). */
  successRates(): Promise<SuccessRates> {
    return this.window.read();
  }

  /** Sets the scrape-time gauges: queue counts (BullMQ), workers (heartbeats), admission and age (Postgres). */
  async refresh(): Promise<void> {
    const { ctx } = this;
    const [caps, workers, pending, rates, backlog] = await Promise.all([
      ctx.redis.smembers(ctx.keys.capabilities),
      listLiveWorkers(ctx.redis, ctx.keys),
      // Two halves, each served by a partial index (migration 0070) instead of a scan of every subtask.
      sql<{ capability: string; waiting: string; oldest: Date | null }>`
        select capability, sum(waiting) as waiting, min(oldest) as oldest from (
          select capability, count(*) as waiting, null::timestamptz as oldest
          from subtasks where status = 'READY' and queued_at is null group by capability
          union all
          select capability, 0, min(queued_at)
          from subtasks where status = 'READY' and queued_at is not null group by capability
        ) x group by capability`.execute(ctx.db),
      this.window.read(),
      ctx.redis.xlen(ctx.keys.results),
    ]);
    this.resultsBacklog.set(backlog);
    const counts = await Promise.all(
      caps.map((c) => ctx.queues.forCapability(c).getJobCounts('waiting', 'prioritized', 'delayed', 'active')),
    );
    this.queueDepth.reset();
    this.queueActive.reset();
    caps.forEach((capability, i) => {
      const c = counts[i]!;
      this.queueDepth.set({ capability }, (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0));
      this.queueActive.set({ capability }, c.active ?? 0);
    });
    this.admissionWaiting.reset();
    this.oldestWaiting.reset();
    const now = Date.now();
    for (const capability of caps) this.oldestWaiting.set({ capability }, 0);
    for (const r of pending.rows) {
      this.admissionWaiting.set({ capability: r.capability }, Number(r.waiting));
      if (r.oldest) this.oldestWaiting.set({ capability: r.capability }, (now - new Date(r.oldest).getTime()) / 1000);
    }
    this.workers.reset();
    for (const w of workers) for (const pattern of w.patterns) this.workers.inc({ state: w.state, pattern });
    for (const state of WORKER_STATES)
      if (!workers.some((w) => w.state === state)) this.workers.set({ state, pattern: '' }, 0);
    this.capRate.reset();
    this.workerRate.reset();
    for (const [capability, s] of Object.entries(rates.capabilities))
      if (s.rate !== null) this.capRate.set({ capability }, s.rate);
    for (const [worker, s] of Object.entries(rates.workers))
      if (s.rate !== null) this.workerRate.set({ worker }, s.rate);
  }

  /** BullMQ's own export for the hub's internal queues (results of older workers, queued notifications). */
  async bullmqText(): Promise<string> {
    const texts = await Promise.all(
      [RESULTS_QUEUE, NOTIFY_QUEUE].map((q) => this.ctx.queues.get(q).exportPrometheusMetrics()),
    );
    return mergeExposition(texts);
  }

  /** Flushes the success window. */
  async stop(): Promise<void> {
    await this.window.stop();
  }
}

/** Joins Prometheus texts, keeping only the first HELP/TYPE line of each metric (a repeat is invalid). */
export function mergeExposition(texts: string[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const line of texts.join('\n').split('\n')) {
    if (!line.trim()) continue;
    if (line.startsWith('# ')) {
      if (seen.has(line)) continue;
      seen.add(line);
    }
    lines.push(line);
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/**
 * A map that forgets its oldest entries in bulk: two generations, the older dropped whole when the newer fills.
 * O(1) per call (evicting one by one from the front of a Map scans over deleted slots and turns quadratic).
 */
class RecentMap<V> {
  private current = new Map<string, V>();
  private previous = new Map<string, V>();

  get(key: string): V | undefined {
    return this.current.get(key) ?? this.previous.get(key);
  }

  set(key: string, value: V): void {
    if (this.current.size >= MAX_TRACKED / 2) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(key, value);
  }

  delete(key: string): void {
    this.current.delete(key);
    this.previous.delete(key);
  }
}
