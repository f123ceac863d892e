// The tasks table keeps only indexes that answer a query, and its partial ones still serve those queries on an
// analysed table: retention through tasks_finished, the children of a parent (and a deleted parent's SET NULL)
// through tasks_parent_task. Each index a task's row meets costs an entry at its insert and at every status change.
// Events and outbox rows have no foreign key (its check was a lookup per row). Task pages keep room for the delivery
// marks' row versions. Postgres only (PGlite has no planner stats worth the name).
import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeBatch } from '../src/core/tasks/retention.ts';
import { createTestEnv, databaseUrl, type TestEnv } from './helpers/test-env.ts';

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

const flatten = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(flatten)];

describe.skipIf(!databaseUrl())('task indexes', () => {
  let env: TestEnv;

  beforeAll(async () => {
    env = await createTestEnv();
    // 5,000 tasks: a fifth finished long ago, one in fifty a child of one parent, none with an idempotency key.
    await sql`insert into tasks (id, user_id, origin, text, status, parent_task_id, finished_at)
      select 't' || i, 'idx:u' || (i % 40), '{}'::jsonb, 'x',
        case when i % 5 = 0 then 'COMPLETED' else 'IN_PROGRESS' end,
        case when i % 50 = 1 and i > 1 then 't1' end,
        case when i % 5 = 0 then now() - interval '90 days' end
      from generate_series(1, 5000) i`.execute(env.ctx.db);
    await sql`analyze tasks`.execute(env.ctx.db);
  });

  afterAll(async () => {
    await env?.close();
  });

  /** The index scans of a statement's plan (a generic one for `$n` parameters, as a prepared statement runs). */
  async function indexesOf(query: CompiledQuery): Promise<string[]> {
    const nodes = await env.ctx.db.connection().execute(async (conn) => {
      await sql`begin`.execute(conn);
      try {
        await sql`set local plan_cache_mode = force_generic_plan`.execute(conn);
        const { rows } = await conn.executeQuery<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
          CompiledQuery.raw(`explain (format json) ${query.sql}`, [...query.parameters]),
        );
        return flatten(rows[0]!['QUERY PLAN'][0]!.Plan);
      } finally {
        await sql`rollback`.execute(conn);
      }
    });
    return nodes.map((n) => n['Index Name']).filter((i): i is string => i !== undefined);
  }

  it('has no index a task meets for nothing', async () => {
    const { rows } = await sql<{ indexname: string; indexdef: string }>`select indexname, indexdef from pg_indexes
      where schemaname = current_schema() and tablename = 'tasks' order by indexname`.execute(env.ctx.db);
    const where = Object.fromEntries(rows.map((r) => [r.indexname, r.indexdef.split(' WHERE ')[1] ?? null]));
    expect(where).toEqual({
      tasks_finished: '(finished_at IS NOT NULL)',
      tasks_parent_task: '(parent_task_id IS NOT NULL)',
      tasks_pkey: null,
      tasks_user_created: null,
      tasks_user_idempotency_key: '(idempotency_key IS NOT NULL)',
    });
  });

  it('checks no foreign key on the rows every task writes most of (events, outbox)', async () => {
    const { rows } = await sql<{ table: string }>`select conrelid::regclass::text as table from pg_constraint
      where contype = 'f' and connamespace = current_schema()::regnamespace order by 1`.execute(env.ctx.db);
    const checked = new Set(rows.map((r) => r.table));
    expect(checked.has('subtasks')).toBe(true);
    expect(checked.has('task_events')).toBe(false);
    expect(checked.has('outbox')).toBe(false);
  });

  it('purges through tasks_finished', async () => {
    const query = purgeBatch(env.ctx.db, new Date(Date.now() - 30 * 86_400_000), 500).compile();
    expect(await indexesOf(query)).toContain('tasks_finished');
    const purged = await purgeBatch(env.ctx.db, new Date(Date.now() - 30 * 86_400_000), 500).executeTakeFirst();
    expect(Number(purged?.purged)).toBe(500);
  });

  it("finds a parent's children, and releases them when it goes, through tasks_parent_task", async () => {
    const children = env.ctx.db.selectFrom('tasks').select('id').where('parent_task_id', '=', 't1').compile();
    expect(await indexesOf(children)).toEqual(['tasks_parent_task']);
    // The foreign key's ON DELETE SET NULL looks the children up the same way.
    await env.ctx.db.deleteFrom('tasks').where('id', '=', 't1').execute();
    const left = await env.ctx.db.selectFrom('tasks').select('id').where('parent_task_id', 'is not', null).execute();
    expect(left).toEqual([]);
  });

  it("keeps room on a task's page, so its delivery marks change no index (HOT updates)", async () => {
    const hot = await env.ctx.db.connection().execute(async (conn) => {
      await sql`begin`.execute(conn);
      try {
        await sql`insert into tasks (id, user_id, origin, text, status)
          select 'hot' || i, 'idx:hot', '{"platform":"test","conversationId":"c","userId":"idx:hot"}'::jsonb,
            'a request of a typical length, with a sentence or two of what to do', 'COMPLETED'
          from generate_series(1, 400) i`.execute(conn);
        const counts = async () => {
          const { rows } = await sql<{ updated: string; hot: string }>`select
            pg_stat_get_xact_tuples_updated('tasks'::regclass) as updated,
            pg_stat_get_xact_tuples_hot_updated('tasks'::regclass) as hot`.execute(conn);
          return { updated: Number(rows[0]!.updated), hot: Number(rows[0]!.hot) };
        };
        const before = await counts();
        // A delivery mark's update (progress_message, final_notified: no indexed column) of every fourth task.
        await sql`update tasks set final_notified = true where user_id = 'idx:hot' and substr(id, 4)::int % 4 = 0`.execute(
          conn,
        );
        const after = await counts();
        return { updated: after.updated - before.updated, hot: after.hot - before.hot };
      } finally {
        await sql`rollback`.execute(conn);
      }
    });
    expect(hot).toEqual({ updated: 100, hot: 100 });
  });
});
