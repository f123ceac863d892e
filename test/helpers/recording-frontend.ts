// An IFrontend that records every send/edit and lets a test await them; failures can be scripted.
import { randomBytes } from 'node:crypto';
import type { FrontendLimits, IFrontend, OutboundMessage } from '../../src/frontends/frontend.ts';
import type { ConversationRef, MessageRef } from '../../src/core/types.ts';

/** One recorded delivery. */
export interface Delivery {
  op: 'send' | 'edit';
  conversationId: string;
  messageId: string;
  message: OutboundMessage;
  at: number;
}

/** Records deliveries; `failNext` makes the next calls throw the given error. */
export class RecordingFrontend implements IFrontend {
  readonly deliveries: Delivery[] = [];
  /** Every call that failed on purpose (see failNext), with when it happened. */
  readonly failedCalls: Array<{ op: 'send' | 'edit'; taskId: string; error: Error; at: number }> = [];
  readonly limits: FrontendLimits;
  private readonly waiters: Array<{ check: () => boolean; resolve: () => void }> = [];
  private failures: Error[] = [];
  private holds: { which: (m: OutboundMessage) => boolean; until: Promise<void> }[] = [];

  constructor(
    readonly name = 'test',
    limits: Partial<FrontendLimits> = {},
  ) {
    this.limits = { maxLength: 4000, canEdit: true, threads: true, markup: 'none', ...limits };
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  /** Makes the next `errors.length` calls fail with these errors, in order. */
  failNext(...errors: Error[]): void {
    this.failures.push(...errors);
  }

  /** Makes the next call whose message matches `which` wait until the returned function is called (a slow platform). */
  holdNext(which: (m: OutboundMessage) => boolean): () => void {
    let release!: () => void;
    this.holds.push({ which, until: new Promise<void>((r) => (release = r)) });
    return release;
  }

  /** Waits while a hold matches the message (the hold is used up). */
  private async held(message: OutboundMessage): Promise<void> {
    const i = this.holds.findIndex((h) => h.which(message));
    if (i < 0) return;
    const [hold] = this.holds.splice(i, 1);
    await hold!.until;
  }

  async send(ref: ConversationRef, message: OutboundMessage): Promise<MessageRef> {
    await this.held(message);
    const failure = this.failures.shift();
    if (failure) {
      this.failedCalls.push({ op: 'send', taskId: message.taskId, error: failure, at: Date.now() });
      throw failure;
    }
    const messageId = randomBytes(4).toString('hex');
    this.record({ op: 'send', conversationId: ref.conversationId, messageId, message, at: Date.now() });
    return { platform: this.name, conversationId: ref.conversationId, messageId };
  }

  async edit(ref: MessageRef, message: OutboundMessage): Promise<void> {
    await this.held(message);
    const failure = this.failures.shift();
    if (failure) {
      this.failedCalls.push({ op: 'edit', taskId: message.taskId, error: failure, at: Date.now() });
      throw failure;
    }
    this.record({ op: 'edit', conversationId: ref.conversationId, messageId: ref.messageId, message, at: Date.now() });
  }

  /** Deliveries of one task. */
  forTask(taskId: string): Delivery[] {
    return this.deliveries.filter((d) => d.message.taskId === taskId);
  }

  /** Resolves once a delivery matching `pred` has been recorded (checks past ones first). */
  waitFor(pred: (d: Delivery) => boolean, timeoutMs = 20_000): Promise<Delivery> {
    return new Promise((resolve, reject) => {
      const found = () => this.deliveries.find(pred);
      const hit = found();
      if (hit) {
        resolve(hit);
        return;
      }
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no matching delivery within ${timeoutMs} ms; got: ${JSON.stringify(this.deliveries.map((d) => [d.op, d.message.kind, d.message.text.slice(0, 60)]))}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        check: () => Boolean(found()),
        resolve: () => {
          clearTimeout(timer);
          resolve(found()!);
        },
      });
    });
  }

  private record(d: Delivery): void {
    this.deliveries.push(d);
    for (const w of [...this.waiters]) {
      if (w.check()) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }
}
