// Subtask indexes that match what is asked of them, each holding only the rows it can answer for:
// - subtasks_waiting (user_id; READY, not yet queued): admission's lookup of a user's waiting work;
// - subtasks_live (user_id; queued, READY or RUNNING): admission's count of a user's work in flight, and the
//   reconciler's look for live work that went quiet (all of it: live work is bounded by the users' capacity).
// They replace (user_id, status, queued_at) and (status, updated_at). With real statistics the planner preferred
// the status index for admission (a status looks selective when the table was analysed between bursts), then
// filtered the READY and RUNNING subtasks of every user, once per admitted row: 5x the Postgres time of the DAG
// benchmark. With a partial index whose predicate is the query's own, no other path is left, at any table size; and
// finished subtasks, most of the table, are in none of them.
import { sql, type Kysely } from 'kysely';

const LIVE = ['READY', 'RUNNING'];

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('subtasks_waiting')
    .on('subtasks')
    .column('user_id')
    .where(sql.ref('status'), '=', 'READY')
    .where(sql.ref('queued_at'), 'is', null)
    .execute();
  await db.schema
    .createIndex('subtasks_live')
    .on('subtasks')
    .column('user_id')
    .where(sql.ref('status'), 'in', LIVE)
    .where(sql.ref('queued_at'), 'is not', null)
    .execute();
  await db.schema.dropIndex('subtasks_user_inflight').execute();
  await db.schema.dropIndex('subtasks_status').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('subtasks_status').on('subtasks').columns(['status', 'updated_at']).execute();
  await db.schema
    .createIndex('subtasks_user_inflight')
    .on('subtasks')
    .columns(['user_id', 'status', 'queued_at'])
    .execute();
  await db.schema.dropIndex('subtasks_live').execute();
  await db.schema.dropIndex('subtasks_waiting').execute();
}
