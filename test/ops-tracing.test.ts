// Tracing: with OTEL_EXPORTER_OTLP_ENDPOINT pointed at a local fake OTLP receiver, each task is one trace from
// the inbound request through planning, every BullMQ job (hub and worker side) and the notification.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHarness, type Harness } from './helpers/hub-harness.ts';
import { OtlpFake } from './fakes/otlp-fake.ts';

const ALICE = 'alice-token-1';
let h: Harness;
let fake: OtlpFake;

beforeAll(async () => {
  fake = new OtlpFake();
  await fake.start();
  h = await createHarness({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: fake.url } });
});

afterAll(async () => {
  await h?.close();
  await fake?.stop();
});

describe('tracing', () => {
  it('exports one trace per task', async () => {
    const ids: string[] = [];
    for (const text of ['echo first', 'echo second']) {
      const res = await fetch(`${h.hub.web.url()}/api/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ALICE}`, 'content-type': 'application/json' },
        body: JSON.stringify({ text }),
      });
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as any).task.id);
    }
    for (const id of ids) await h.waitForEvent((e) => e.taskId === id && e.type === 'delivered');
    await vi.waitFor(async () => {
      await h.hub.ops.tracing!.flush();
      expect(fake.spans.filter((s) => s.name === 'task')).toHaveLength(2);
    });
    // The final delivery's span ends just after the `delivered` event.
    await vi.waitFor(async () => {
      await h.hub.ops.tracing!.flush();
      expect(fake.spans.filter((s) => s.name === 'deliver final')).toHaveLength(2);
    });
    expect(fake.rejected).toEqual([]);
    const traces = fake.traces();
    for (const id of ids) {
      const subtask = await h.hub.ctx.db
        .selectFrom('subtasks')
        .select('id')
        .where('task_id', '=', id)
        .executeTakeFirstOrThrow();
      const holding = [...traces].filter(([, spans]) =>
        spans.some(
          (s) =>
            s.attributes['switchboard.task_id'] === id ||
            String(s.attributes['bullmq.job.id'] ?? '').includes(subtask.id) ||
            String(s.attributes['bullmq.job.id'] ?? '').includes(id),
        ),
      );
      // One trace holds everything of the task.
      expect(holding).toHaveLength(1);
      const spans = holding[0]![1];
      const byName = (name: string, jobId?: RegExp) =>
        spans.filter((s) => s.name === name && (!jobId || jobId.test(String(s.attributes['bullmq.job.id']))));
      const [root] = spans.filter((s) => !s.parentSpanId);
      expect(root).toMatchObject({
        name: 'POST /api/tasks',
        service: 'switchboard',
        attributes: { 'http.response.status_code': 202 },
      });
      const [task] = byName('task');
      expect(task).toMatchObject({
        parentSpanId: root!.spanId,
        attributes: { 'switchboard.task_id': id, 'switchboard.status': 'COMPLETED' },
      });
      expect(byName('plan')).toHaveLength(1);
      expect(byName('add cap-demo.echo.demo.echo')).toHaveLength(1);
      expect(byName('process cap-demo.echo', new RegExp(`^${subtask.id}$`))).toHaveLength(1);
      expect(byName('apply result')).toHaveLength(1);
      // The hub delivers the acknowledgement and the result itself (no notify job when the first attempt works).
      expect(byName('deliver ack')).toHaveLength(1);
      expect(byName('deliver final')).toHaveLength(1);
      expect(byName('process notify')).toHaveLength(0);
      // Every span hangs off another span of the same trace.
      const known = new Set(spans.map((s) => s.spanId));
      for (const s of spans) if (s !== root) expect(known.has(s.parentSpanId!)).toBe(true);
      // The task span lasts from the request until its result was delivered.
      expect(task!.endNs).toBeGreaterThanOrEqual(byName('deliver final')[0]!.startNs);
    }
  });
});
