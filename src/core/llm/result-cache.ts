// Result cache: an identical call (model, messages, params) within a TTL is answered from Redis.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** What is cached of a successful call. */
export interface CachedResult {
  text: string;
  parsed?: unknown;
  model: string;
  finishReason: string;
}

/** Cached answers by request hash under a Redis prefix. */
export class ResultCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Stable key of a request body (everything that changes the answer). */
  keyOf(body: unknown): string {
    return `${this.prefix}:llm:cache:${createHash('sha256').update(JSON.stringify(body)).digest('hex')}`;
  }

  /** The cached result, if any. */
  async get(key: string): Promise<CachedResult | undefined> {
    const raw = await this.redis.get(key);
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as CachedResult;
    } catch {
      return undefined;
    }
  }

  /** Stores a result for `ttlMs`. */
  async set(key: string, value: CachedResult, ttlMs: number): Promise<void> {
    await this.redis.set(key, JSON.stringify(value), 'PX', ttlMs);
  }
}
