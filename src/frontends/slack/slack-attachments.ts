// Slack files: shared files in (url_private_download with the bot token), task files out (files.uploadV2).
import type { App } from '@slack/bolt';
import type { InboundAttachment, MessageRef } from '../../core/types.ts';
import { fetchAttachment } from '../attachments.ts';
import type { OutboundFile } from '../frontend.ts';
import { mapSlackError } from './slack-errors.ts';

/** The parts of a message event's `files[]` entry this frontend reads. */
export interface SlackFile {
  id: string;
  name?: string;
  mimetype?: string;
  size?: number;
  url_private?: string;
  url_private_download?: string;
}

/** Fetches the files of a message event with the bot token, each under the size cap (or refused). */
export function slackFileFetcher(
  botToken: string,
  maxBytes: number,
): (files: SlackFile[] | undefined) => Promise<InboundAttachment[]> {
  return async (files) =>
    Promise.all(
      (files ?? []).map((f) => {
        const url = f.url_private_download ?? f.url_private;
        const meta = { name: f.name ?? f.id, mediaType: f.mimetype, size: f.size };
        if (!url) return { name: meta.name, mediaType: f.mimetype ?? '', error: 'Slack gave no download URL' };
        return fetchAttachment(url, meta, { maxBytes, headers: { authorization: `Bearer ${botToken}` } });
      }),
    );
}

/** Uploads files into the conversation (and thread) of a message the bot posted. */
export async function uploadSlackFiles(
  client: App['client'],
  to: MessageRef,
  files: OutboundFile[] | undefined,
): Promise<void> {
  for (const f of files ?? []) {
    const file = Buffer.from(await f.read());
    await client.files
      .uploadV2(
        to.threadId
          ? { channel_id: to.conversationId, thread_ts: to.threadId, file, filename: f.name }
          : { channel_id: to.conversationId, file, filename: f.name },
      )
      .catch((err: unknown) => {
        throw mapSlackError(err, 'files.uploadV2');
      });
  }
}
