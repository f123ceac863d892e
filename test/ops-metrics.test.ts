// /metrics after a known workload (exact counts), the metrics token, the queue board's access rules, the success
// rates behind `switchboard workers`, and a worker's --metrics-port, on real Redis and Postgres.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Plan, Planner } from '../src/core/planning/plan.ts';
import { startWorker } from '../src/main.ts';
import { createHarness, type Harness } from './helpers/hub-harness.ts';

const run = promisify(execFile);
const METRICS_TOKEN = 'metrics-token-0123456789';
const ADMIN = 'admin-token-333';
const BOB = 'bob-token-22';

/** One step on the capability named by the first word ("test.ok", "idle.work"). */
const planner: Planner = {
  async plan({ text }): Promise<Plan> {
    return { summary: text, steps: [{ key: 'a', capability: text.split(' ')[0]!, input: { text }, dependsOn: [] }] };
  },
};

/** The value of one sample, matched by name and a subset of its labels. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

let h: Harness;
let base: string;
const get = (path: string, token?: string, method = 'GET') =>
  fetch(`${base}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

beforeAll(async () => {
  h = await createHarness({
    env: {
      METRICS_TOKEN,
      DEFAULT_ATTEMPTS: '2',
      DEFAULT_BACKOFF_MS: '300',
      MAX_INFLIGHT_PER_USER: '3',
      MAX_TASKS_PER_HOUR: '6',
      DEFAULT_NOTIFY_POLICY: 'done_only',
    },
    planner,
    handlers: {
      'test.ok': async () => 'fine',
      'test.fail': async () => {
        throw new Error('always broken');
      },
    },
  });
  base = h.hub.web.url();
});

afterAll(async () => {
  await h?.close();
});

describe('GET /metrics', () => {
  let text: string;

  beforeAll(async () => {
    const done = [];
    for (let i = 0; i < 5; i++) done.push(await h.submit(`test.ok job ${i}`));
    done.push(await h.submit('test.fail job'));
    // The sixth task this hour: the next one is refused (MAX_TASKS_PER_HOUR=6).
    await expect(h.submit('test.ok one too many')).rejects.toThrow(/try again/i);
    for (const t of done) await h.waitForTask(t.id, (x) => ['COMPLETED', 'FAILED'].includes(x.status));
    // Three jobs wait on a queue no worker consumes; a fourth waits for carol's admission slot (3 in flight).
    for (let i = 0; i < 4; i++) await h.submit(`idle.work ${i}`, 'test:carol');
    // Every final message and "no worker" notice delivered (done_only: nothing else is sent).
    await h.chat.waitFor(() => h.chat.deliveries.length >= 10);
    // A delivery is counted when its job returns, just after the frontend recorded the message.
    await vi.waitFor(async () => {
      const res = await get('/metrics', METRICS_TOKEN);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/plain/);
      text = await res.text();
      expect(sample(text, 'switchboard_notifications_total', { platform: 'test', outcome: 'delivered' })).toBe(10);
    });
  });

  it('counts tasks by status, platform and planner', () => {
    expect(sample(text, 'switchboard_tasks_submitted_total', { platform: 'test', planner: 'custom' })).toBe(10);
    expect(sample(text, 'switchboard_tasks_finished_total', { status: 'COMPLETED', platform: 'test' })).toBe(5);
    expect(sample(text, 'switchboard_tasks_finished_total', { status: 'FAILED', platform: 'test' })).toBe(1);
    expect(sample(text, 'switchboard_task_duration_seconds_count', { status: 'COMPLETED', platform: 'test' })).toBe(5);
    expect(sample(text, 'switchboard_rate_limit_refusals_total', { platform: 'test' })).toBe(1);
  });

  it('counts attempts, retries and dead letters per capability, with durations', () => {
    expect(sample(text, 'switchboard_subtask_attempts_total', { capability: 'test.ok' })).toBe(5);
    expect(sample(text, 'switchboard_subtask_attempts_total', { capability: 'test.fail' })).toBe(2);
    expect(sample(text, 'switchboard_subtask_retries_total', { capability: 'test.fail' })).toBe(1);
    expect(sample(text, 'switchboard_dead_letters_total', { capability: 'test.fail' })).toBe(1);
    expect(sample(text, 'switchboard_dead_letters_total', { capability: 'test.ok' })).toBeUndefined();
    expect(
      sample(text, 'switchboard_subtask_duration_seconds_count', { capability: 'test.ok', outcome: 'succeeded' }),
    ).toBe(5);
  });

  it('reports the pending-aware queue depth, the oldest waiting age and admission waits', () => {
    // Every job has a priority, so BullMQ holds them in the prioritized set: a plain list length would read 0.
    expect(sample(text, 'switchboard_queue_depth', { capability: 'idle.work' })).toBe(3);
    expect(sample(text, 'switchboard_queue_active', { capability: 'idle.work' })).toBe(0);
    expect(sample(text, 'switchboard_queue_depth', { capability: 'test.ok' })).toBe(0);
    expect(sample(text, 'switchboard_admission_waiting', { capability: 'idle.work' })).toBe(1);
    expect(sample(text, 'switchboard_queue_oldest_waiting_seconds', { capability: 'idle.work' })).toBeGreaterThan(0);
  });

  it('reports workers by state and pattern, and success rates over the window', () => {
    const worker = h.hub.workers[0]!.id;
    const live = ['IDLE', 'WAITING', 'BUSY'].map(
      (state) => sample(text, 'switchboard_workers', { state, pattern: 'test.*' }) ?? 0,
    );
    expect(live.reduce((a, b) => a + b)).toBe(1);
    expect(sample(text, 'switchboard_capability_success_ratio', { capability: 'test.ok' })).toBe(1);
    expect(sample(text, 'switchboard_capability_success_ratio', { capability: 'test.fail' })).toBe(0);
    expect(sample(text, 'switchboard_worker_success_ratio', { worker })).toBeCloseTo(5 / 7, 5);
  });

  it('counts notifications per platform with their latency', () => {
    expect(sample(text, 'switchboard_notifications_total', { platform: 'test', outcome: 'delivered' })).toBe(10);
    expect(sample(text, 'switchboard_notification_latency_seconds_count', { platform: 'test' })).toBe(10);
  });

  it('has HTTP, process and BullMQ metrics', () => {
    expect(sample(text, 'switchboard_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'switchboard_nodejs_eventloop_lag_seconds')).toBeDefined();
    // Results come on the results stream (applied and deleted: no backlog); BullMQ exports the hub's own queues.
    expect(sample(text, 'switchboard_results_backlog')).toBe(0);
    expect(text.match(/^# TYPE bullmq_job_count gauge$/gm)).toHaveLength(1);
  });

  it('leaves tracing off without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
    expect(h.hub.ops.tracing).toBeUndefined();
  });

  it('enforces the metrics token', async () => {
    expect((await get('/metrics')).status).toBe(401);
    const wrong = await get('/metrics', ADMIN);
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('METRICS_TOKEN');
    const after = await (await get('/metrics', METRICS_TOKEN)).text();
    expect(sample(after, 'switchboard_http_requests_total', { method: 'GET', route: '/metrics', status: '401' })).toBe(
      2,
    );
  });
});

describe('admin views', () => {
  it('serves success rates to admins only (what `switchboard workers` shows)', async () => {
    expect((await get('/api/admin/success-rates', BOB)).status).toBe(403);
    const res = await get('/api/admin/success-rates', ADMIN);
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.capabilities['test.fail']).toMatchObject({ ok: 0, failed: 2, rate: 0 });
    expect(body.workers[h.hub.workers[0]!.id]).toMatchObject({ ok: 5, failed: 2 });
  });

  it("`switchboard workers` shows each worker's and capability's success rate", async () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
    const { stdout } = await run(process.execPath, [path.join(root, 'bin', 'switchboard.js'), 'workers'], {
      cwd: root,
      env: { ...process.env, SWITCHBOARD_URL: base, SWITCHBOARD_TOKEN: ADMIN, NO_COLOR: '1' },
    });
    expect(stdout).toMatch(/SUCCESS 15m/);
    expect(stdout).toContain(`${h.hub.workers[0]!.id}`);
    expect(stdout).toMatch(/71% of 7/);
    expect(stdout).toMatch(/^test\.fail\s+0%\s+0\s+2$/m);
  });

  it('the queue board refuses non-admins and is read-only for admins', async () => {
    expect((await get('/admin/queues')).status).toBe(401);
    expect((await get('/admin/queues', BOB)).status).toBe(403);
    const page = await get('/admin/queues', ADMIN);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const queues = (await (await get('/admin/queues/api/queues', ADMIN)).json()) as any;
    const idle = queues.queues.find((q: any) => q.name === 'cap-idle.work');
    expect(idle).toMatchObject({ readOnlyMode: true });
    expect((await get('/admin/queues/api/queues/cap-idle.work/pause', ADMIN, 'PUT')).status).toBe(405);
    expect((await get('/admin/queues/api/queues/cap-idle.work/pause', BOB, 'PUT')).status).toBe(403);
  });
});

describe('worker --metrics-port', () => {
  it('serves per-worker job metrics behind the same token', async () => {
    const worker = await startWorker({
      config: { ...h.hub.config, WORKER_CAPABILITIES: ['solo.*'] },
      handlers: { 'solo.job': async () => 'fine' },
      metricsPort: 0,
    });
    try {
      const t = await h.submit('solo.job only the standalone worker runs', 'test:erin');
      await h.waitForTask(t.id, (x) => x.status === 'COMPLETED');
      expect((await fetch(worker.metricsUrl!)).status).toBe(401);
      const text = await (
        await fetch(worker.metricsUrl!, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
      ).text();
      expect(sample(text, 'switchboard_worker_jobs_total', { capability: 'solo.job', outcome: 'succeeded' })).toBe(1);
      expect(sample(text, 'switchboard_worker_job_duration_seconds_count', { capability: 'solo.job' })).toBe(1);
      expect(sample(text, 'switchboard_worker_concurrency')).toBe(h.hub.config.WORKER_CONCURRENCY);
      expect(sample(text, 'switchboard_process_resident_memory_bytes')).toBeGreaterThan(0);
    } finally {
      await worker.stop();
    }
  });
});
