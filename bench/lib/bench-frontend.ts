// A recording IFrontend for the benchmark: timestamps every send/edit and hands it to listeners; keeps no history.
import type { FrontendLimits, IFrontend, OutboundMessage } from '../../src/frontends/frontend.ts';
import type { ConversationRef, MessageRef } from '../../src/core/types.ts';
import { nowMs } from './stats.ts';

/** One delivery as the benchmark sees it. */
export interface BenchDelivery {
  op: 'send' | 'edit';
  message: OutboundMessage;
  /** nowMs() when the hub called send/edit. */
  at: number;
}

/** A frontend named `bench` (the platform of the benchmark's origins). */
export class BenchFrontend implements IFrontend {
  readonly limits: FrontendLimits = { maxLength: 4000, canEdit: true, threads: true, markup: 'none' };
  private readonly listeners = new Set<(d: BenchDelivery) => void>();
  private seq = 0;
  /** Deliveries by kind (ack, progress, result, failure, info) since construction. */
  readonly counts: Record<string, number> = {};

  constructor(readonly name = 'bench') {}

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  /** Calls `fn` on every delivery; returns the function that stops it. */
  listen(fn: (d: BenchDelivery) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async send(ref: ConversationRef, message: OutboundMessage): Promise<MessageRef> {
    this.emit({ op: 'send', message, at: nowMs() });
    return { platform: this.name, conversationId: ref.conversationId, messageId: String(++this.seq) };
  }

  async edit(_ref: MessageRef, message: OutboundMessage): Promise<void> {
    this.emit({ op: 'edit', message, at: nowMs() });
  }

  private emit(d: BenchDelivery): void {
    this.counts[d.message.kind] = (this.counts[d.message.kind] ?? 0) + 1;
    for (const l of this.listeners) l(d);
  }
}

/** Distinct users the benchmark submits as (per-user admission and rate limits apply per user, as in real use). */
export const BENCH_USERS = 100;

/** A conversation on the bench platform, of user `user % BENCH_USERS`. */
export function benchOrigin(conversation: string, user: number): ConversationRef {
  return { platform: 'bench', conversationId: `conv-${conversation}`, userId: `bench:u${user % BENCH_USERS}` };
}

/** Records when each task's final message (result or failure) was sent, and lets callers wait for sets of tasks. */
export function finalsTracker(frontend: BenchFrontend) {
  const finals = new Map<string, number>();
  const waiters = new Set<{ ids: Set<string>; remaining: number; resolve: () => void }>();
  frontend.listen((d) => {
    if (d.op !== 'send' || (d.message.kind !== 'result' && d.message.kind !== 'failure')) return;
    const id = d.message.taskId;
    if (finals.has(id)) return;
    finals.set(id, d.at);
    for (const w of waiters)
      if (w.ids.has(id) && --w.remaining === 0) {
        waiters.delete(w);
        w.resolve();
      }
  });
  return {
    finals,
    /** Waits until every id in `ids` has its final message; false if `timeoutMs` passes first. */
    waitFor(ids: Iterable<string>, timeoutMs: number): Promise<boolean> {
      const set = new Set(ids);
      const remaining = [...set].filter((id) => !finals.has(id)).length;
      if (remaining === 0) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const w = {
          ids: set,
          remaining,
          resolve: () => {
            clearTimeout(timer);
            resolve(true);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          resolve(false);
        }, timeoutMs);
        waiters.add(w);
      });
    },
  };
}
