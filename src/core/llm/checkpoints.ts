// Checkpoints of expensive intermediate results (context summaries), kept in Redis by task and content hash,
// so a retry or replay of a step on any worker does not pay for them again. Workers have no database.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** How long checkpoints are kept (a task's retries and replays happen well within it). */
export const CHECKPOINT_TTL_MS = 7 * 24 * 3600 * 1000;

/** Hash of the parts that determine a checkpoint's content. */
export function contentHash(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
}

/** Checkpoint storage under a Redis prefix. */
export class CheckpointStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs = CHECKPOINT_TTL_MS,
  ) {}

  private key(taskId: string, hash: string): string {
    return `${this.prefix}:llm:ckpt:${taskId}:${hash}`;
  }

  /** The stored value, if any. */
  async get(taskId: string, hash: string): Promise<string | undefined> {
    return (await this.redis.get(this.key(taskId, hash))) ?? undefined;
  }

  /** Stores a value. */
  async set(taskId: string, hash: string, value: string): Promise<void> {
    await this.redis.set(this.key(taskId, hash), value, 'PX', this.ttlMs);
  }
}
