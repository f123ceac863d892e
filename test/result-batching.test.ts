// Group commit of worker results: results arriving together share one transaction, a duplicate inside a batch is
// applied once, and a poisoned result fails alone while the rest of its batch is applied.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createDatabase } from '../src/core/store/create-database.ts';
import { PREPARED } from '../src/core/store/prepared.ts';
import type { JobResult } from '../src/core/types.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';
import { databaseUrl } from './helpers/test-env.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

/** Submits `n` one-step tasks no worker runs (the test plays the worker) and returns their results-to-be. */
async function pendingResults(n: number, tag: string): Promise<Extract<JobResult, { kind: 'succeeded' }>[]> {
  const out: Extract<JobResult, { kind: 'succeeded' }>[] = [];
  for (let i = 0; i < n; i++) {
    const { task, subtasks } = await h.hub.tasks.submit({
      origin: h.origin(`test:${tag}-${i % 3}`),
      text: `use nobody.home: ${tag} ${i}`,
    });
    out.push({
      kind: 'succeeded',
      taskId: task.id,
      subtaskId: subtasks[0]!.id,
      generation: 0,
      attempt: 1,
      workerId: 'w1',
      output: { tag, i },
    });
  }
  return out;
}

const eventTypes = async (taskId: string) =>
  (
    await h.hub.ctx.db.selectFrom('task_events').select('type').where('task_id', '=', taskId).orderBy('id').execute()
  ).map((r) => r.type);

describe('batched result application', () => {
  it('applies results arriving together in fewer transactions than results, a duplicate once', async () => {
    const results = await pendingResults(12, 'batch');
    const before = { ...h.hub.conductor.stats };
    const sent = [...results, results[3]!];
    const applied = await Promise.all(sent.map((r) => h.hub.conductor.applyResult(r)));
    const transactions = h.hub.conductor.stats.transactions - before.transactions;
    expect(h.hub.conductor.stats.results - before.results).toBe(sent.length);
    expect(transactions).toBeGreaterThanOrEqual(1);
    expect(transactions).toBeLessThan(sent.length / 2);
    // The duplicate (same subtask, same generation) changed nothing; every other result did.
    expect(applied.filter(Boolean)).toHaveLength(results.length);
    expect([applied[3], applied[12]].filter(Boolean)).toHaveLength(1);
    for (const r of results) {
      const done = await h.waitForTask(r.taskId, (t) => t.status === 'COMPLETED' && t.final_notified);
      expect(done.result).toEqual(r.output);
      const types = await eventTypes(r.taskId);
      expect(types.filter((t) => t === 'subtask.succeeded')).toHaveLength(1);
      expect(types.filter((t) => t === 'completed')).toHaveLength(1);
      expect(types.indexOf('subtask.succeeded')).toBeLessThan(types.indexOf('completed'));
      expect(h.chat.forTask(r.taskId).filter((d) => d.message.kind === 'result')).toHaveLength(1);
    }
  });

  it('a task with several results in one batch sees each in turn; lone ones share one statement', async () => {
    const lone = await pendingResults(4, 'mixed');
    const { task, subtasks } = await h.hub.tasks.submit({
      origin: h.origin('test:mixed-fan'),
      text: 'split in 3 steps',
    });
    const branch = (key: string): JobResult => {
      const s = subtasks.find((x) => x.key === key)!;
      return {
        kind: 'succeeded',
        taskId: task.id,
        subtaskId: s.id,
        generation: 0,
        attempt: 1,
        workerId: 'w1',
        output: key,
      };
    };
    // The embedded workers may run the branches too; either way each branch succeeds once and the join is released once.
    const sent = [lone[0]!, branch('part1'), lone[1]!, branch('part2'), lone[2]!, branch('part3'), lone[3]!];
    await Promise.all(sent.map((r) => h.hub.conductor.applyResult(r)));
    for (const r of lone)
      expect((await h.waitForTask(r.taskId, (t) => t.status === 'COMPLETED')).result).toEqual(r.output);
    const done = await h.waitForTask(task.id, (t) => t.status === 'COMPLETED');
    const types = await eventTypes(done.id);
    expect(types.filter((t) => t === 'subtask.succeeded')).toHaveLength(4);
    expect(types.filter((t) => t === 'completed')).toHaveLength(1);
  });

  it('a poisoned result fails alone; the rest of its batch is applied', async () => {
    const results = await pendingResults(5, 'poison');
    // A NUL character cannot be stored in jsonb: the statement for this result throws inside the batch.
    const poisoned = { ...results[2]!, output: { text: 'bad \u0000 byte' } };
    const sent = [results[0]!, results[1]!, poisoned, results[3]!, results[4]!];
    const settled = await Promise.allSettled(sent.map((r) => h.hub.conductor.applyResult(r)));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(settled.filter((s) => s.status === 'fulfilled').every((s) => s.value === true)).toBe(true);
    for (const r of [results[0]!, results[1]!, results[3]!, results[4]!]) {
      const done = await h.waitForTask(r.taskId, (t) => t.status === 'COMPLETED');
      expect(done.result).toEqual(r.output);
    }
    // The poisoned step's task is untouched, and its good result (a redelivery) applies afterwards.
    expect(await eventTypes(results[2]!.taskId)).not.toContain('subtask.succeeded');
    expect(await h.hub.conductor.applyResult(results[2]!)).toBe(true);
    const done = await h.waitForTask(results[2]!.taskId, (t) => t.status === 'COMPLETED');
    expect(done.result).toEqual(results[2]!.output);
  });
});

describe('named statements', () => {
  it.skipIf(!databaseUrl())('a statement marked PREPARED is prepared once per connection; others are not', async () => {
    const { db, close } = await createDatabase({ url: databaseUrl(), poolSize: 1 });
    try {
      for (const n of [1, 2, 3]) {
        const { rows } = await sql<{ n: number }>`${PREPARED} select ${n}::int as n`.execute(db);
        expect(rows).toEqual([{ n }]);
      }
      await sql`select ${4}::int as unmarked`.execute(db);
      const { rows } = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(db);
      expect(rows.map((r) => r.statement)).toEqual(['/* prepared */ select $1::int as n']);
    } finally {
      await close();
    }
  });
});
