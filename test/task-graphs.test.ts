// The graph insert sends each table's rows as one JSON array: one statement text for any batch size (prepared once
// per connection), values that come back exactly as given (quotes, backslashes, unicode, nested JSON, arrays), jsonb
// columns as JSON rather than strings, and the list of jsonb columns in step with the schema.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskEvent } from '../src/core/events.ts';
import { insertTaskGraphs, JSONB_COLUMNS, taskGraphsInsert, type TaskGraph } from '../src/core/store/task-writes.ts';
import { newTaskValues } from '../src/core/store/task-store.ts';
import { createTestEnv, type TestEnv } from './helpers/test-env.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
});

afterAll(async () => {
  await env?.close();
});

/** A graph of one task with two steps (the second depending on the first), its text and input as given. */
function graph(text: string, input: unknown, extra: Record<string, unknown> = {}): TaskGraph {
  const id = randomUUID();
  const user = 'test:graphs';
  const step = (key: string, dependsOn: string[]) => ({
    id: randomUUID(),
    task_id: id,
    user_id: user,
    key,
    capability: 'demo.echo',
    input: JSON.stringify(input),
    requires_review: false,
    depends_on: dependsOn,
    status: dependsOn.length ? ('PENDING' as const) : ('READY' as const),
    max_attempts: 3,
    backoff_ms: 100,
    jitter: 0.5,
    timeout_ms: 60_000,
  });
  return {
    task: newTaskValues({
      id,
      user_id: user,
      origin: JSON.stringify({ platform: 'test', conversationId: "c'1", userId: user }),
      text,
      status: 'ASSIGNED',
      priority: 'normal',
      notify_policy: 'state_changes',
      ...extra,
    }),
    subtasks: [step('first', []), step('second', ['first'])],
    events: [
      taskEvent('accepted', id, user, {}),
      taskEvent('planned', id, 'planner', { status: 'ASSIGNED', steps: [] } as never),
    ],
  };
}

describe('task graph insert', () => {
  it('stores values exactly as given, jsonb columns as JSON', async () => {
    const text = `it's a \\ back'slash; "quoted" ü 🚀 $1 --\n/* not a comment */`;
    const input = { text, list: [1, 'two', null, { deep: "it's" }], n: 1.5 };
    const [stored] = await env.ctx.db.transaction().execute((trx) => insertTaskGraphs(trx, [graph(text, input)], 20));
    expect(stored!.task.text).toBe(text);
    expect(stored!.task.origin).toEqual({ platform: 'test', conversationId: "c'1", userId: 'test:graphs' });
    expect(stored!.task.created_at).toBeInstanceOf(Date);
    expect(stored!.task.requires_review).toBe(false);
    expect(stored!.subtasks.map((s) => [s.key, s.depends_on, s.input])).toEqual([
      ['first', [], input],
      ['second', ['first'], input],
    ]);
    expect(stored!.events.map((e) => e.type)).toEqual(['accepted', 'planned']);
    const row = await env.ctx.db
      .selectFrom('subtasks')
      .select(sql<string>`jsonb_typeof(input)`.as('kind'))
      .where('id', '=', stored!.subtasks[0]!.id)
      .executeTakeFirstOrThrow();
    expect(row.kind).toBe('object');
  });

  it('is one statement text whatever the number of graphs', () => {
    const one = taskGraphsInsert(env.ctx.db, [graph('a', 1)], 20);
    const three = taskGraphsInsert(env.ctx.db, [graph('a', 1), graph('b', 2), graph('c', 3)], 20);
    expect(three.sql).toBe(one.sql);
    // Compiled once: the values differ, the text is the same string.
    expect(three.parameters).not.toEqual(one.parameters);
  });

  it('refuses a batch whose tasks set different columns (a left-out column would lose its default)', () => {
    expect(() => taskGraphsInsert(env.ctx.db, [graph('a', 1), graph('b', 2, { feedback: 'x' })], 20)).not.toThrow();
    const odd = graph('b', 2);
    delete (odd.task as Record<string, unknown>).feedback;
    expect(() => taskGraphsInsert(env.ctx.db, [graph('a', 1), odd], 20)).toThrow(/same columns/);
  });

  it('knows every jsonb column of the tables it writes', async () => {
    const { rows } = await sql<{ table_name: string; column_name: string }>`
      select table_name, column_name from information_schema.columns
      where table_schema = current_schema() and data_type = 'jsonb'
        and table_name in ('tasks', 'subtasks', 'task_events')`.execute(env.ctx.db);
    const found: Record<string, string[]> = { tasks: [], subtasks: [], task_events: [] };
    for (const r of rows) found[r.table_name]!.push(r.column_name);
    for (const table of Object.keys(found)) found[table]!.sort();
    expect(found).toEqual(Object.fromEntries(Object.entries(JSONB_COLUMNS).map(([t, c]) => [t, [...c].sort()])));
  });
});
