// A task whose planner asked a clarifying question: stored in REVIEW with the question and no steps, so the
// user's `revise <id> <answer>` re-plans it with the answer (approve is refused until then).
import type { Insertable, Kysely, Transaction } from 'kysely';
import { taskEvent, type HubEvent, type PlanData } from '../events.ts';
import { insertEvents } from '../store/task-store.ts';
import { accept } from '../tasks/transitions.ts';
import type { Plan } from './plan.ts';
import type { Database, TaskRow, TasksTable } from '../store/schema.ts';
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
    const accepted = accept({ ...values, question: plan.question, planned_by: plan.plannedBy ?? null }, 'REVIEW', {
      priority: values.priority,
    });
    const task = await trx.insertInto('tasks').values(accepted.values).returningAll().executeTakeFirstOrThrow();
    const asked = taskEvent('review.requested', task.id, 'planner', {
      status: 'REVIEW',
      question: plan.question,
      ...plannedEventData(plan),
    });
    const events = await insertEvents(trx, [accepted.event, asked]);
    if (plan.llm) await recordLlm(trx, { taskId: task.id, subtaskId: null, userId: task.user_id }, plan.llm);
    await alsoInTransaction?.(trx);
    return { task, events };
  });
}

/** The parts of a plan the audit trail keeps: who planned, each step, and what planning cost. */
export function plannedEventData(plan: Plan): PlanData {
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
