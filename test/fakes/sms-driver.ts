// The SMS ContractDriver: a conversation is a phone number texting the hub's Twilio webhook through the local fake.
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { createRedis } from '../../src/core/queues.ts';
import { createSmsFrontend } from '../../src/frontends/sms/index.ts';
import { SMS_WEBHOOK_PATH } from '../../src/frontends/sms/webhook.ts';
import type { FakeMessage, PlatformDriver } from '../frontends/contract.ts';
import { redisUrl } from '../helpers/test-env.ts';
import { TwilioFake } from './twilio-fake.ts';

/** Contract driver: a conversation is a phone number; the TwiML answer is the first message, Messages.json posts the later ones. */
export class SmsDriver implements PlatformDriver {
  fake!: TwilioFake;
  private redis!: Redis;
  private http: FastifyInstance | undefined;
  private hubUrl: string | undefined;
  private readonly numbers = new Map<string, string>([['conv-basic', '+15550001111']]);

  async start() {
    this.fake = await TwilioFake.start();
    this.redis = createRedis(redisUrl());
    return {
      factory: (deps: Parameters<typeof createSmsFrontend>[0]) => {
        this.http = deps.http;
        return createSmsFrontend(deps, { redis: this.redis });
      },
      env: this.fake.env(),
    };
  }

  attachHub(hubUrl: string): void {
    this.hubUrl = hubUrl;
  }

  number(conversation: string): string {
    let n = this.numbers.get(conversation);
    if (!n) {
      n = `+1555000${2000 + this.numbers.size}`;
      this.numbers.set(conversation, n);
    }
    return n;
  }

  private conversationOf(number: string | undefined): string | undefined {
    return [...this.numbers].find(([, n]) => n === number)?.[0];
  }

  async say(conversation: string, text: string, opts: { thread?: string; user?: string } = {}): Promise<void> {
    if (opts.user || opts.thread) throw new Error('SMS has no threads, and the sender is the conversation');
    const url = this.hubUrl === undefined ? webhookUrl(this.http) : `${this.hubUrl}${SMS_WEBHOOK_PATH}`;
    const res = await this.fake.text(url, this.number(conversation), text);
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${res.body}`);
  }

  messages(conversation: string): FakeMessage[] {
    return this.fake.messagesTo(this.number(conversation)).map((m) => ({ id: m.id, conversation, versions: [m.body] }));
  }

  allMessages(): FakeMessage[] {
    return this.fake.sent.map((m) => ({
      id: m.id,
      conversation: this.conversationOf(m.to) ?? m.to,
      versions: [m.body],
    }));
  }

  async waitFor(
    conversation: string,
    pred: (all: FakeMessage[]) => boolean,
    timeoutMs = 20_000,
  ): Promise<FakeMessage[]> {
    await this.fake.waitFor(this.number(conversation), () => pred(this.messages(conversation)), timeoutMs);
    return this.messages(conversation);
  }

  failNextOutbound(status: number, retryAfterS?: number): void {
    this.fake.failNext({ status, retryAfterS });
  }

  outboundCalls() {
    return this.fake.calls.map((c) => ({ at: c.at, status: c.status, conversation: this.conversationOf(c.to) }));
  }

  async stop(): Promise<void> {
    await this.fake?.stop();
    this.redis?.disconnect();
  }
}

function webhookUrl(http: FastifyInstance | undefined): string {
  const addr = http?.server.address() as AddressInfo | null | undefined;
  if (!addr) throw new Error('the hub is not listening yet');
  return `http://127.0.0.1:${addr.port}${SMS_WEBHOOK_PATH}`;
}
