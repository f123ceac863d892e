// How task files travel between the hub and stateless workers: through Redis only, bounded per job.
// The hub stages the bytes a step may read under one key per file (TTL'd; staged again on every enqueue, so a
// flushed Redis loses nothing) and the job carries references; output files come back base64 in the result.
import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { HubContext } from '../hub-context.ts';
import type { SubtaskRow, TaskRow } from '../store/schema.ts';
import type { ArtifactRef } from '../types.ts';
import type { NewArtifact } from './artifact-store.ts';

/** Redis hash of a task's staged files (field: SHA-256, value: bytes); deleted when the task ends. */
export function stagedFilesKey(prefix: string, taskId: string): string {
  return `${prefix}:hub:files:${taskId}`;
}

/** A safety net for hashes whose task end was never seen: staged files expire a week after their last staging. */
const STAGED_TTL_MS = 7 * 24 * 3_600_000;

/**
 * The files each subtask may read (the task's uploads and its dependencies' outputs), staged in Redis up to
 * MAX_JOB_ARTIFACT_BYTES per job; files past that cap are listed with `key: null`. No query for a task without
 * uploads whose steps' dependencies returned no files; else one (plus one per file Redis lacks).
 */
export async function stageJobArtifacts(
  ctx: HubContext,
  task: TaskRow,
  subtasks: SubtaskRow[],
  siblings: SubtaskRow[],
): Promise<Map<string, ArtifactRef[]>> {
  const out = new Map<string, ArtifactRef[]>();
  const outputsFiles = (key: string) => {
    const o = siblings.find((s) => s.key === key)?.output as { files?: unknown } | null | undefined;
    return Array.isArray(o?.files) && o.files.length > 0;
  };
  // Most tasks have no files: then dispatch costs no query at all.
  if (!task.has_uploads && !subtasks.some((s) => s.depends_on.some(outputsFiles))) return out;
  const metas = await ctx.db
    .selectFrom('artifacts')
    .select(['id', 'name', 'media_type', 'size', 'sha256', 'producer'])
    .where('task_id', '=', task.id)
    .orderBy('created_at')
    .orderBy('name')
    .execute();
  if (metas.length === 0) return out;
  const keyOf = new Map(siblings.map((s) => [s.id, s.key]));
  const hash = stagedFilesKey(ctx.config.QUEUE_PREFIX, task.id);
  const staged = new Set<string>();
  for (const sub of subtasks) {
    let budget = ctx.config.MAX_JOB_ARTIFACT_BYTES;
    const deps = new Set(sub.depends_on);
    const refs: ArtifactRef[] = [];
    for (const a of metas) {
      const producer = a.producer === 'upload' ? 'upload' : (keyOf.get(a.producer) ?? a.producer);
      if (producer !== 'upload' && !deps.has(producer)) continue;
      const fits = a.size <= budget;
      if (fits) budget -= a.size;
      const key = fits ? hash : null;
      if (key && !staged.has(a.sha256)) {
        staged.add(a.sha256);
        // Read the bytes from Postgres only when Redis lacks them (first staging, or after Redis lost its data).
        if (!(await ctx.redis.hexists(hash, a.sha256))) {
          const row = await ctx.db.selectFrom('artifacts').select('bytes').where('id', '=', a.id).executeTakeFirst();
          if (row) await ctx.redis.hset(hash, a.sha256, row.bytes);
        }
      }
      refs.push({ name: a.name, mediaType: a.media_type, size: a.size, sha256: a.sha256, producer, key });
    }
    if (refs.length) out.set(sub.id, refs);
  }
  if (staged.size) await ctx.redis.pexpire(hash, STAGED_TTL_MS);
  return out;
}

/** An event sink that frees a task's staged files once it ends (a retry stages them again). */
export function stagedFilesCleanup(ctx: HubContext) {
  const ends = new Set(['completed', 'failed', 'cancelled', 'rejected']);
  return async (events: Array<{ type: string }>, task: TaskRow): Promise<void> => {
    if (task.has_uploads && events.some((e) => ends.has(e.type)))
      await ctx.redis.del(stagedFilesKey(ctx.config.QUEUE_PREFIX, task.id));
  };
}

/** A handler's view of its job's files. */
export interface ArtifactReader {
  /** The files this step may read (metadata). */
  list(): ArtifactRef[];
  /** The bytes of a file by name; throws when there is none or it was too large to travel with the job. */
  read(name: string): Promise<Buffer>;
}

/** Reads staged files from Redis (workers use this; they never open the database). */
export function artifactReader(redis: Redis | null, refs: ArtifactRef[] | undefined): ArtifactReader {
  const all = refs ?? [];
  return {
    list: () => all.map((r) => ({ ...r })),
    async read(name) {
      const ref = all.find((r) => r.name === name);
      if (!ref) throw new ArtifactUnavailable(`No file named "${name}" is available to this step.`);
      if (!ref.key || !redis)
        throw new ArtifactUnavailable(
          `The file "${name}" (${ref.size} bytes) is over the per-job transport cap (MAX_JOB_ARTIFACT_BYTES).`,
        );
      const bytes = await redis.hgetBuffer(ref.key, ref.sha256);
      if (!bytes) throw new Error(`The file "${name}" is not staged in Redis (expired); retrying restages it.`);
      return bytes;
    },
  };
}

/** A file a step asked for does not exist or cannot travel: retrying cannot help. */
export class ArtifactUnavailable extends UnrecoverableError {
  override name = 'ArtifactUnavailable';
}

/** A file as a capability returns it in its output's `files` array. */
export interface OutputFile {
  name: string;
  mediaType?: string;
  base64: string;
}

/**
 * Takes `files: [{name, mediaType, base64}]` out of a capability's output: the files to store, and the output
 * with each file reduced to `{name, mediaType, size}` (so results and events stay small). A file over `maxBytes` is
 * not stored; its entry says so.
 */
export function splitOutputFiles(output: unknown, maxBytes: number): { output: unknown; files: NewArtifact[] } {
  if (!output || typeof output !== 'object' || !Array.isArray((output as { files?: unknown }).files))
    return { output, files: [] };
  const raw = (output as { files: unknown[] }).files;
  const files: NewArtifact[] = [];
  const listed: Array<{ name: string; mediaType: string; size: number; refused?: string }> = [];
  for (const f of raw) {
    if (!f || typeof f !== 'object' || typeof (f as OutputFile).base64 !== 'string') continue;
    const o = f as OutputFile;
    const bytes = Buffer.from(o.base64, 'base64');
    const mediaType = typeof o.mediaType === 'string' && o.mediaType ? o.mediaType : 'application/octet-stream';
    const name = String(o.name ?? 'file');
    if (bytes.byteLength > maxBytes) {
      listed.push({ name, mediaType, size: bytes.byteLength, refused: 'over MAX_ARTIFACT_BYTES, not stored' });
      continue;
    }
    files.push({ name, mediaType, bytes });
    listed.push({ name, mediaType, size: bytes.byteLength });
  }
  if (listed.length === 0) return { output, files };
  return { output: { ...(output as object), files: listed }, files };
}

/** Builds an output file entry from bytes (for capability handlers). */
export function outputFile(name: string, mediaType: string, bytes: Uint8Array | string): OutputFile {
  return { name, mediaType, base64: Buffer.from(bytes).toString('base64') };
}
