// Chat attachments as the task service takes them: every file fetched, or the request refused saying which was not.
import { InvalidInputError } from '../errors.ts';
import type { InboundAttachment } from '../types.ts';
import type { NewArtifact } from './artifact-store.ts';

/** The attachments of an inbound message as files to store; throws (nothing stored) when one could not be taken. */
export function acceptedAttachments(attachments: InboundAttachment[] | undefined): NewArtifact[] | undefined {
  if (!attachments?.length) return undefined;
  const refused = attachments.filter((a) => a.error || !a.bytes);
  if (refused.length)
    throw new InvalidInputError(
      `I could not take ${refused.map((a) => `"${a.name}" (${a.error ?? 'no content'})`).join(', ')}; nothing was started. Send it again, smaller or as a link.`,
    );
  return attachments.map((a) => ({ name: a.name, mediaType: a.mediaType, bytes: a.bytes! }));
}
