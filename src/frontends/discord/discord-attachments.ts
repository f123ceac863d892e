// Discord files: attachment options of /task in (the CDN URL Discord signs), task files out as message attachments.
import type { RawFile } from 'discord.js';
import type { InboundAttachment } from '../../core/types.ts';
import { fetchAttachment } from '../attachments.ts';
import type { OutboundFile } from '../frontend.ts';
import type { RawInteraction } from './interaction-text.ts';

const ATTACHMENT = 11;

/** The attachment options of a slash command, with the resolved attachment objects Discord sends along. */
export interface ResolvedAttachments {
  attachments?: Record<string, { id: string; filename: string; content_type?: string; size?: number; url: string }>;
}

/** Fetches a command's attachments (each under the cap, or refused). */
export async function discordAttachments(data: RawInteraction['data'], maxBytes: number): Promise<InboundAttachment[]> {
  const ids = (data?.options ?? []).filter((o) => o.type === ATTACHMENT).map((o) => String(o.value));
  return Promise.all(
    ids.map((id) => {
      const a = data?.resolved?.attachments?.[id];
      if (!a) return { name: `attachment-${id}`, mediaType: '', error: 'Discord did not resolve the attachment' };
      return fetchAttachment(a.url, { name: a.filename, mediaType: a.content_type, size: a.size }, { maxBytes });
    }),
  );
}

/** Task files as the attachments of a message. */
export async function discordFiles(files: OutboundFile[] | undefined): Promise<RawFile[]> {
  return Promise.all(
    (files ?? []).map(async (f) => ({ name: f.name, data: Buffer.from(await f.read()), contentType: f.mediaType })),
  );
}
