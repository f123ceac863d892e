// Scenario 2: submit latency at a steady (open-loop) 100 tasks/s, over the HTTP API (requests from a separate
// process, as a real client's would be) and the in-process path chat frontends use (`hub.tasks.submit`).
import type { BenchHub } from '../lib/bench-hub.ts';
import { benchOrigin } from '../lib/bench-frontend.ts';
import { API_TOKENS, type BenchEnv } from '../lib/env.ts';
import { onEnqueue, onFrontendSend, type TimingPlanner } from '../lib/instrument.ts';
import { nowMs, openLoop, sleep, summarize, waitUntil, type LatencySummary } from '../lib/stats.ts';
import type { HttpLoadCommand, HttpLoadReply } from '../http-load.ts';

/** Latency from the request's intended start to each stage. */
export interface SubmitStages {
  planned: LatencySummary;
  /** Transaction committed (the enqueue of the first ready subtask begins). */
  persisted: LatencySummary;
  /** First subtask on its queue. */
  enqueued: LatencySummary;
  /** HTTP 202 received by the client / `submit()` returned. */
  returned: LatencySummary;
  /** The acknowledgement handed to the origin frontend's `send`. */
  ack: LatencySummary;
  errors: number;
  missingAcks: number;
}

/** Both paths at one rate. */
export interface SubmitLatencyResult {
  ratePerSec: number;
  seconds: number;
  http: SubmitStages;
  inProcess: SubmitStages;
}

interface Marks {
  start: number;
  text: string;
  persisted?: number;
  enqueued?: number;
  returned?: number;
  ack?: number;
}

/** Measures both paths one after the other on a running hub (whose planner is `planner`). All times are nowMs(). */
export async function runSubmitLatency(
  env: BenchEnv,
  h: BenchHub,
  planner: TimingPlanner,
  opts: { quick: boolean },
): Promise<SubmitLatencyResult> {
  const rate = 100;
  const seconds = opts.quick ? 3 : 8;
  const warm = rate * 3; // three seconds of warm-up (JIT, scripts, pools), not recorded
  const n = rate * seconds;
  const byTask = new Map<string, Marks>();
  const early = new Map<string, Partial<Marks>>(); // stages seen before the caller learnt the task id
  let active = true;
  const stage = (taskId: string, k: 'persisted' | 'enqueued' | 'ack', at: number) => {
    if (!active) return;
    const m = byTask.get(taskId);
    if (m) {
      m[k] ??= at;
      return;
    }
    const p = early.get(taskId) ?? {};
    p[k] ??= at;
    early.set(taskId, p);
  };
  onEnqueue(h.hub, 'demo.echo', (ids, calledAt, resolvedAt) => {
    for (const id of ids) {
      stage(id, 'persisted', calledAt);
      stage(id, 'enqueued', resolvedAt);
    }
  });
  onFrontendSend(h.hub.web, (msg, at) => {
    if (msg.kind === 'ack') stage(msg.taskId, 'ack', at);
  });
  h.frontend.listen((d) => {
    if (d.message.kind === 'ack') stage(d.message.taskId, 'ack', d.at);
  });
  const known = (taskId: string, m: Marks) => {
    byTask.set(taskId, m);
    Object.assign(m, early.get(taskId));
    early.delete(taskId);
  };
  planner.tracking = true;

  const summarizeMarks = async (label: string, marks: Marks[], errors: number): Promise<SubmitStages> => {
    await waitUntil(() => marks.every((m) => m.ack !== undefined), `${label} acks`, 15_000).catch(() => {});
    const lat = (k: keyof Marks) =>
      marks.flatMap((m) => (typeof m[k] === 'number' ? [(m[k] as number) - m.start] : []));
    const planned = marks.flatMap((m) => {
      const p = planner.planned.get(m.text);
      return p === undefined ? [] : [p - m.start];
    });
    return {
      planned: summarize(planned),
      persisted: summarize(lat('persisted')),
      enqueued: summarize(lat('enqueued')),
      returned: summarize(lat('returned')),
      ack: summarize(lat('ack')),
      errors,
      missingAcks: marks.filter((m) => m.ack === undefined).length,
    };
  };

  // HTTP: a separate client process, 100 users' tokens in turn.
  // The client's own collections would count as the hub's latency: it gets a young generation the run never fills,
  // on its own thread, and a full collection before it starts (see http-load.ts).
  const child = env.forkScript('http-load.ts', {}, [
    '--expose-gc',
    '--min-semi-space-size=64',
    '--max-semi-space-size=64',
    '--single-threaded-gc',
  ]);
  const reply = await new Promise<HttpLoadReply>((resolve, reject) => {
    child.once('message', (m: HttpLoadReply) => resolve(m));
    child.once('exit', (code) => reject(new Error(`HTTP load process exited with ${code}`)));
    child.send({
      url: h.hub.web.url(),
      tokens: API_TOKENS,
      ratePerSec: rate,
      count: warm + n,
      label: 'http',
    } satisfies HttpLoadCommand);
  });
  await env.stopChild(child, 2000);
  const httpMarks: Marks[] = [];
  let httpErrors = 0;
  for (const r of reply.results) {
    if (!r.taskId) {
      if (httpErrors++ === 0) process.stderr.write(`bench: HTTP submit failed: ${r.error}\n`);
      continue;
    }
    const m: Marks = { start: r.start, text: `bench submit http #${r.i}`, returned: r.end };
    known(r.taskId, m);
    if (r.i >= warm) httpMarks.push(m);
  }
  const http = await summarizeMarks('http', httpMarks, httpErrors);
  await sleep(500);

  // In-process: what a chat frontend does with an inbound message.
  const chatMarks: Marks[] = [];
  let chatErrors = 0;
  await openLoop(warm + n, rate, async (k, intendedAt) => {
    const m: Marks = { start: intendedAt, text: `bench submit chat #${k}` };
    try {
      const id = (await h.hub.tasks.submit({ origin: benchOrigin(`chat${k}`, k), text: m.text })).task.id;
      m.returned = nowMs();
      known(id, m);
      if (k >= warm) chatMarks.push(m);
    } catch (err) {
      if (chatErrors++ === 0) process.stderr.write(`bench: submit failed: ${String(err)}\n`);
    }
  });
  const inProcess = await summarizeMarks('chat', chatMarks, chatErrors);
  planner.tracking = false;
  active = false;
  planner.planned.clear();
  return { ratePerSec: rate, seconds, http, inProcess };
}
