// Row type of the outbox (migration 0060): one outbound message per row, from its causing event to its delivery.
import type { ColumnType, Generated, Selectable } from 'kysely';
import type { MessageRef } from '../types.ts';

/** What an outbox row delivers; platform-agnostic (frontends decide how each looks). */
export type MessageKind = 'ack' | 'progress' | 'review' | 'info' | 'final';

/** A row of `outbox`. */
export interface OutboxTable {
  id: Generated<string>;
  task_id: string;
  /** The event that caused the message; null for a progress edit made due by a worker's transient report. */
  event_id: string | null;
  kind: MessageKind;
  /** What to render beyond the task's state (an info: the event's type and data). */
  payload: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  created_at: Generated<Date>;
  /** When the row was settled: sent, superseded (nothing left to say), or given up after a permanent error. */
  delivered_at: Date | null;
  /** The platform's reference of the message sent (null when nothing was sent). */
  message_ref: ColumnType<MessageRef | null, string | null, string | null>;
  attempts: Generated<number>;
  last_error: string | null;
}

export type OutboxRow = Selectable<OutboxTable>;
