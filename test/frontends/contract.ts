// The contract every chat frontend passes, driven through its real SDK against a local fake platform.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FrontendFactory } from '../../src/frontends/frontend.ts';
import { createHarness, type Harness } from '../helpers/hub-harness.ts';

/** A message as the fake platform saw the bot post it (edits applied in order). */
export interface FakeMessage {
  id: string;
  conversation: string;
  thread?: string | undefined;
  /** Text after every edit, first the original. */
  versions: string[];
  /** Whether it was sent as a file/attachment rather than text. */
  attachment?: boolean;
}

/** What a platform's test provides to run the contract. */
export interface ContractDriver {
  /** Starts the fake platform; returns the frontend factory and the hub env that points the SDK at the fake. */
  start(): Promise<{ factory: FrontendFactory; env: Record<string, string> }>;
  /** A user says `text` in a conversation (optionally in a thread); resolves once the hub has received it. */
  say(conversation: string, text: string, opts?: { thread?: string; user?: string }): Promise<void>;
  /** Messages the bot has posted in a conversation, oldest first. */
  messages(conversation: string): FakeMessage[];
  /** Resolves once the bot has posted or edited something in the conversation that matches `pred`. */
  waitFor(conversation: string, pred: (all: FakeMessage[]) => boolean, timeoutMs?: number): Promise<FakeMessage[]>;
  /** Makes the next outbound API call that posts or edits a message fail with `status` (429: with Retry-After seconds). */
  failNextOutbound(status: number, retryAfterS?: number): void;
  /** Outbound post/edit calls received so far, failed ones included, with their time. */
  outboundCalls(): Array<{ at: number; status: number; conversation?: string | undefined }>;
  stop(): Promise<void>;
}

/** A ContractDriver that also serves a hub wired from env vars (the production wiring), where its factory is never called. */
export interface PlatformDriver extends ContractDriver {
  /** Tells the driver the hub's base URL, for platforms that deliver to the hub's webhooks. */
  attachHub(hubUrl: string): void;
  /** Every message the bot posted on the platform, in any conversation, oldest first. */
  allMessages(): FakeMessage[];
}

/** Platform differences the contract allows for. */
export interface ContractOptions {
  platform: string;
  canEdit: boolean;
  /** How long output arrives: split into several messages, attached as a file, or cut (SMS). */
  longOutput: 'split' | 'attach' | 'split-or-attach' | 'cut';
  /** The user id the driver's `say` uses by default, as `platform:id`. */
  userId: string;
  threads: boolean;
}

/** Registers the contract suite for one frontend. */
export function runFrontendContract(name: string, makeDriver: () => ContractDriver, o: ContractOptions): void {
  describe(`${name} frontend contract`, () => {
    let driver: ContractDriver;
    let h: Harness;
    beforeAll(async () => {
      driver = makeDriver();
      const { factory, env } = await driver.start();
      h = await createHarness({ env: { PROGRESS_INTERVAL_MS: '100', ...env }, frontendFactories: [factory] });
    }, 60_000);
    afterAll(async () => {
      await h?.close();
      await driver?.stop();
    });

    const finalIn = (all: FakeMessage[]) =>
      all.some((m) => /completed/i.test(m.versions.at(-1) ?? '') && !/^Got it/.test(m.versions[0] ?? ''));

    it('a request creates a task; the acknowledgement and the result arrive in the same conversation', async () => {
      await driver.say('conv-basic', 'task hello contract');
      const all = await driver.waitFor('conv-basic', (ms) =>
        ms.some((m) => m.versions.some((v) => v.includes('hello contract') && /completed/i.test(v))),
      );
      const task = await h.hub.ctx.db
        .selectFrom('tasks')
        .selectAll()
        .where('text', '=', 'hello contract')
        .executeTakeFirstOrThrow();
      expect(task.user_id).toBe(o.userId);
      expect((task.origin as { platform: string }).platform).toBe(o.platform);
      // One acknowledgement text on every platform (core's renderAck, sent by the notifier).
      expect(all[0]!.versions[0]).toMatch(/^Got it: task [0-9a-f]{8} queued \(1 step\) for demo\.echo\. I'll /);
      expect(all.every((m) => m.conversation === 'conv-basic')).toBe(true);
    });

    if (o.threads) {
      it('answers in the thread of the request', async () => {
        await driver.say('conv-thread', 'task hello thread', { thread: 'T-100' });
        const all = await driver.waitFor('conv-thread', finalIn);
        expect(all.length).toBeGreaterThan(0);
        expect(all.every((m) => m.thread === 'T-100')).toBe(true);
      });
    }

    if (o.canEdit) {
      it('progress edits the one acknowledgement message in place', async () => {
        await driver.say('conv-progress', 'task long work sleep 1.5 seconds 300 items');
        const all = await driver.waitFor('conv-progress', finalIn, 30_000);
        const ack = all[0]!;
        expect(ack.versions.length).toBeGreaterThan(2);
        expect(ack.versions.slice(1).some((v) => /\d+%/.test(v))).toBe(true);
        expect(ack.versions.at(-1)).toMatch(/completed/i);
      });
    }

    it('long output is split, attached or cut, never refused', async () => {
      const body = `${'lorem ipsum dolor sit amet '.repeat(190)}THE-END`;
      await driver.say('conv-long', `task ${body}`);
      const all = await driver.waitFor(
        'conv-long',
        (ms) =>
          ms.some((m) => m.attachment) ||
          ms.some((m) => m.versions.some((v) => v.includes('THE-END'))) ||
          (o.longOutput === 'cut' && ms.length >= 2),
        30_000,
      );
      if (o.longOutput === 'cut') {
        expect(all.at(-1)!.versions[0]!.length).toBeLessThan(body.length);
      } else if (o.longOutput === 'attach') {
        expect(all.some((m) => m.attachment)).toBe(true);
      } else if (o.longOutput === 'split') {
        expect(all.filter((m) => !m.attachment).length).toBeGreaterThanOrEqual(3);
      }
    });

    it('a 429 with retry-after is honoured, and the message still arrives', async () => {
      driver.failNextOutbound(429, 1);
      const t0 = Date.now();
      await driver.say('conv-429', 'task hello rate limit');
      // Wait for the result: on some platforms the acknowledgement is the webhook's answer, not an API call.
      await driver.waitFor('conv-429', finalIn, 30_000);
      const calls = driver.outboundCalls().filter((c) => c.at >= t0);
      const limited = calls.find((c) => c.status === 429)!;
      expect(limited).toBeDefined();
      const next = calls.find((c) => c.at > limited.at && c.status < 300)!;
      expect(next.at - limited.at).toBeGreaterThanOrEqual(900);
    });

    it('a permanent 4xx is not retried forever, and later messages still go out', async () => {
      driver.failNextOutbound(403);
      const t0 = Date.now();
      await driver.say('conv-403', 'task hello forbidden');
      const task = await waitForTaskText(h, 'hello forbidden');
      await h.waitForTask(task, (t) => t.status === 'COMPLETED' && t.final_notified, 30_000);
      const failed = driver.outboundCalls().filter((c) => c.at >= t0 && c.status === 403);
      expect(failed).toHaveLength(1);
      await driver.say('conv-403', 'task hello after forbidden');
      await driver.waitFor('conv-403', (ms) =>
        ms.some((m) => m.versions.some((v) => v.includes('hello after forbidden') && /completed/i.test(v))),
      );
    });
  });
}

/** The id of the task created for a request text, once it exists. */
async function waitForTaskText(h: Harness, text: string): Promise<string> {
  return h.until(
    async () => (await h.hub.ctx.db.selectFrom('tasks').select('id').where('text', '=', text).executeTakeFirst())?.id,
    30_000,
    `a task "${text}"`,
  );
}
