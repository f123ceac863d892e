// The one path every chat frontend takes for an inbound message: core decides, the frontend only replies.
import type { CommandReply } from '../core/commands/command-service.ts';
import { errorText } from '../core/errors.ts';
import type { InboundMessage, MessageRef } from '../core/types.ts';
import type { FrontendDeps } from './frontend.ts';

/**
 * Runs the shared command grammar on `msg` and delivers the reply with `reply`, except a new task's
 * acknowledgement: the notifier sends that from the outbox (it owns the progress message). A failed reply never
 * loses a task: it is already stored. Returns the reply (null for a duplicate).
 */
export async function handleInbound(
  deps: Pick<FrontendDeps, 'commands' | 'log'>,
  msg: InboundMessage,
  reply: (r: CommandReply) => Promise<MessageRef | void>,
): Promise<CommandReply | null> {
  const r = await deps.commands.handle(msg);
  if (!r || r.kind === 'ack') return r;
  try {
    await reply(r);
  } catch (err) {
    deps.log.warn(
      { err: errorText(err), platform: msg.origin.platform, taskId: r.taskId },
      'could not deliver the reply; the task itself is safe',
    );
  }
  return r;
}
