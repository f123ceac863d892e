// Per-user admission control: at most MAX_INFLIGHT_PER_USER subtasks of a user on the queues at once.
// A READY subtask with queued_at NULL waits its turn; admitting sets queued_at and then enqueues it. A new subtask of
// a user with nothing waiting is admitted as it is inserted (insertCapacity), saving the update of its row.
import { sql, type CompiledQuery, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import { enqueueSubtasks } from './dispatcher.ts';
import { LIVE_SUBTASK } from './lifecycle.ts';
import type { HubContext } from '../hub-context.ts';
import { PREPARED } from '../store/prepared.ts';
import { statementTemplate } from '../store/statement-template.ts';
import type { Database, SubtaskRow, TaskRow } from '../store/schema.ts';
import { loadSubtasks } from '../store/task-store.ts';

/** The advisory lock that serialises admissions of one user across hub processes (held to commit). `userId` is a value or an SQL expression. */
export function admissionLock(userId: string | RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`pg_advisory_xact_lock(hashtext('sb-admit:' || ${userId}))`;
}

/**
 * Takes the admission locks of the users `ids` (a subquery with a column `id`) in one fixed order, by lock key,
 * so two transactions that each lock several users never wait for each other crosswise; the count of locks taken.
 */
export function admissionLocks(ids: RawBuilder<unknown>): RawBuilder<unknown> {
  // offset 0 keeps the ordered subquery from being flattened: the locks are taken in its order.
  return sql`(select count(*) from (select ${admissionLock(sql.ref('u.id'))} from (select id from (${ids}) x
    order by hashtext('sb-admit:' || id), id offset 0) u) l)`;
}

/** The order admission lets subtasks (`s`, of tasks `t`) in: urgent first, then oldest. */
export function admitOrder(t: string, s: string): RawBuilder<unknown> {
  return sql`case ${sql.ref(`${t}.priority`)} when 'urgent' then 0 when 'normal' then 1 else 2 end,
    ${sql.ref(`${s}.created_at`)}, ${sql.ref(`${s}.key`)}`;
}

// Live statuses as literals: the partial index subtasks_live (migration 0070) serves the count only when its
// predicate can be proven from the query's, which a parameter (unknown to a cached plan) does not allow.
const LIVE = sql.join(LIVE_SUBTASK.map((s) => sql.lit(s)));

/** The free capacity of the user `user` (an SQL expression): `cap` less their admitted live subtasks. */
function freeCapacity(user: RawBuilder<unknown>, cap: number): RawBuilder<number> {
  return sql<number>`${cap}::int - (select count(*) from subtasks l where l.user_id = ${user}
    and l.status in (${LIVE}) and l.queued_at is not null)`;
}

/** Whether the user `user` (an SQL expression) has waiting work: a READY subtask not admitted yet. */
function hasWaiting(user: RawBuilder<unknown>): RawBuilder<boolean> {
  return sql<boolean>`exists (select from subtasks q where q.user_id = ${user} and q.status = 'READY'
    and q.queued_at is null)`;
}

/**
 * The free capacity of each of `userIds` that has no waiting subtask (rows `user_id`, `free`): the users whose new
 * READY subtasks may be admitted as they are inserted. A user with waiting work is left out, so that it is admitted
 * first, in order, by `admissionUpdate`. Like it, this must run in a statement that starts after the locks are held.
 */
export function insertCapacity(userIds: string[], cap: number): RawBuilder<{ user_id: string; free: number }> {
  return sql`select u.id as user_id, ${freeCapacity(sql.ref('u.id'), cap)} as free
    from unnest(${userIds}::text[]) as u (id) where not ${hasWaiting(sql.ref('u.id'))}`;
}

/**
 * The admission UPDATE (returning the admitted rows) for several users, in one text whatever their number: each
 * user's waiting READY subtasks, urgent first, then oldest, up to that user's free capacity. It must run in a
 * statement that starts after the users' admission locks are held. Both lookups match a partial index exactly
 * (subtasks_waiting, subtasks_live); the free capacity of each user with waiting work is counted once (offset 0
 * keeps that subquery whole, rather than the count being repeated for every waiting row it is joined with).
 */
export function admissionUpdate(userIds: string[], cap: number): RawBuilder<SubtaskRow> {
  return sql<SubtaskRow>`
    update subtasks set queued_at = now(), updated_at = now()
    where id in (
      select w.id from (
        select s.id, s.user_id, row_number() over (partition by s.user_id order by ${admitOrder('t', 's')}) as nth
        from subtasks s join tasks t on t.id = s.task_id
        where s.user_id = any(${userIds}::text[]) and s.status = 'READY' and s.queued_at is null
      ) w
      join (
        select u.id as user_id, ${freeCapacity(sql.ref('u.id'), cap)} as free
        from unnest(${userIds}::text[]) as u (id) where ${hasWaiting(sql.ref('u.id'))}
        offset 0
      ) f on f.user_id = w.user_id
      where w.nth <= f.free
    )
    returning *`;
}

/**
 * Admits the user's waiting READY subtasks up to the free capacity, inside the caller's transaction, taking
 * the admission lock first. Returns the admitted rows; enqueue them with `enqueueAdmitted` after commit.
 */
export async function admitWaiting(trx: Transaction<Database>, userId: string, cap: number): Promise<SubtaskRow[]> {
  await sql`${PREPARED} select ${admissionLock(userId)}`.execute(trx);
  return admitUsers(trx, [userId], cap);
}

/**
 * Admits the waiting READY subtasks of several users (each up to their free capacity) inside the caller's
 * transaction; the caller already holds their admission locks (taken in an earlier statement).
 */
export async function admitUsers(trx: Transaction<Database>, userIds: string[], cap: number): Promise<SubtaskRow[]> {
  const users = [...new Set(userIds)];
  if (users.length === 0) return [];
  return (await trx.executeQuery(admissionStatement(trx, users, cap))).rows;
}

const admissionTemplate = statementTemplate(
  (v: { users: string[]; cap: number }) => sql<SubtaskRow>`${PREPARED} ${admissionUpdate(v.users, v.cap)}`,
);

/** `admissionUpdate` as a named statement, compiled once (to run it in a statement group). */
export function admissionStatement(db: Kysely<Database>, userIds: string[], cap: number): CompiledQuery<SubtaskRow> {
  return admissionTemplate(db, { users: userIds, cap });
}

/** Enqueues admitted subtasks, loading their tasks (and siblings, for dependency outputs) where needed. */
export async function enqueueAdmitted(
  ctx: HubContext,
  admitted: SubtaskRow[],
  known: { task: TaskRow; siblings: SubtaskRow[] }[] = [],
): Promise<void> {
  const byTask = new Map<string, SubtaskRow[]>();
  for (const s of admitted) byTask.set(s.task_id, [...(byTask.get(s.task_id) ?? []), s]);
  await Promise.all(
    [...byTask].map(async ([taskId, subs]) => {
      const hit = known.find((k) => k.task.id === taskId);
      const task =
        hit?.task ?? (await ctx.db.selectFrom('tasks').selectAll().where('id', '=', taskId).executeTakeFirst());
      if (!task) return;
      // Admitted rows carry the new queued_at; siblings give the dependencies' outputs.
      const siblings = (hit?.siblings ?? (await loadSubtasks(ctx.db, taskId))).map(
        (s) => subs.find((a) => a.id === s.id) ?? s,
      );
      await enqueueSubtasks(ctx, task, subs, siblings);
    }),
  );
}
