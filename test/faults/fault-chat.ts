// The chat platform of the fault suite: the Telegram fake behind a TCP proxy (so the platform can be taken down), one
// private chat per task, and a tally of what each chat received (acknowledgements, final messages, when).
import { TcpProxy } from '../fakes/tcp-proxy.ts';
import { TelegramFake } from '../fakes/telegram-fake.ts';

const FINAL = /^Task \S+ (completed|failed|was cancelled|was rejected)\b/;
// Both acknowledgement texts of today (the frontend's reply and the notifier's); the outbox work makes them one.
const ACK = /^(Got it: task|Task) \S+ (accepted|queued)\b/;
const REFUSAL = /^Something went wrong|not reachable|try again/i;
const FIRST_CHAT = 3_000_000;

/** What one chat received: send times of acknowledgements and final messages, and whether a final said "completed". */
interface ChatLog {
  acks: number[];
  finals: number[];
  completed: boolean;
  /** Error replies ("Something went wrong ..."): the request was refused, and the user told. */
  refusals: number;
}

/** What the platform received for a set of tasks. */
export interface ChatTally {
  tasks: number;
  /** Chats without a final message. */
  undelivered: number;
  /** Chats whose final message is not "completed". */
  notCompleted: number;
  /** Extra final messages whose first copy was sent outside the in-flight window. */
  duplicateFinals: number;
  /** Extra final messages whose first copy was sent inside the in-flight window (a platform call in flight). */
  inFlightDuplicates: number;
  /** Extra acknowledgements, and acknowledgements sent after the chat's final message. */
  duplicateAcks: number;
  lateAcks: number;
}

/** The fake platform, its proxy, and the per-chat record. */
export class FaultChat {
  private readonly chats = new Map<number, ChatLog>();
  private seen = 0;
  private submitted = 0;

  private constructor(
    readonly fake: TelegramFake,
    readonly proxy: TcpProxy,
  ) {}

  /** Starts the fake on a free port with a proxy in front of it. */
  static async start(): Promise<FaultChat> {
    const fake = await TelegramFake.start();
    const proxy = await TcpProxy.start('127.0.0.1', Number(new URL(fake.url).port));
    return new FaultChat(fake, proxy);
  }

  /** The environment that points a hub at this platform (through the proxy). */
  get env(): Record<string, string> {
    return { TELEGRAM_BOT_TOKEN: this.fake.token, TELEGRAM_API_ROOT: `http://127.0.0.1:${this.proxy.port}` };
  }

  /** Sends `n` tasks, each from its own user in its own private chat; returns the chat ids. */
  submit(n: number, text: (i: number) => string): number[] {
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = FIRST_CHAT + this.submitted++;
      this.chats.set(id, { acks: [], finals: [], completed: false, refusals: 0 });
      this.fake.push(this.fake.textUpdate({ id, type: 'private' }, id, text(i)));
      ids.push(id);
    }
    return ids;
  }

  /** Folds the calls the fake received since the last look into the per-chat record. */
  private update(): void {
    const calls = this.fake.calls;
    for (; this.seen < calls.length; this.seen++) {
      const c = calls[this.seen]!;
      if (c.method !== 'sendMessage') continue;
      const log = this.chats.get(Number(c.payload.chat_id));
      const text = String(c.payload.text ?? '');
      if (!log) continue;
      if (ACK.test(text)) log.acks.push(c.at);
      if (REFUSAL.test(text)) log.refusals++;
      const final = FINAL.exec(text);
      if (final) {
        log.finals.push(c.at);
        log.completed ||= final[1] === 'completed';
      }
    }
  }

  /** How many of `chats` have a final message. */
  delivered(chats: number[]): number {
    this.update();
    return chats.filter((id) => this.chats.get(id)!.finals.length > 0).length;
  }

  /** How many of `chats` got a final message, and how many got only a refusal. */
  answered(chats: number[]): { final: number; refused: number } {
    this.update();
    const logs = chats.map((id) => this.chats.get(id)!);
    return {
      final: logs.filter((l) => l.finals.length > 0).length,
      refused: logs.filter((l) => l.finals.length === 0 && l.refusals > 0).length,
    };
  }

  /** Resolves once every chat has a final message (re-checked on every call the fake receives). */
  async untilDelivered(chats: number[], timeoutMs: number): Promise<void> {
    await this.fake.until(() => (this.delivered(chats) === chats.length ? true : undefined), timeoutMs, 'finals');
  }

  /** Resolves once `n` of the chats have had an acknowledgement. */
  async untilAcked(chats: number[], n: number, timeoutMs = 30_000): Promise<void> {
    await this.fake.until(
      () => {
        this.update();
        return chats.filter((id) => this.chats.get(id)!.acks.length > 0).length >= n ? true : undefined;
      },
      timeoutMs,
      `${n} acknowledgements`,
    );
  }

  /** Counts what the chats received; a duplicate whose first copy went out in `inFlight` [from, to] is a call in flight. */
  tally(chats: number[], inFlight?: { from: number; to: number }): ChatTally {
    this.update();
    const t: ChatTally = {
      tasks: chats.length,
      undelivered: 0,
      notCompleted: 0,
      duplicateFinals: 0,
      inFlightDuplicates: 0,
      duplicateAcks: 0,
      lateAcks: 0,
    };
    for (const id of chats) {
      const log = this.chats.get(id)!;
      if (log.finals.length === 0) t.undelivered++;
      else if (!log.completed) t.notCompleted++;
      const extra = Math.max(0, log.finals.length - 1);
      const first = log.finals[0] ?? 0;
      if (inFlight && first >= inFlight.from && first <= inFlight.to) t.inFlightDuplicates += extra;
      else t.duplicateFinals += extra;
      t.duplicateAcks += Math.max(0, log.acks.length - 1);
      t.lateAcks += log.acks.filter((at) => at > first && log.finals.length > 0).length;
    }
    return t;
  }

  async stop(): Promise<void> {
    await this.proxy.stop();
    await this.fake.stop();
  }
}
