// The one path every chat frontend takes for an inbound message: core decides, the frontend only replies.
import type { CommandReply } from '../core/commands/command-service.ts';
import { errorText } from '../core/errors.ts';
import type { InboundMessage, MessageRef } from '../core/types.ts';
import type { FrontendDeps } from './frontend.ts';

/**
 * Runs the shared command grammar on `msg` and delivers the reply with `reply`. A reply to a new task
 * becomes that task's progress message. A failed reply never loses the task: it is already stored and
 * queued, and its final message is delivered by the notifier. Returns the reply (null for a duplicate).
 */
export async function handleInbound(
  deps: Pick<FrontendDeps, 'commands' | 'tasks' | 'log'>,
  msg: InboundMessage,
  reply: (r: CommandReply) => Promise<MessageRef | void>,
): Promise<CommandReply | null> {
  const r = await deps.commands.handle(msg);
  if (!r) return null;
  try {
    const ref = await reply(r);
    if (ref && r.kind === 'ack' && r.taskId) await deps.tasks.attachProgressMessage(r.taskId, ref);
  } catch (err) {
    deps.log.warn(
      { err: errorText(err), platform: msg.origin.platform, taskId: r.taskId },
      'could not deliver the reply; the task itself is safe',
    );
  }
  return r;
}
