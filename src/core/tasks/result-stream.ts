// Worker results over one Redis stream: a worker appends its result (one XADD, no queue job), the hubs read the
// stream as one consumer group (each entry goes to one hub), apply what they read in the conductor's batches and
// acknowledge (and delete) each entry once its batch committed. An entry a hub read and never acknowledged (it died,
// or applying failed) is claimed by a hub after CLAIM_IDLE_MS and applied again (the conductor's guards make a
// repeat a no-op); one that failed MAX_DELIVERIES times is dropped with an error log (the reconciler still finds
// its finished job). Results also arrive on the BullMQ results queue from workers of older versions.
import { context, propagation, ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { errorText } from '../errors.ts';
import type { HubContext } from '../hub-context.ts';
import { outageLogFor } from '../outage-log.ts';
import { duplicateRedis } from '../queues.ts';
import type { JobResult } from '../types.ts';

/** The consumer group of the hubs on the results stream. */
const GROUP = 'conductor';
/** The entry field holding the result (JSON), and the one holding its trace context (JSON, optional). */
const RESULT_FIELD = 'r';
const TRACE_FIELD = 't';
/** Entries read at once. */
const READ_COUNT = 256;
/** Entries read and not yet acknowledged, at most (reading pauses above it). */
const MAX_IN_FLIGHT = 1024;
/** A consumer (a hub) with nothing pending and idle this long is gone: removed from the group at a hub's start. */
const CONSUMER_GONE_MS = 10 * 60_000;
/** Entries kept at most (roughly) while no hub reads them: beyond, the oldest go and the reconciler steps in. */
const MAX_LEN = 100_000;

/** Appends a worker's result (and the trace context it was produced in) to the results stream. */
export async function appendResult(redis: Redis, key: string, result: JobResult): Promise<void> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const fields = [RESULT_FIELD, JSON.stringify(result)];
  if (Object.keys(carrier).length) fields.push(TRACE_FIELD, JSON.stringify(carrier));
  await redis.xadd(key, 'MAXLEN', '~', MAX_LEN, '*', ...fields);
}

export interface ResultStreamOptions {
  /** How long an entry stays with a hub that read it before another may claim it. */
  claimIdleMs?: number;
  /** How often a hub looks for such entries. */
  claimEveryMs?: number;
  /** Reads of one entry after which it is dropped. */
  maxDeliveries?: number;
}

/** One hub's reader of the results stream: hands each entry to `apply`, acknowledges it when that resolved. */
export class ResultStream {
  private reader?: Redis;
  /** Acknowledges on a connection of its own: a MULTI on the shared one copies BullMQ's ~40 scripts (~14 KB) each time. */
  private acker?: Redis;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private loop?: Promise<void>;
  private readonly consumer = `hub-${randomUUID()}`;
  private readonly inFlight = new Set<Promise<void>>();
  private acks: string[] = [];
  private acking?: Promise<void>;
  /** Entries acknowledged so far (applied, or dropped), and who waits for a count. */
  acknowledged = 0;
  private readonly ackWaiters = new Set<{ count: number; resolve: () => void }>();
  private readonly opts: Required<ResultStreamOptions>;

  constructor(
    private readonly ctx: HubContext,
    private readonly apply: (result: JobResult) => Promise<unknown>,
    opts: ResultStreamOptions = {},
  ) {
    this.opts = { claimIdleMs: 8_000, claimEveryMs: 2_000, maxDeliveries: 10, ...opts };
  }

  async start(): Promise<void> {
    this.stopped = false;
    const outage = outageLogFor(this.ctx.redis, this.ctx.log);
    // Its own connection: a blocking read holds it.
    this.reader = duplicateRedis(this.ctx.redis, (err) => outage.report(err, 'results stream reader error'));
    this.acker = duplicateRedis(this.ctx.redis, (err) => outage.report(err, 'results stream acknowledger error'));
    await this.createGroup();
    await this.forgetGoneConsumers().catch((err) =>
      this.ctx.log.warn({ err: errorText(err) }, 'consumer cleanup failed'),
    );
    this.loop = this.readLoop();
    this.timer = setInterval(
      () => void this.claim().catch((err) => outage.report(err, 'claiming results failed')),
      this.opts.claimEveryMs,
    );
    this.timer.unref();
  }

  /** Stops reading; what was read finishes and is acknowledged (the rest is claimed by another hub). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.reader?.disconnect();
    await this.loop?.catch(() => {});
    await Promise.allSettled([...this.inFlight]);
    await this.acking;
    this.acker?.disconnect();
    this.acker = undefined;
  }

  private get key(): string {
    return this.ctx.keys.results;
  }

  /** Creates the group (and the stream) unless it exists; it reads from the stream's start (after a flush too). */
  private async createGroup(): Promise<void> {
    try {
      await this.ctx.redis.xgroup('CREATE', this.key, GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test(errorText(err))) throw err;
    }
  }

  /** Removes the group's consumers of hubs long gone (nothing pending, idle for CONSUMER_GONE_MS): one per hub start. */
  private async forgetGoneConsumers(): Promise<void> {
    const consumers = (await this.ctx.redis.xinfo('CONSUMERS', this.key, GROUP)) as unknown[][];
    for (const c of consumers) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < c.length; i += 2) info.set(String(c[i]), c[i + 1]);
      if (Number(info.get('pending')) === 0 && Number(info.get('idle')) > CONSUMER_GONE_MS)
        await this.ctx.redis.xgroup('DELCONSUMER', this.key, GROUP, String(info.get('name')));
    }
  }

  private async readLoop(): Promise<void> {
    const outage = outageLogFor(this.ctx.redis, this.ctx.log);
    while (!this.stopped) {
      try {
        if (this.inFlight.size >= MAX_IN_FLIGHT) {
          await Promise.race(this.inFlight);
          continue;
        }
        const read = (await this.reader!.xreadgroup(
          'GROUP',
          GROUP,
          this.consumer,
          'COUNT',
          READ_COUNT,
          'BLOCK',
          2_000,
          'STREAMS',
          this.key,
          '>',
        )) as [string, [string, string[]][]][] | null;
        for (const [, entries] of read ?? []) this.take(entries);
      } catch (err) {
        if (this.stopped) return;
        // Redis lost the group (a flush): make it again; any other error is an outage, retried after a pause.
        if (/NOGROUP/.test(errorText(err))) await this.createGroup().catch(() => {});
        else {
          outage.report(err, 'reading results failed');
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    }
  }

  /** Applies entries; each is acknowledged once applied, or left for a claim when applying failed. */
  private take(entries: [string, string[]][]): void {
    for (const [id, fields] of entries) {
      const entry = parseEntry(fields);
      if (!entry) {
        this.ctx.log.error({ entryId: id }, 'unreadable entry on the results stream; dropped');
        this.ack(id);
        continue;
      }
      const tracer = trace.getTracer('switchboard');
      const run = context.with(entry.trace, () =>
        tracer.startActiveSpan('apply result', async (span) => {
          try {
            await this.apply(entry.result);
          } finally {
            span.end();
          }
        }),
      );
      const tracked = run.then(
        () => this.ack(id),
        (err) =>
          this.ctx.log.error(
            { err: errorText(err), taskId: entry.result.taskId, subtaskId: entry.result.subtaskId },
            'applying a result failed; it is tried again',
          ),
      );
      this.inFlight.add(tracked);
      void tracked.finally(() => this.inFlight.delete(tracked));
    }
  }

  /** Acknowledges and deletes entries, those of one turn of the event loop together. */
  private ack(id: string): void {
    this.acks.push(id);
    this.acking ??= new Promise<void>((r) => setImmediate(r)).then(async () => {
      const ids = this.acks;
      this.acks = [];
      this.acking = undefined;
      await (this.acker ?? this.ctx.redis)
        .multi()
        .xack(this.key, GROUP, ...ids)
        .xdel(this.key, ...ids)
        .exec()
        .catch((err) => this.ctx.log.warn({ err: errorText(err) }, 'results not acknowledged; they are applied again'));
      this.acknowledged += ids.length;
      for (const w of this.ackWaiters)
        if (this.acknowledged >= w.count) {
          this.ackWaiters.delete(w);
          w.resolve();
        }
    });
  }

  /** Resolves once `count` entries have been acknowledged by this reader since it was made. */
  whenAcknowledged(count: number): Promise<void> {
    if (this.acknowledged >= count) return Promise.resolve();
    return new Promise((resolve) => this.ackWaiters.add({ count, resolve }));
  }

  /** Takes over entries another hub (or this one) read and did not acknowledge in time; drops hopeless ones. */
  async claim(): Promise<number> {
    if (this.stopped || this.ctx.redis.status !== 'ready') return 0;
    const { claimIdleMs, maxDeliveries } = this.opts;
    const pending = (await this.ctx.redis
      .xpending(this.key, GROUP, 'IDLE', claimIdleMs, '-', '+', READ_COUNT)
      // The group is gone (Redis flushed): the reader makes it again; nothing is pending.
      .catch((err) => (/NOGROUP/.test(errorText(err)) ? [] : Promise.reject(err)))) as [
      string,
      string,
      number,
      number,
    ][];
    const hopeless = pending.filter(([, , , deliveries]) => deliveries >= maxDeliveries).map(([id]) => id);
    for (const id of hopeless) {
      this.ctx.log.error({ entryId: id, deliveries: maxDeliveries }, 'a result kept failing; dropped');
      this.ack(id);
    }
    if (pending.length === hopeless.length) return 0;
    const [, claimed] = (await this.ctx.redis.xautoclaim(
      this.key,
      GROUP,
      this.consumer,
      claimIdleMs,
      '0-0',
      'COUNT',
      READ_COUNT,
    )) as [string, [string, string[] | null][]];
    const live = claimed.filter((e): e is [string, string[]] => e[1] !== null && !hopeless.includes(e[0]));
    this.take(live);
    return live.length;
  }
}

/** An entry's result and trace context, or null when it is not one. */
function parseEntry(fields: string[]): { result: JobResult; trace: Context } | null {
  const get = (name: string) => {
    const i = fields.indexOf(name);
    return i >= 0 && i % 2 === 0 ? fields[i + 1] : undefined;
  };
  try {
    const result = JSON.parse(get(RESULT_FIELD) ?? 'null') as JobResult | null;
    if (!result || typeof result.taskId !== 'string' || typeof result.subtaskId !== 'string') return null;
    const carrier = JSON.parse(get(TRACE_FIELD) ?? '{}') as Record<string, string>;
    return { result, trace: propagation.extract(ROOT_CONTEXT, carrier) };
  } catch {
    return null;
  }
}
