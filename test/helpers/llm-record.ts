// What the hub stored of a task's steps' `_llm` envelopes (the conductor strips them from outputs): usage and
// traces from llm_usage / task_traces, in the order the workers sent them.
import type { Kysely } from 'kysely';
import type { Database } from '../../src/core/store/schema.ts';

/** Usage and traces of the steps of a task (not the planner's), like the `_llm` envelope a worker sent. */
export async function stepLlmRecord(db: Kysely<Database>, taskId: string) {
  const [usage, traces] = await Promise.all([
    db
      .selectFrom('llm_usage')
      .selectAll()
      .where('task_id', '=', taskId)
      .where('subtask_id', 'is not', null)
      .orderBy('id')
      .execute(),
    db
      .selectFrom('task_traces')
      .selectAll()
      .where('task_id', '=', taskId)
      .where('subtask_id', 'is not', null)
      .orderBy('id')
      .execute(),
  ]);
  return { usage, traces: traces.map((t) => ({ kind: t.kind, data: t.data as Record<string, unknown> })) };
}
