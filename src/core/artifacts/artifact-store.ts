// Task files in Postgres: uploads, chat attachments and capability outputs, each capped at MAX_ARTIFACT_BYTES.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { Kysely, Transaction } from 'kysely';
import type { Config } from '../config.ts';
import { NotFoundError, TooLargeError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { ArtifactRow, Database } from '../store/schema.ts';

type Db = Kysely<Database> | Transaction<Database>;

/** A file to store for a task. */
export interface NewArtifact {
  name: string;
  mediaType: string;
  bytes: Uint8Array;
}

/** What lists and plans see of a file: everything but its bytes. */
export type ArtifactMeta = Omit<ArtifactRow, 'bytes'>;

const META = ['id', 'task_id', 'name', 'media_type', 'size', 'sha256', 'producer', 'created_at'] as const;

/** A safe file name: the last path segment, printable, at most 200 characters. */
export function cleanFileName(name: string | undefined): string {
  const base = basename(String(name ?? '').replace(/\\/g, '/'))
    .replace(/[\u0000-\u001f\u007f/]/g, '')
    .trim()
    .slice(-200);
  return base && base !== '.' && base !== '..' ? base : 'file';
}

/** Refuses (413) when a file is larger than MAX_ARTIFACT_BYTES; call before writing anything. */
export function assertArtifactSize(config: Config, name: string, size: number): void {
  if (size > config.MAX_ARTIFACT_BYTES)
    throw new TooLargeError(
      `The file "${name}" is ${formatBytes(size)}, over the ${formatBytes(config.MAX_ARTIFACT_BYTES)} limit per file (MAX_ARTIFACT_BYTES); nothing was stored.`,
    );
}

/** Bytes as people read them: 12.3 MB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * Stores files for a task in one statement (all or none); a name already used in the task gets a " (2)" suffix.
 * Sizes must have been checked with assertArtifactSize; checked again here so nothing oversized is ever written.
 */
export async function insertArtifacts(
  db: Db,
  config: Config,
  taskId: string,
  files: NewArtifact[],
  producer: string,
): Promise<ArtifactMeta[]> {
  if (files.length === 0) return [];
  for (const f of files) assertArtifactSize(config, f.name, f.bytes.byteLength);
  const taken = new Set(
    (await db.selectFrom('artifacts').select('name').where('task_id', '=', taskId).execute()).map((r) => r.name),
  );
  const rows = files.map((f) => {
    const name = uniqueName(cleanFileName(f.name), taken);
    taken.add(name);
    const bytes = Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
    return {
      id: newId(),
      task_id: taskId,
      name,
      media_type: f.mediaType || 'application/octet-stream',
      size: bytes.byteLength,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes,
      producer,
    };
  });
  const stored = await db
    .insertInto('artifacts')
    .values(rows)
    .returning([...META])
    .execute();
  const flag = producer === 'upload' ? 'has_uploads' : 'has_outputs';
  await db
    .updateTable('tasks')
    .set({ [flag]: true })
    .where('id', '=', taskId)
    .where(flag, '=', false)
    .execute();
  return stored;
}

function uniqueName(name: string, taken: Set<string>): string {
  if (!taken.has(name)) return name;
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let i = 2; ; i++) if (!taken.has(`${stem} (${i})${ext}`)) return `${stem} (${i})${ext}`;
}

/** A task's files (metadata only), oldest first. */
export async function listArtifacts(db: Db, taskId: string): Promise<ArtifactMeta[]> {
  return db
    .selectFrom('artifacts')
    .select([...META])
    .where('task_id', '=', taskId)
    .orderBy('created_at')
    .orderBy('name')
    .execute();
}

/** One file of a task with its bytes; NotFound when there is none by that name. */
export async function readArtifact(db: Db, taskId: string, name: string): Promise<ArtifactRow> {
  const row = await db
    .selectFrom('artifacts')
    .selectAll()
    .where('task_id', '=', taskId)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!row) throw new NotFoundError(`The task has no file named "${name}".`);
  return row;
}
