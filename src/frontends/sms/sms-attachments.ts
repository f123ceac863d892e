// MMS media in (MediaUrlN fetched with the account SID and auth token, only from the Twilio API host) and task
// files out as signed download links (SMS cannot carry a file).
import type { InboundAttachment } from '../../core/types.ts';
import { fetchAttachment } from '../attachments.ts';
import type { OutboundFile } from '../frontend.ts';

const EXT: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'application/pdf': 'pdf',
  'text/plain': 'txt',
  'text/vcard': 'vcf',
};

/** Fetches the media of an inbound MMS; media on another host than the Twilio API never gets the credentials. */
export function twilioMediaFetcher(o: {
  accountSid: string;
  authToken: string;
  apiBase: string;
  maxBytes: number;
}): (params: Record<string, string>) => Promise<InboundAttachment[]> {
  const auth = `Basic ${Buffer.from(`${o.accountSid}:${o.authToken}`).toString('base64')}`;
  const base = o.apiBase.replace(/\/+$/, '');
  return async (params) => {
    const n = Math.min(Number(params.NumMedia ?? 0) || 0, 10);
    const out: Promise<InboundAttachment>[] = [];
    for (let i = 0; i < n; i++) {
      const url = params[`MediaUrl${i}`];
      if (!url || !url.startsWith(`${base}/`)) continue;
      const type = params[`MediaContentType${i}`] ?? '';
      const name = `media-${i + 1}.${EXT[type] ?? 'bin'}`;
      out.push(
        fetchAttachment(url, { name, mediaType: type }, { maxBytes: o.maxBytes, headers: { authorization: auth } }),
      );
    }
    return Promise.all(out);
  };
}

/** The text of an SMS carrying files: their links first (so cutting a long text never loses them). */
export function withFileLinks(text: string, files: OutboundFile[] | undefined): string {
  const links = (files ?? []).filter((f) => f.url).map((f) => `${f.name}: ${f.url}`);
  return links.length ? `Files: ${links.join(' ')}\n${text}` : text;
}
