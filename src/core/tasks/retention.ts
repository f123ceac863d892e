// Retention: finished tasks older than RETENTION_DAYS are purged with their subtasks and events, in batches.

import type { Kysely } from 'kysely';
import type { HubContext } from '../hub-context.ts';
import type { Database } from '../store/schema.ts';
import { TERMINAL_TASK } from './lifecycle.ts';

/** Purges old finished tasks periodically; each batch is its own short statement (no long locks). */
export class RetentionJanitor {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly ctx: HubContext,
    private readonly batchSize = 500,
  ) {}

  /** Purges once now (in the background) and then every RETENTION_INTERVAL_MS. */
  start(): void {
    const run = () => void this.purgeOnce().catch((err) => this.ctx.log.error({ err }, 'retention purge failed'));
    run();
    this.timer = setInterval(run, this.ctx.config.RETENTION_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Deletes finished tasks whose finish is older than the retention period; returns how many. */
  async purgeOnce(olderThan = new Date(Date.now() - this.ctx.config.RETENTION_DAYS * 86_400_000)): Promise<number> {
    let total = 0;
    for (;;) {
      const res = await purgeBatch(this.ctx.db, olderThan, this.batchSize).executeTakeFirstOrThrow();
      const n = Number(res.purged);
      total += n;
      if (n < this.batchSize) break;
    }
    if (total) this.ctx.log.info({ purged: total, olderThan: olderThan.toISOString() }, 'retention purge');
    return total;
  }
}

/**
 * The delete of one batch: finished tasks whose finish is older than `olderThan`, oldest first, with their events and
 * outbox rows (which have no foreign key: migration 0090). Subtasks, dead letters, traces, usage and artifacts go with
 * their task (ON DELETE CASCADE); children keep running (SET NULL). Selects how many tasks went.
 */
export function purgeBatch(db: Kysely<Database>, olderThan: Date, limit: number) {
  return db
    .with('gone', (q) =>
      q
        .deleteFrom('tasks')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('tasks')
            .select('id')
            .where('status', 'in', TERMINAL_TASK)
            .where('finished_at', '<', olderThan)
            .orderBy('finished_at')
            .limit(limit),
        )
        .returning('id'),
    )
    .with('events', (q) => q.deleteFrom('task_events').where('task_id', 'in', q.selectFrom('gone').select('id')))
    .with('messages', (q) => q.deleteFrom('outbox').where('task_id', 'in', q.selectFrom('gone').select('id')))
    .selectFrom('gone')
    .select((eb) => eb.fn.countAll<string>().as('purged'));
}
