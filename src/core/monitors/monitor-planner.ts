// Plans a monitor's runs (the hub hands the previous snapshot to the job) and the summary of a change; refuses a plan
// that needs web search when no worker has a search provider, saying what to set. Everything else goes to `inner`.
import type { Kysely } from 'kysely';
import type { Redis } from 'ioredis';
import { InvalidInputError } from '../errors.ts';
import type { Plan, PlanRequest, Planner } from '../planning/plan.ts';
import type { RedisKeys } from '../redis-keys.ts';
import type { Database } from '../store/schema.ts';
import { matchesAny } from '../capability-pattern.ts';
import { listLiveWorkers } from '../worker-registry.ts';

/** Run text of a monitor check (the schedule's request text). */
export const checkText = (monitorId: string): string => `monitor check ${monitorId}`;
/** Request text of the summary of one change. */
export const summaryText = (snapshotId: string): string => `monitor summarise ${snapshotId}`;

const CHECK = /^monitor check ([0-9a-f-]{36})$/;
const SUMMARY = /^monitor summarise ([A-Za-z0-9_-]{16,64})$/;

/** The monitor id of a run's request text, if it is one. */
export function monitorIdOf(text: string): string | undefined {
  return CHECK.exec(text)?.[1];
}
/** The snapshot id of a summary request text, if it is one. */
export function summarySnapshotOf(text: string): string | undefined {
  return SUMMARY.exec(text)?.[1];
}

/** Longest diff handed to the summary step. */
const MAX_DIFF_CHARS = 30_000;

/** What the planner reads: the database (monitors, snapshots) and the live worker directory (advertised specs). */
export interface MonitorPlannerDeps {
  db: Kysely<Database>;
  redis: Redis;
  keys: RedisKeys;
}

/** Wraps a planner with the monitor plans and the web-search check. */
export class MonitorPlanner implements Planner {
  constructor(
    private readonly inner: Planner,
    private readonly deps: MonitorPlannerDeps,
  ) {}

  async plan(req: PlanRequest): Promise<Plan> {
    const text = req.text.trim();
    const monitorId = monitorIdOf(text);
    if (monitorId) return this.planCheck(monitorId, req.userId);
    const snapshotId = summarySnapshotOf(text);
    if (snapshotId) return this.planSummary(snapshotId, req.userId);
    const plan = await this.inner.plan(req);
    if (plan.steps.some((s) => s.capability === 'web.search')) await this.requireSearch();
    return plan;
  }

  private async planCheck(monitorId: string, userId: string): Promise<Plan> {
    const { db } = this.deps;
    const m = await db
      .selectFrom('monitors')
      .selectAll()
      .where('id', '=', monitorId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!m) throw new InvalidInputError(`No monitor ${monitorId.slice(0, 8)} of yours.`);
    const last = await db
      .selectFrom('monitor_snapshots')
      .select(['hash', 'etag', 'last_modified'])
      .where('monitor_id', '=', m.id)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    const kept = last
      ? await db
          .selectFrom('monitor_snapshots')
          .select('text')
          .where('monitor_id', '=', m.id)
          .where('text', 'is not', null)
          .orderBy('created_at', 'desc')
          .executeTakeFirst()
      : undefined;
    const previous =
      last && kept?.text != null
        ? { hash: last.hash, text: kept.text, etag: last.etag, lastModified: last.last_modified }
        : null;
    return {
      summary: `check ${m.url} for changes (web.monitor)`,
      steps: [
        {
          key: 'check',
          capability: 'web.monitor',
          input: {
            url: m.url,
            ...(m.selector ? { selector: m.selector } : {}),
            ignore: m.ignore,
            previous,
          },
          dependsOn: [],
        },
      ],
    };
  }

  private async planSummary(snapshotId: string, userId: string): Promise<Plan> {
    const row = await this.deps.db
      .selectFrom('monitor_snapshots as s')
      .innerJoin('monitors as m', 'm.id', 's.monitor_id')
      .select(['s.diff', 'm.url', 'm.user_id'])
      .where('s.id', '=', snapshotId)
      .executeTakeFirst();
    if (!row || row.user_id !== userId || !row.diff) throw new InvalidInputError('No such change to summarise.');
    return {
      summary: `summarise the change on ${row.url} (llm.summarize)`,
      steps: [
        {
          key: 'summary',
          capability: 'llm.summarize',
          // Only the diff: the page's own text never reaches the model beyond what changed. llm.summarize passes
          // `text` to the model as an untrusted data block; the instructions stay outside it. Only fields of its
          // input schema: anything else would be dropped by the worker.
          input: {
            text: row.diff.slice(0, MAX_DIFF_CHARS),
            instructions: `Summarise what changed on ${row.url.slice(0, 2000)}, from this unified diff of the page text (lines starting with - were removed, + were added).`,
            length: 'short',
          },
          dependsOn: [],
        },
      ],
    };
  }

  /** Refuses when workers run web.* but none advertises web.search (no provider configured on them). */
  private async requireSearch(): Promise<void> {
    const workers = await listLiveWorkers(this.deps.redis, this.deps.keys);
    const advertised = workers.some((w) => w.specs?.some((s) => s.name === 'web.search'));
    // No worker for web.* at all is told as usual ("no worker is online"); a web worker without a provider is this.
    if (advertised || !workers.some((w) => w.state !== 'SHUTDOWN' && matchesAny(w.patterns, 'web.search'))) return;
    throw new InvalidInputError(
      'Web search is not set up: set SEARXNG_URL (a SearXNG instance), BRAVE_API_KEY or TAVILY_API_KEY on the web workers (SEARCH_PROVIDER picks one when several are set), then restart them.',
    );
  }
}
