// AI accounting: per-call LLM usage, task traces, running totals on the task, the planner and its question.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('llm_usage')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('task_id', 'text', (c) => c.notNull().references('tasks.id').onDelete('cascade'))
    .addColumn('subtask_id', 'text')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('prompt_tokens', 'integer', (c) => c.notNull())
    .addColumn('completion_tokens', 'integer', (c) => c.notNull())
    .addColumn('cached_tokens', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('cost_usd', 'double precision', (c) => c.notNull().defaultTo(0))
    .addColumn('priced', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('latency_ms', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('finish_reason', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('estimated', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('cached', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('llm_usage_task').on('llm_usage').columns(['task_id']).execute();
  await db.schema.createIndex('llm_usage_user_created').on('llm_usage').columns(['user_id', 'created_at']).execute();

  await db.schema
    .createTable('task_traces')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('task_id', 'text', (c) => c.notNull().references('tasks.id').onDelete('cascade'))
    .addColumn('subtask_id', 'text')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('task_traces_task').on('task_traces').columns(['task_id', 'id']).execute();

  await db.schema
    .alterTable('tasks')
    .addColumn('llm_calls', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('llm_tokens', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('llm_cost_usd', 'double precision', (c) => c.notNull().defaultTo(0))
    .addColumn('llm_unpriced', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('plan_steps', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('planned_by', 'text')
    .addColumn('question', 'text')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const col of ['question', 'planned_by', 'plan_steps', 'llm_unpriced', 'llm_cost_usd', 'llm_tokens', 'llm_calls'])
    await db.schema.alterTable('tasks').dropColumn(col).execute();
  await db.schema.dropTable('task_traces').execute();
  await db.schema.dropTable('llm_usage').execute();
}
