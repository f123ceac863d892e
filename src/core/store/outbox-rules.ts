// Which task events become which outbound message, under which notify policy: the one rules table, and the SQL
// that applies it where events are written (so a message row commits with the event that causes it).
import { sql, type RawBuilder } from 'kysely';
import type { NotifyPolicy } from '../types.ts';
import type { MessageKind } from './outbox-rows.ts';

/** A rule: the message an event yields and the notify policies that get it. */
export interface MessageRule {
  kind: MessageKind;
  policies: readonly NotifyPolicy[];
}

const FULL = ['state_changes'] as const;
const NOT_SILENT = ['done_only', 'state_changes'] as const;
const progress: MessageRule = { kind: 'progress', policies: FULL };
const final: MessageRule = { kind: 'final', policies: NOT_SILENT };

/**
 * Event type -> message. Review requests go out under every policy (without one a task waits for a decision
 * nobody knows about); `done_only` also gets finals and infos; `state_changes` gets everything. `progress` is the
 * transient worker report (never stored): the notifier applies its rule after commit.
 */
export const MESSAGE_RULES: Readonly<Record<string, MessageRule>> = {
  accepted: { kind: 'ack', policies: FULL },
  planned: progress,
  started: progress,
  'subtask.started': progress,
  'subtask.succeeded': progress,
  'subtask.retrying': progress,
  'progress.stage': progress,
  progress,
  retried: progress,
  'admin.reprocess': progress,
  approved: progress,
  resumed: progress,
  revised: progress,
  completed: final,
  failed: final,
  cancelled: final,
  rejected: final,
  'review.requested': { kind: 'review', policies: ['silent', 'done_only', 'state_changes'] },
  'schedule.paused': { kind: 'info', policies: NOT_SILENT },
  no_worker: { kind: 'info', policies: NOT_SILENT },
};

/** The message an event of `type` yields for a task under `policy`, if any. */
export function messageFor(type: string, policy: NotifyPolicy): MessageKind | undefined {
  const rule = MESSAGE_RULES[type];
  return rule?.policies.includes(policy) ? rule.kind : undefined;
}

// The rules as an SQL VALUES list (constants from this file, so inlined rather than sent as parameters).
const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
const RULES_SQL = sql.raw(
  `(values ${Object.entries(MESSAGE_RULES)
    .map(([type, r]) => `(${quote(type)}, ${quote(r.kind)}, array[${r.policies.map(quote).join(', ')}]::text[])`)
    .join(', ')}) as r (type, kind, policies)`,
);

/**
 * The statement (for a data-modifying CTE) that writes the outbox rows for the events in CTE `events`, reading
 * each task's notify policy and progress message from `tasks` (the table, or a CTE of just-inserted tasks).
 * One event yields at most one row. Progress coalesces: at most one per task in the batch and none when the
 * batch has the acknowledgement or a final message (each renders the latest state itself); it is written only
 * when there is a message to edit (the task has one, or its acknowledgement is on its way), and it folds into a
 * pending progress row (the unique index) — that row renders the latest state when it is delivered.
 */
export function outboxInsert(events: string, tasks: 'tasks' | 't'): RawBuilder<unknown> {
  return sql`insert into outbox (task_id, event_id, kind, payload)
    select m.task_id, m.id, m.kind, m.payload from (
      select e.task_id, e.id, r.kind, tk.progress_message is not null as editable,
        case when r.kind = 'info' then jsonb_build_object('event', e.type, 'data', e.data) end as payload,
        row_number() over (partition by e.task_id, r.kind order by e.id desc) as nth,
        bool_or(r.kind in ('ack', 'final')) over (partition by e.task_id) as settles
      from ${sql.raw(events)} e
      join ${sql.raw(tasks)} tk on tk.id = e.task_id
      join ${RULES_SQL} on r.type = e.type and tk.notify_policy = any(r.policies)
    ) m
    where m.kind <> 'progress' or (m.nth = 1 and not m.settles and (m.editable or exists (
      select 1 from outbox o where o.task_id = m.task_id and o.kind = 'ack' and o.delivered_at is null)))
    on conflict do nothing`;
}

/**
 * `outboxInsert` as a kysely `with` body: kysely types CTE bodies as its builders and parenthesises only those, so
 * the raw statement comes in its own parentheses.
 */
export function outboxCte(events: string, tasks: 'tasks' | 't'): () => never {
  return () => sql`(${outboxInsert(events, tasks)})` as never;
}
