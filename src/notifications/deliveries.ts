// One small delivery per message kind: what each sends (or edits) for its outbox row, rendered from the task's
// state when it is delivered. A delivery with nothing (left) to say returns a null ref: the row is then settled.
import { renderAck } from '../core/commands/describe-task.ts';
import type { HubContext } from '../core/hub-context.ts';
import type { OutageLog } from '../core/outage-log.ts';
import type { MessageKind, OutboxRow } from '../core/store/outbox-rows.ts';
import type { SubtaskRow, TaskRow } from '../core/store/schema.ts';
import { isTerminalTask } from '../core/tasks/lifecycle.ts';
import { progressOf } from '../core/tasks/task-service.ts';
import { splitText } from '../core/text.ts';
import type { ConversationRef, MessageRef } from '../core/types.ts';
import type { IFrontend, OutboundMessage } from '../frontends/frontend.ts';
import { outboundFiles } from './outbound-files.ts';
import { renderFinal, renderFinalLine, renderInfo, renderProgress, renderReview } from './render.ts';

/** What a delivery works with: the row, the task (and subtasks, for the kinds that show steps), where it goes. */
export interface DeliveryInput {
  ctx: HubContext;
  row: Pick<OutboxRow, 'kind' | 'payload'>;
  task: TaskRow;
  subtasks: SubtaskRow[];
  /** The origin conversation, with the task's progress message (a frontend may answer through it). */
  origin: ConversationRef;
  frontend: IFrontend;
  /** The platform's outage log: errors while it is down are counted, not logged one by one. */
  outage: OutageLog;
}

/** What a delivery did: the ref of the message it sent or edited (null: nothing to send), and a final's parts. */
export interface Delivered {
  ref: MessageRef | null;
  parts?: number;
}

const NOTHING: Delivered = { ref: null };

const message = (d: DeliveryInput, kind: OutboundMessage['kind'], text: string): OutboundMessage => ({
  taskId: d.task.id,
  kind,
  text: text.slice(0, d.frontend.limits.maxLength),
});

/**
 * The acknowledgement: the first message, later edited with progress. Where the frontend answered the platform
 * with a placeholder (a deferred Discord interaction; the origin names it as its progress message), it fills
 * that; else it is a new message. A finished task is not acknowledged (a late "accepted" would confuse).
 */
async function ack(d: DeliveryInput): Promise<Delivered> {
  if (isTerminalTask(d.task.status) || d.task.progress_message) return NOTHING;
  const text = renderAck(d.task, d.subtasks, d.frontend.limits.canEdit);
  const out: OutboundMessage = { ...message(d, 'ack', text), actions: ['cancel'] };
  const placeholder = (d.task.origin as ConversationRef).progressMessageId;
  if (placeholder && d.frontend.edit) {
    const at: MessageRef = { ...refOf(d.origin), messageId: placeholder };
    return { ref: (await d.frontend.edit(at, out)) ?? at };
  }
  return { ref: await d.frontend.send(d.origin, out) };
}

/** A progress edit of the acknowledgement, from the latest state; the final message owns the last edit. */
async function progress(d: DeliveryInput): Promise<Delivered> {
  const at = d.task.progress_message as MessageRef | null;
  if (isTerminalTask(d.task.status) || !at || !d.frontend.edit) return NOTHING;
  const text = renderProgress(d.task, progressOf(d.task, d.subtasks));
  return { ref: (await d.frontend.edit(at, { ...message(d, 'progress', text), actions: ['cancel'] })) ?? at };
}

/** The request for a decision, while the task still waits for one. */
async function review(d: DeliveryInput): Promise<Delivered> {
  if (d.task.status !== 'REVIEW') return NOTHING;
  const out: OutboundMessage = { ...message(d, 'info', renderReview(d.task)), actions: ['approve', 'reject'] };
  return { ref: await d.frontend.send(d.origin, out) };
}

/** A notice (no worker online, a schedule paused). */
async function info(d: DeliveryInput): Promise<Delivered> {
  return { ref: await d.frontend.send(d.origin, message(d, 'info', renderInfo(d.task, d.row.payload))) };
}

/**
 * The final message: settles the progress message to one line, then sends the result as new messages (new
 * messages notify people; edits do not), with the task's files on the last part.
 */
async function final(d: DeliveryInput): Promise<Delivered> {
  const { task, frontend } = d;
  if (!isTerminalTask(task.status)) return NOTHING; // replayed since: the next final event says how it ended
  const at = task.progress_message as MessageRef | null;
  if (at && frontend.edit)
    await frontend
      .edit(at, message(d, 'progress', renderFinalLine(task)))
      .catch((err) => d.outage.report(err, 'could not settle the progress message', { taskId: task.id }));
  const parts = splitText(renderFinal(task, frontend.limits.markup), frontend.limits.maxLength);
  const actions = task.status === 'FAILED' ? ['retry' as const] : undefined;
  const files = task.status === 'COMPLETED' && task.has_outputs ? await outboundFiles(d.ctx, task.id) : [];
  let first: MessageRef | undefined;
  for (const [i, part] of parts.entries()) {
    const last = i === parts.length - 1;
    const sent = await frontend.send(d.origin, {
      taskId: task.id,
      kind: task.status === 'COMPLETED' ? 'result' : 'failure',
      text: part,
      ...(last && actions ? { actions } : {}),
      ...(last && files.length ? { files } : {}),
    });
    first ??= sent;
  }
  return { ref: first ?? null, parts: parts.length };
}

/** Message kind -> its delivery. */
export const DELIVERIES: Readonly<Record<MessageKind, (d: DeliveryInput) => Promise<Delivered>>> = {
  ack,
  progress,
  review,
  info,
  final,
};

function refOf(origin: ConversationRef): Omit<MessageRef, 'messageId'> {
  return { platform: origin.platform, conversationId: origin.conversationId, threadId: origin.threadId };
}
