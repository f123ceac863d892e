// Broadcasts from the hub to every worker on the control channel: one typed shape, one writer, one reader.
import type { Redis } from 'ioredis';

/** What the hub tells every worker. */
export type ControlMessage =
  /** These tasks finished (gathered over a fifth of a second): workers drop what they keep for them (sessions). */
  | { t: 'tasks-ended'; taskIds: string[] }
  /** The task was cancelled or its subtasks withdrawn: workers abort its running jobs. */
  | { t: 'cancel'; taskId: string }
  /** A capability queue was announced: workers whose patterns match start consuming it now, not at their next poll. */
  | { t: 'capability'; capability: string };

const KINDS = new Set<ControlMessage['t']>(['tasks-ended', 'cancel', 'capability']);

/** Publishes one control message on `channel` (the prefix's `keys.control`). */
export async function publishControl(redis: Redis, channel: string, msg: ControlMessage): Promise<void> {
  await redis.publish(channel, JSON.stringify(msg));
}

/** Reads a control message off the channel; undefined for anything that is not one (junk is ignored). */
export function parseControl(raw: string): ControlMessage | undefined {
  let msg: unknown;
  try {
    msg = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof msg !== 'object' || msg === null) return undefined;
  const m = msg as Record<string, unknown>;
  if (!KINDS.has(m.t as ControlMessage['t'])) return undefined;
  if (m.t === 'tasks-ended')
    return Array.isArray(m.taskIds) && m.taskIds.every((id) => typeof id === 'string')
      ? (m as ControlMessage)
      : undefined;
  const field = m.t === 'capability' ? m.capability : m.taskId;
  return typeof field === 'string' ? (m as ControlMessage) : undefined;
}
