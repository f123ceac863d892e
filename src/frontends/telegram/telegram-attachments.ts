// Telegram files: documents and photos in (getFile, then the file URL with the bot token), documents out (sendDocument).
import { type Api, InputFile } from 'grammy';
import type { Update } from 'grammy/types';
import type { InboundAttachment, MessageRef } from '../../core/types.ts';
import { fetchAttachment } from '../attachments.ts';
import type { OutboundFile } from '../frontend.ts';
import { mapTelegramError } from './telegram-errors.ts';

/** The files of a message update (a document, or the largest size of a photo), each fetched or refused. */
export async function telegramAttachments(
  api: Api,
  opts: { apiRoot: string; token: string; maxBytes: number },
  update: Update,
): Promise<InboundAttachment[]> {
  const m = update.message;
  if (!m) return [];
  const items: Array<{ id: string; name: string; mediaType?: string | undefined; size?: number | undefined }> = [];
  if (m.document)
    items.push({
      id: m.document.file_id,
      name: m.document.file_name ?? `document-${m.message_id}`,
      mediaType: m.document.mime_type,
      size: m.document.file_size,
    });
  const photo = m.photo?.at(-1);
  if (photo)
    items.push({
      id: photo.file_id,
      name: `photo-${m.message_id}.jpg`,
      mediaType: 'image/jpeg',
      size: photo.file_size,
    });
  return Promise.all(
    items.map(async (f) => {
      try {
        const file = await api.getFile(f.id);
        if (!file.file_path) return { name: f.name, mediaType: f.mediaType ?? '', error: 'Telegram gave no file path' };
        const url = `${opts.apiRoot}/file/bot${opts.token}/${file.file_path}`;
        return fetchAttachment(url, { ...f, size: f.size ?? file.file_size }, { maxBytes: opts.maxBytes });
      } catch (err) {
        return {
          name: f.name,
          mediaType: f.mediaType ?? '',
          error: `could not be fetched (${(err as Error).message})`,
        };
      }
    }),
  );
}

/** Sends files as documents after the message they belong to, in the same chat and topic. */
export async function sendTelegramFiles(api: Api, to: MessageRef, files: OutboundFile[] | undefined): Promise<void> {
  for (const f of files ?? []) {
    const chat = /^-?\d+$/.test(to.conversationId) ? Number(to.conversationId) : to.conversationId;
    await api
      .sendDocument(chat, new InputFile(await f.read(), f.name), {
        ...(to.threadId ? { message_thread_id: Number(to.threadId) } : {}),
      })
      .catch((err: unknown) => {
        throw mapTelegramError(err);
      });
  }
}
