// Every Redis key and channel the hub and workers share, derived from one prefix.

/** Names of the hub's own Redis keys and pub/sub channels under a prefix. */
export function redisKeys(prefix: string) {
  const base = `${prefix}:hub`;
  return {
    /** Sorted set of worker ids scored by last heartbeat (ms). */
    workers: `${base}:workers`,
    /** JSON registration of one worker, expiring with its heartbeat TTL. */
    worker: (id: string) => `${base}:worker:${id}`,
    /** Set of every capability that has a queue; workers watch it to find new queues. */
    capabilities: `${base}:capabilities`,
    /** Channel: workers -> hub progress/started signals. */
    signals: `${base}:signals`,
    /** Stream: workers -> hubs results (read by the hubs' consumer group; see core/tasks/result-stream.ts). */
    results: `${base}:results`,
    /** Channel: hub -> workers control broadcasts (task ended, cancel). */
    control: `${base}:control`,
    /** Channel: hub -> hub task events (for SSE on any hub process). */
    events: `${base}:events`,
    /** Marker of an inbound platform event already handled (deduplication), with a TTL. */
    inbound: (platform: string, eventId: string) => `${base}:inbound:${platform}:${eventId}`,
    /** Sorted set of a user's recent submission times (rate limit). */
    rate: (userId: string) => `${base}:rate:${userId}`,
    /** Marker that a user who may not use the hub was told so recently (refusals are rate-limited). */
    accessRefused: (userId: string) => `${base}:access-refused:${userId}`,
    /** Marker that a hub delivers a message itself (not through the notify queue), so no sweep relays it meanwhile. */
    delivering: (jobId: string) => `${base}:delivering:${jobId}`,
    /** Channel: web frontend messages. */
    web: `${base}:web`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
