// A benchmark child process that POSTs tasks to the hub's HTTP API at a steady open-loop rate, so the client's
// own CPU is not spent on the hub's event loop. Reports, per request, the intended start, the 202 and the task id.
import http from 'node:http';
import { nowMs, sleep } from './lib/stats.ts';

/** Parent -> child. */
export interface HttpLoadCommand {
  url: string;
  tokens: string[];
  ratePerSec: number;
  count: number;
  label: string;
}
/** Child -> parent: one entry per request, in order. */
export interface HttpLoadReply {
  results: Array<{ i: number; start: number; end: number; taskId: string | null; error?: string }>;
}

process.once('message', (cmd: HttpLoadCommand) => {
  void run(cmd)
    .then(
      (results) => process.send?.({ results } satisfies HttpLoadReply),
      (err) => process.send?.({ results: [], error: String(err) }),
    )
    .finally(() => setTimeout(() => process.exit(0), 100));
});

async function run(cmd: HttpLoadCommand): Promise<HttpLoadReply['results']> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const target = new URL('/api/tasks', cmd.url);
  const post = (token: string, body: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        target,
        {
          method: 'POST',
          agent,
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          let text = '';
          res
            .setEncoding('utf8')
            .on('data', (c: string) => {
              text += c;
            })
            .on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const results: HttpLoadReply['results'] = [];
  const gap = 1000 / cmd.ratePerSec;
  // A full collection now (the parent passes --expose-gc), so none falls inside the timed requests.
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = nowMs() + 20;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < cmd.count; i++) {
    const start = t0 + i * gap;
    const wait = start - nowMs();
    if (wait > 0) await sleep(wait);
    inFlight.push(
      (async () => {
        try {
          const res = await post(
            cmd.tokens[i % cmd.tokens.length]!,
            JSON.stringify({ text: `bench submit ${cmd.label} #${i}` }),
          );
          const end = nowMs();
          if (res.status !== 202) throw new Error(`HTTP ${res.status}: ${res.text.slice(0, 200)}`);
          results[i] = { i, start, end, taskId: (JSON.parse(res.text) as { task: { id: string } }).task.id };
        } catch (err) {
          results[i] = { i, start, end: nowMs(), taskId: null, error: String(err) };
        }
      })(),
    );
  }
  await Promise.all(inFlight);
  agent.destroy();
  return results;
}
