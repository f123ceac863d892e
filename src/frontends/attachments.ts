// Shared by the chat frontends' attachment files: a capped download with the platform's own credentials.
import { formatBytes } from '../core/artifacts/artifact-store.ts';
import type { InboundAttachment, InboundMessage } from '../core/types.ts';

/** Downloads one file, refusing (as an `error` entry, nothing kept) past `maxBytes` or on a failed response. */
export async function fetchAttachment(
  url: string,
  file: { name: string; mediaType?: string | undefined; size?: number | undefined },
  opts: { maxBytes: number; headers?: Record<string, string>; signal?: AbortSignal },
): Promise<InboundAttachment> {
  const base = { name: file.name, mediaType: file.mediaType || 'application/octet-stream' };
  const tooBig = (n: number) => ({ ...base, error: `${formatBytes(n)}, over the ${formatBytes(opts.maxBytes)} limit` });
  if (file.size !== undefined && file.size > opts.maxBytes) return tooBig(file.size);
  try {
    const res = await fetch(url, { headers: opts.headers, signal: opts.signal ?? AbortSignal.timeout(60_000) });
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      return { ...base, error: `download failed (HTTP ${res.status})` };
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += chunk.byteLength;
      if (size > opts.maxBytes) {
        await res.body.cancel().catch(() => {});
        return tooBig(size);
      }
      chunks.push(chunk);
    }
    const type = file.mediaType || res.headers.get('content-type')?.split(';')[0]?.trim();
    return { ...base, ...(type ? { mediaType: type } : {}), bytes: Buffer.concat(chunks) };
  } catch (err) {
    return { ...base, error: `download failed (${(err as Error).message})` };
  }
}

/** Puts attachments on an inbound message; a message of files alone asks to read them. */
export function withAttachments(msg: InboundMessage, attachments: InboundAttachment[]): InboundMessage {
  if (attachments.length === 0) return msg;
  const text = msg.text.trim() ? msg.text : `Read the attached file${attachments.length > 1 ? 's' : ''}`;
  return { ...msg, text, attachments };
}
