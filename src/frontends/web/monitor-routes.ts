// Web monitors over HTTP: create, list, run now, pause, resume, delete; and the public diff page of a change.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { MonitorService, MonitorView } from '../../core/monitors/monitor-service.ts';
import { callerOf } from './auth.ts';
import { parseInput } from './error-handler.ts';

/** Body of POST /api/monitors. */
export const createMonitorBody = z
  .object(
    {
      url: z.string({ error: 'must be a string, the http(s) address of the page' }).min(1, 'is required').max(4000),
      when: z.string({ error: 'must be a string, e.g. "every day at 9:00"' }).min(1, 'is required'),
      selector: z.string({ error: 'must be a CSS selector string, e.g. "#content"' }).max(500).optional(),
      ignore: z
        .array(z.string({ error: 'each ignore pattern is a regular expression string' }).max(200), {
          error: 'must be a list of regular expressions, e.g. ["Updated: .*"]',
        })
        .max(20, 'at most 20 patterns')
        .optional(),
    },
    {
      error: (issue) =>
        issue.code === 'invalid_type'
          ? 'a JSON object like {"url": "https://example.org/page", "when": "every day at 9:00"} is required'
          : undefined,
    },
  )
  .strict();

const idParams = z.object({ id: z.string() });
const listQuery = z.object({ all: z.enum(['true', 'false'], { error: 'must be true or false' }).optional() });

const iso = (d: Date | string | null | undefined): string | null => (d == null ? null : new Date(d).toISOString());

/** A monitor as the API shows it. */
export function serializeMonitor({ monitor: m, schedule: s }: MonitorView) {
  return {
    id: m.id,
    shortId: m.id.slice(0, 8),
    userId: m.user_id,
    url: m.url,
    selector: m.selector,
    ignore: m.ignore,
    status: s.status,
    when: s.when_text,
    description: s.description,
    timezone: s.timezone,
    scheduleId: s.id,
    nextRunAt: iso(s.next_run_at),
    lastCheckedAt: iso(m.last_checked_at),
    lastChangedAt: iso(m.last_changed_at),
    checks: m.checks,
    changes: m.changes,
    pausedReason: s.paused_reason,
    createdAt: iso(m.created_at),
  };
}

/**
 * Registers the monitor routes: the API under `api` (an authenticated scope), and GET /monitor-diffs/:id on
 * `server` (no token: the random id in the link sent to the owner is the key).
 */
export function registerMonitorRoutes(server: FastifyInstance, api: FastifyInstance, monitors: MonitorService): void {
  api.post('/api/monitors', async (request, reply) => {
    const caller = callerOf(request);
    const body = parseInput(createMonitorBody, request.body, 'request body');
    const origin = { platform: 'web', conversationId: caller.userId, userId: caller.userId };
    const view = await monitors.create({ origin, ...body });
    return reply.code(201).send({ monitor: serializeMonitor(view), firstRunTaskId: view.firstRunTaskId ?? null });
  });

  api.get('/api/monitors', async (request) => {
    const q = parseInput(listQuery, request.query, 'query');
    const list = await monitors.list({ ...callerOf(request), all: q.all === 'true' });
    return { monitors: list.map(serializeMonitor) };
  });

  api.get('/api/monitors/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'monitor id');
    return { monitor: serializeMonitor(await monitors.find(id, callerOf(request))) };
  });

  api.post('/api/monitors/:id/run', async (request, reply) => {
    const { id } = parseInput(idParams, request.params, 'monitor id');
    return reply.code(202).send(await monitors.runNow(id, callerOf(request)));
  });

  for (const action of ['pause', 'resume'] as const) {
    api.post(`/api/monitors/:id/${action}`, async (request) => {
      const { id } = parseInput(idParams, request.params, 'monitor id');
      return { monitor: serializeMonitor(await monitors.control(action, id, callerOf(request))) };
    });
  }

  api.delete('/api/monitors/:id', async (request) => {
    const { id } = parseInput(idParams, request.params, 'monitor id');
    return { monitor: serializeMonitor(await monitors.control('delete', id, callerOf(request))) };
  });

  server.get('/monitor-diffs/:id', async (request, reply) => {
    const { id } = parseInput(idParams, request.params, 'change id');
    const { url, diff, checkedAt } = await monitors.diffOf(id);
    return reply
      .type('text/plain; charset=utf-8')
      .header('x-content-type-options', 'nosniff')
      .send(`Changes on ${url} found ${checkedAt.toISOString()}\n\n${diff}`);
  });
}
