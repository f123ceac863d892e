// The files a task produced, as the final message carries them to the origin conversation.
import { artifactLink } from '../core/artifacts/artifact-links.ts';
import type { HubContext } from '../core/hub-context.ts';
import type { OutboundFile } from '../frontends/frontend.ts';

/** Output files of a task (not its uploads), oldest first; bytes are read only if a frontend sends them. */
export async function outboundFiles(ctx: HubContext, taskId: string): Promise<OutboundFile[]> {
  const rows = await ctx.db
    .selectFrom('artifacts')
    .select(['id', 'name', 'media_type', 'size'])
    .where('task_id', '=', taskId)
    .where('producer', '!=', 'upload')
    .orderBy('created_at')
    .orderBy('name')
    .execute();
  return Promise.all(
    rows.map(async (r) => ({
      name: r.name,
      mediaType: r.media_type,
      size: r.size,
      url: await artifactLink(ctx, taskId, r.name),
      read: async () =>
        (await ctx.db.selectFrom('artifacts').select('bytes').where('id', '=', r.id).executeTakeFirstOrThrow()).bytes,
    })),
  );
}
