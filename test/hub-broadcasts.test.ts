// What the hub broadcasts on Redis and who hears it: a submission's events go out before its job is queued, ended
// tasks reach the workers in gathered notices (also when the hub stops), and the hub's own SSE and WebSocket
// subscribers listen only while a stream or socket is open.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { parseControl } from '../src/core/control-messages.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';
import { redisUrl } from './helpers/test-env.ts';

const ALICE = 'alice-token-1';

let h: Harness;
const opened: Redis[] = [];

function connection(): Redis {
  const r = new Redis(redisUrl());
  opened.push(r);
  return r;
}

/** Subscribers of the hub's events channel (its own SSE and WebSocket fan-outs are the only ones here). */
async function eventListeners(): Promise<number> {
  const [, n] = (await connection().pubsub('NUMSUB', h.hub.ctx.keys.events)) as [string, number];
  return n;
}

/** The task ids of each tasks-ended notice heard on a hub's control channel from now on. */
async function endedNotices(channel: string): Promise<string[][]> {
  const sub = connection();
  const notices: string[][] = [];
  sub.on('message', (_channel: string, raw: string) => {
    const msg = parseControl(raw);
    if (msg?.t === 'tasks-ended') notices.push(msg.taskIds);
  });
  await sub.subscribe(channel);
  return notices;
}

beforeAll(async () => {
  h = await createHarness({ workers: false });
});

afterAll(async () => {
  await h?.close();
  for (const r of opened) r.disconnect();
});

describe('hub broadcasts', () => {
  it("publishes a submission's events before its first job is queued, on the connection that queues it", async () => {
    const monitor = connection();
    const lines: string[] = [];
    const watching = await monitor.monitor();
    watching.on('monitor', (_time: string, args: string[]) => lines.push(args.join(' ')));
    const task = await h.submit('use demo.echo: ordered');
    // The job's data in the queue (the add script's arguments, or its HMSET) is the submission's last write.
    const isJob = (l: string) => !/^publish /i.test(l) && l.includes(`"taskId":"${task.id}"`);
    await vi.waitFor(() => expect(lines.some(isJob)).toBe(true));
    watching.disconnect();
    const published = lines.findIndex((l) => /^publish /i.test(l) && l.includes(':events') && l.includes(task.id));
    const queued = lines.findIndex(isJob);
    expect(published).toBeGreaterThanOrEqual(0);
    expect(published).toBeLessThan(queued);
  });

  it('tells workers about ended tasks in one gathered notice', async () => {
    const notices = await endedNotices(h.hub.ctx.keys.control);
    h.hub.ctx.announceEnded(['t-1']);
    h.hub.ctx.announceEnded(['t-2', 't-3']);
    await vi.waitFor(() => expect(notices).toHaveLength(1));
    expect(notices[0]).toEqual(['t-1', 't-2', 't-3']);
  });

  it('sends a gathered notice that is still pending when the hub stops', async () => {
    const other = await createHarness({ workers: false });
    const notices = await endedNotices(other.hub.ctx.keys.control);
    other.hub.ctx.announceEnded(['t-last']);
    await other.close();
    await vi.waitFor(() => expect(notices).toEqual([['t-last']]));
  });

  it('subscribes to the events channel only while an SSE stream or a WebSocket is open', async () => {
    expect(await eventListeners()).toBe(0);
    const task = await h.submit('use demo.echo: watched');

    const stream = new AbortController();
    const res = await fetch(`${h.hub.web.url()}/api/tasks/${task.id}/stream`, {
      headers: { authorization: `Bearer ${ALICE}` },
      signal: stream.signal,
    });
    // The stream answers once the subscription is in place (its replay is read after it).
    expect(res.status).toBe(404); // not Alice's task: refused before anything is subscribed
    expect(await eventListeners()).toBe(0);

    const own = (
      (await (
        await fetch(`${h.hub.web.url()}/api/tasks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' },
          body: JSON.stringify({ text: 'use demo.echo: mine' }),
        })
      ).json()) as { task: { id: string } }
    ).task.id;
    const open = await fetch(`${h.hub.web.url()}/api/tasks/${own}/stream`, {
      headers: { authorization: `Bearer ${ALICE}` },
      signal: stream.signal,
    });
    expect(open.status).toBe(200);
    expect(await eventListeners()).toBe(1);
    stream.abort();
    await vi.waitFor(async () => expect(await eventListeners()).toBe(0));

    const ws = new WebSocket(`${h.hub.web.url().replace('http', 'ws')}/ws`, {
      headers: { authorization: `Bearer ${ALICE}` },
    });
    const ready = new Promise<void>((resolve) =>
      ws.on('message', (data) => {
        if ((JSON.parse(String(data)) as { type: string }).type === 'ready') resolve();
      }),
    );
    await ready;
    expect(await eventListeners()).toBe(1);
    ws.close();
    await vi.waitFor(async () => expect(await eventListeners()).toBe(0));
  });
});
