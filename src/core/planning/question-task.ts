// A task whose planner asked a clarifying question: stored in REVIEW with the question and no steps, so the
// user's `revise <id> <answer>` re-plans it with the answer (approve is refused until then).
import type { Insertable, Kysely, Transaction } from 'kysely';
import type { HubEvent } from '../hub-context.ts';
import type { Plan } from './plan.ts';
import type { Database, TaskRow, TasksTable } from '../store/schema.ts';
import { insertEvents } from '../store/task-store.ts';
import { recordLlm } from '../traces/llm-accounting.ts';

/** Inserts the waiting task, its events and the planner's usage in one transaction. */
export async function insertQuestionTask(
  db: Kysely<Database>,
  values: Insertable<TasksTable>,
  plan: Plan & { question: string },
  /** More writes in the same transaction (the request's uploaded files). */
  alsoInTransaction?: (trx: Transaction<Database>) => Promise<unknown>,
): Promise<{ task: TaskRow; events: HubEvent[] }> {
  return db.transaction().execute(async (trx) => {
    const task = await trx
      .insertInto('tasks')
      .values({ ...values, status: 'REVIEW', question: plan.question, planned_by: plan.plannedBy ?? null })
      .returningAll()
      .executeTakeFirstOrThrow();
    // Through insertEvents: the events write their outbox rows (the acknowledgement, the question) with them.
    const events = await insertEvents(trx, [
      { task_id: task.id, subtask_id: null, type: 'accepted', actor: task.user_id, data: { status: 'QUEUED' } },
      {
        task_id: task.id,
        subtask_id: null,
        type: 'review.requested',
        actor: 'planner',
        data: { status: 'REVIEW', question: plan.question, ...plannedEventData(plan) },
      },
    ]);
    if (plan.llm) await recordLlm(trx, { taskId: task.id, subtaskId: null, userId: task.user_id }, plan.llm);
    await alsoInTransaction?.(trx);
    return { task, events };
  });
}

/** The parts of a plan the audit trail keeps: who planned, each step, and what planning cost. */
export function plannedEventData(plan: Plan): Record<string, unknown> {
  const usage = plan.llm?.usage ?? [];
  return {
    ...(plan.plannedBy ? { plannedBy: plan.plannedBy } : {}),
    steps: plan.steps.map((s) => ({
      key: s.key,
      capability: s.capability,
      dependsOn: s.dependsOn,
      ...(s.title ? { title: s.title } : {}),
    })),
    ...(usage.length
      ? {
          llm: {
            model: usage[usage.length - 1]!.model,
            calls: usage.length,
            tokens: usage.reduce((n, u) => n + u.promptTokens + u.completionTokens, 0),
            costUsd: usage.reduce((n, u) => n + u.costUsd, 0),
          },
        }
      : {}),
  };
}
