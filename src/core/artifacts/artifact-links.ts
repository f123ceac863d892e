// Signed, expiring download links for task files (for platforms that cannot take a file, like SMS).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { HubContext } from '../hub-context.ts';

/** The signing secret: ARTIFACT_LINK_SECRET, else one random secret shared by every hub through Redis. */
export async function linkSecret(ctx: HubContext): Promise<string> {
  if (ctx.config.ARTIFACT_LINK_SECRET) return ctx.config.ARTIFACT_LINK_SECRET;
  const key = `${ctx.config.QUEUE_PREFIX}:hub:artifact-link-secret`;
  await ctx.redis.set(key, randomBytes(32).toString('base64url'), 'NX');
  return (await ctx.redis.get(key))!;
}

function signature(secret: string, taskId: string, name: string, exp: number): string {
  return createHmac('sha256', secret).update(`${taskId}\n${name}\n${exp}`).digest('base64url');
}

/** A link to a task file valid for ARTIFACT_LINK_TTL_HOURS; undefined when PUBLIC_URL is not set. */
export async function artifactLink(ctx: HubContext, taskId: string, name: string): Promise<string | undefined> {
  const base = ctx.config.PUBLIC_URL?.replace(/\/+$/, '');
  if (!base) return undefined;
  const exp = Math.floor(Date.now() / 1000) + ctx.config.ARTIFACT_LINK_TTL_HOURS * 3600;
  const sig = signature(await linkSecret(ctx), taskId, name, exp);
  return `${base}/files/${taskId}/${encodeURIComponent(name)}?exp=${exp}&sig=${sig}`;
}

/** Whether a link's signature is valid and unexpired. */
export async function verifyArtifactLink(
  ctx: HubContext,
  taskId: string,
  name: string,
  exp: number,
  sig: string,
): Promise<boolean> {
  if (!Number.isFinite(exp) || exp * 1000 < Date.now()) return false;
  const want = Buffer.from(signature(await linkSecret(ctx), taskId, name, exp));
  const got = Buffer.from(sig);
  return want.length === got.length && timingSafeEqual(want, got);
}
