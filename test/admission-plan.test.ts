// Admission's plan with real statistics: on a table where most subtasks are finished and every user has waiting and
// admitted work, both lookups go through their partial indexes (never a scan of every READY or RUNNING subtask), and
// each user's free capacity is counted once, not once per waiting row. Postgres only (PGlite has no planner stats
// worth the name).
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admissionUpdate } from '../src/core/tasks/admission.ts';
import { createTestEnv, databaseUrl, type TestEnv } from './helpers/test-env.ts';

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Subplan Name'?: string;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

const flatten = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(flatten)];

describe.skipIf(!databaseUrl())('admission plan', () => {
  let env: TestEnv;
  const users = ['plan:u1', 'plan:u2', 'plan:u3'];

  beforeAll(async () => {
    env = await createTestEnv();
    const db = env.ctx.db;
    // 40 users x 100 tasks of one step: 80 finished, 10 queued and running, 10 waiting per user.
    await sql`insert into tasks (id, user_id, origin, text, status, priority, notify_policy)
      select 't' || i, 'plan:u' || (i % 40), '{}'::jsonb, 'x', 'IN_PROGRESS', 'normal', 'all'
      from generate_series(1, 4000) i`.execute(db);
    await sql`insert into subtasks (id, task_id, user_id, key, capability, status, max_attempts, backoff_ms, jitter,
        timeout_ms, queued_at)
      select 's' || i, 't' || i, 'plan:u' || (i % 40), 'main', 'demo.echo',
        case when i <= 3200 then 'SUCCEEDED' when i <= 3600 then 'RUNNING' else 'READY' end, 3, 100, 0, 60000,
        case when i <= 3600 then now() end
      from generate_series(1, 4000) i`.execute(db);
    await sql`analyze tasks, subtasks`.execute(db);
  });

  afterAll(async () => {
    await env?.close();
  });

  it('uses the partial indexes and counts each user once', async () => {
    const db = env.ctx.db;
    const nodes = await db.connection().execute(async (conn) => {
      await sql`begin`.execute(conn);
      try {
        const { rows } = await sql<{ 'QUERY PLAN': { Plan: PlanNode }[] }>`explain (analyze, format json)
          ${admissionUpdate(users, 15)}`.execute(conn);
        return flatten(rows[0]!['QUERY PLAN'][0]!.Plan);
      } finally {
        await sql`rollback`.execute(conn);
      }
    });
    const scans = nodes.filter(
      (n) =>
        (n['Relation Name'] === 'subtasks' && n['Node Type'] !== 'ModifyTable') ||
        n['Node Type'] === 'Bitmap Index Scan',
    );
    const indexes = scans
      .filter((n) => n['Node Type'] !== 'Bitmap Heap Scan')
      .map((n) => n['Index Name'] ?? n['Node Type']);
    expect(indexes).toContain('subtasks_waiting');
    expect(indexes).toContain('subtasks_live');
    expect(indexes.filter((i) => !['subtasks_waiting', 'subtasks_live', 'subtasks_pkey'].includes(i))).toEqual([]);
    // The count of a user's admitted work runs once per user, however many of their rows wait.
    const count = nodes.find((n) => n['Index Name'] === 'subtasks_live')!;
    expect(count['Actual Loops']).toBe(users.length);
  });

  it("admits up to each user's free capacity", async () => {
    const { rows } = await sql<{ user_id: string }>`${admissionUpdate(users, 15)}`.execute(env.ctx.db);
    // Each user has 10 running and 10 waiting: 5 more fit under a cap of 15.
    const per = new Map<string, number>();
    for (const r of rows) per.set(r.user_id, (per.get(r.user_id) ?? 0) + 1);
    expect(Object.fromEntries(per)).toEqual(Object.fromEntries(users.map((u) => [u, 5])));
  });
});
