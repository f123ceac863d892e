// What the SMS frontend says: short replies, which outbound messages are worth a paid SMS, and the segment budget.
import type { CommandReply } from '../../core/commands/command-service.ts';
import { shortId } from '../../core/ids.ts';
import type { OutboundMessage } from '../frontend.ts';
import { fitSms } from './segments.ts';

/** Default most segments one SMS may take (4 = 612 GSM-7 characters). */
export const DEFAULT_MAX_SEGMENTS = 4;

/** Turns hub text into SMS bodies within the segment budget. */
export class SmsText {
  private readonly publicUrl: string | undefined;

  constructor(
    publicUrl: string | undefined,
    private readonly maxSegments: number = DEFAULT_MAX_SEGMENTS,
  ) {
    this.publicUrl = publicUrl?.replace(/\/+$/, '');
  }

  /** `text` compacted and, when too long, cut at the last segment boundary with a pointer to the whole (task page or STATUS). */
  fit(text: string, taskId?: string | undefined): string {
    const more = taskId
      ? this.publicUrl
        ? `More: ${this.publicUrl}/tasks/${taskId}`
        : `Reply STATUS ${shortId(taskId)} for more.`
      : undefined;
    return fitSms(compact(text), { maxSegments: this.maxSegments, more }).text;
  }

  /** The TwiML answer to a command (a new task's acknowledgement is not one: the notifier texts it). */
  reply(r: CommandReply): string {
    return this.fit(r.text, r.taskId);
  }
}

/**
 * Whether an outbound message is worth an SMS: acknowledgements, results and failures, and review requests.
 * Progress never (nothing can be edited), nor other notices (the submitter already heard about a missing worker).
 */
export function worthSending(message: OutboundMessage): boolean {
  if (message.kind === 'progress') return false;
  if (message.kind === 'info') return message.actions?.some((a) => a === 'approve' || a === 'reject') ?? false;
  return true;
}

/** Drops indentation and trailing spaces, and squeezes blank lines: whitespace costs money in an SMS. */
export function compact(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
